"""Small helpers shared by the modules that run child processes and servers.

Every child process of the local cloud (DynamoDB Local, moto server, the Lambda sandboxes) is started by
:func:`start_child`, so that it dies with the process that runs the local cloud however that ends: a clean
stop, an exception, Ctrl-C, or ``kill -9`` (docs/local-cloud.md, "Processes").
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

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


def stop_all(steps: Iterable[Callable[[], object]]) -> None:
    """Run every stop step, in order, even when one raises (then raise the first error once all have run):
    a step that fails must not leave the engines after it running."""
    first_error: BaseException | None = None
    for step in steps:
        try:
            step()
        except BaseException as error:  # Ctrl-C during a stop still stops the rest
            first_error = first_error or error
    if first_error is not None:
        raise first_error


# -- children that die with this process -----------------------------------------------------------------------
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _linux_prctl() -> Any:
    """libc's prctl on Linux, else None (elsewhere children outlive a killed parent; docs/local-cloud.md)."""
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True).prctl


class _ChildStarter:
    """Starts child processes from one thread that lives as long as this process, each child asking the kernel
    for SIGKILL when its parent goes (``PR_SET_PDEATHSIG``).

    Why one thread: the kernel sends that signal when the *thread* that forked the child exits, not the
    process. A child started from a gateway request thread (a Lambda sandbox), a scheduler fire or a thread
    pool would be killed as soon as that thread ends. This thread is started on first use and never ends, so
    the signal comes only when the whole process does, whatever kills it.
    """

    def __init__(self) -> None:
        self._prctl = _linux_prctl()
        self._requests: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[Any]]]
        self._requests = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._owner_pid = 0  # the process the thread runs in (a forked copy of this process has none)

    def popen(self, argv: list[str], *, sets_own_death_signal: bool, **options: Any) -> subprocess.Popen[bytes]:
        if self._prctl is None:
            return subprocess.Popen(argv, **options)
        parent_pid = os.getpid()
        result: Future[subprocess.Popen[bytes]] = Future()
        in_the_child = None if sets_own_death_signal else self._die_with(parent_pid)

        def start() -> subprocess.Popen[bytes]:
            # PLW1509: preexec_fn is unsafe with threads when it takes locks; this one makes three syscalls.
            return subprocess.Popen(argv, preexec_fn=in_the_child, **options)  # noqa: PLW1509

        with self._lock:
            if self._owner_pid != parent_pid:
                threading.Thread(target=self._serve, name="local-cloud-child-starter", daemon=True).start()
                self._owner_pid = parent_pid
        self._requests.put((start, result))
        return result.result()

    def _serve(self) -> None:
        while True:
            start, result = self._requests.get()
            try:
                result.set_result(start())
            except BaseException as error:
                result.set_exception(error)

    def _die_with(self, parent_pid: int) -> Callable[[], None]:
        prctl, kill = self._prctl, int(signal.SIGKILL)

        def in_the_child() -> None:  # runs between fork and exec: these calls only, no locks taken
            if prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
            if os.getppid() != parent_pid:  # the parent died before the request took effect
                os.kill(os.getpid(), signal.SIGKILL)

        return in_the_child


_CHILD_STARTER = _ChildStarter()


def start_child(argv: list[str], *, sets_own_death_signal: bool = False, **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **options)`` for a child that dies with this process (SIGKILL from the kernel
    on Linux), whichever thread calls it. Pass ``start_new_session=True`` as well so that `stop_process_group`
    also reaches what the child spawns.

    The request is made between fork and exec, which makes Python fork this whole process instead of using
    vfork: tens of milliseconds for a large local cloud, paid once per engine. A child started often (a Lambda
    sandbox) makes it itself first thing instead (``sets_own_death_signal``): `prctl(PR_SET_PDEATHSIG,
    SIGKILL)`, then exit if its parent is no longer the pid it was given (the parent died before that)."""
    return _CHILD_STARTER.popen(argv, sets_own_death_signal=sets_own_death_signal, **options)


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
                # Own process group, so stop() also reaches anything the server spawns; dies with this process.
                process = start_child(
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
