"""Small helpers shared by the modules that run child processes and servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable

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
