"""Small helpers shared by the modules that run child processes and servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

LOCALHOST = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port that was free a moment ago on 127.0.0.1.

    Only for servers that cannot bind port 0 themselves (Java, moto's CLI); callers retry on a lost race.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check`` until it returns True or ``timeout`` seconds pass; exceptions count as 'not yet'."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_process_group(process: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
    """Terminate a child started with ``start_new_session=True`` and everything it spawned.

    SIGTERM first so servers can shut down cleanly, SIGKILL after ``grace`` seconds.
    """
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


def tail(path: os.PathLike[str] | str, *, max_bytes: int = 4000) -> str:
    """Last bytes of a log file, for error messages when a child process dies on start."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def wait_for_start(process: subprocess.Popen[bytes], answers: Callable[[], bool], *, timeout: float) -> bool:
    """Wait until a freshly started server ``answers``; False if it exits or the timeout passes first."""
    wait_until(lambda: process.poll() is not None or answers(), timeout=timeout)
    return process.poll() is None and wait_until(answers, timeout=0)


# A port picked by free_port() can be taken by someone else before the child binds it.
START_ATTEMPTS = 3


@dataclass(frozen=True)
class ChildCommand:
    argv: list[str]
    cwd: Path | None = None
    env: Mapping[str, str] | None = None


class ServerProcess:
    """A local server run as a child process on a free port of 127.0.0.1, in its own process group.

    Subclasses say how to start it (`_command`), how to tell it answers (`_answers`) and, optionally, what
    to do once it does (`_after_start`). Use as a context manager, or call `start` / `stop`.
    """

    name = "server"
    error: type[Exception] = RuntimeError

    def __init__(self, *, log_path: Path | None = None, startup_timeout: float = 60.0) -> None:
        self._log_path = log_path
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise self.error(f"{self.name} is not started")
        return f"http://{LOCALHOST}:{self.port}"

    def _command(self, port: int) -> ChildCommand:
        raise NotImplementedError

    def _answers(self) -> bool:
        raise NotImplementedError

    def _after_start(self) -> None:
        """Hook for configuration that needs the running server."""

    def start(self) -> Self:
        slug = self.name.lower().replace(" ", "-")
        log_path = self._log_path or Path(tempfile.mkdtemp(prefix=f"{slug}-")) / f"{slug}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        for _attempt in range(START_ATTEMPTS):
            port = free_port()
            command = self._command(port)
            with log_path.open("ab") as log:
                # Own process group, so stop() also reaches anything the server spawns.
                process = subprocess.Popen(
                    command.argv,
                    cwd=command.cwd,
                    env=command.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._process, self.port = process, port
            if wait_for_start(process, self._answers, timeout=self._startup_timeout):
                self._after_start()
                return self
            self.stop()
        raise self.error(f"{self.name} did not start; log {log_path}:\n{tail(log_path)}")

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process)
        self._process = None
        self.port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
