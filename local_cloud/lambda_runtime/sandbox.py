"""One Lambda sandbox: a long-lived worker process running one function's code.

Warm invocations reuse the process, so module-level state survives between them as in AWS. A timeout,
crash or init failure retires the sandbox; the runtime starts a fresh one for the next invocation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_cloud._process import start_child, stop_process_group
from local_cloud.lambda_runtime.config import LambdaFunctionConfig

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker_main.py"
INIT_TIMEOUT_SECONDS = 10.0  # AWS's limit for the init phase, separate from the function timeout

LogSink = Callable[[str, str], None]  # (function name, one line the function wrote)

_log = logging.getLogger("local_cloud.lambda")


def log_to_logging(function_name: str, line: str) -> None:
    """Default log sink: one logging record per line, prefixed with the function name."""
    _log.info("[%s] %s", function_name, line)


class LogFileSink:
    """Log sink that appends ``[function] line`` to a file and also passes the line on to ``forward``."""

    def __init__(self, path: Path, forward: LogSink = log_to_logging) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._forward = forward
        self._lock = threading.Lock()

    def __call__(self, function_name: str, line: str) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"[{function_name}] {line}\n")
        self._forward(function_name, line)


@dataclass(frozen=True)
class SandboxOutcome:
    """Result of one invocation: the response payload (JSON text) and whether it is an error payload."""

    payload: bytes
    is_error: bool


class SandboxFailedError(RuntimeError):
    """The worker died or timed out; ``payload`` is the Lambda error payload to return."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage", "sandbox failed"))
        self.payload = payload


class Sandbox:
    """A worker process for ``config``; not thread-safe (the runtime gives it to one caller at a time)."""

    def __init__(
        self,
        config: LambdaFunctionConfig,
        *,
        runtime_packages_dir: Path,
        environment: dict[str, str],
        log_sink: LogSink = log_to_logging,
    ) -> None:
        self.config = config
        self._buffer = b""
        self.healthy = True
        read_fd, write_fd = os.pipe()
        self._protocol_fd = read_fd
        # Started from whichever thread invokes first (a gateway request); it dies with the local cloud all the same.
        self._process = start_child(
            [
                sys.executable,
                "-I",  # ignore PYTHON* variables and the user site; script dir not on sys.path
                "-S",  # no site-packages: only the stdlib, then what worker_main adds
                "-B",  # never write __pycache__ into the asset directory
                "-u",  # unbuffered, so log lines reach the console as they are printed
                str(WORKER_SCRIPT),
                str(write_fd),
                str(os.getpid()),  # the worker dies with this process (it asks the kernel itself, see below)
                str(config.code_dir),
                str(runtime_packages_dir),
                config.handler,
                *(str(path) for path in config.layer_python_dirs),
            ],
            cwd=config.code_dir,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            start_new_session=True,  # so a timeout kill also reaches processes the handler spawned
            sets_own_death_signal=True,  # worker_main does, so starting a sandbox stays a cheap vfork
        )
        os.close(write_fd)
        self._log_relay = threading.Thread(
            target=self._relay_logs, args=(log_sink,), name=f"lambda-log-{config.name}", daemon=True
        )
        self._log_relay.start()
        self._init_error: dict[str, Any] | None = None
        self._initialised = False

    def _relay_logs(self, log_sink: LogSink) -> None:
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            log_sink(self.config.name, raw.decode("utf-8", errors="replace").rstrip("\n"))

    def _read_message(self, deadline: float) -> dict[str, Any] | None:
        """Next protocol message, or None if the deadline passes or the worker exits first."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._protocol_fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._protocol_fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def _ensure_initialised(self, request_id: str) -> None:
        if self._initialised:
            return
        ready = self._read_message(time.monotonic() + INIT_TIMEOUT_SECONDS)
        self._initialised = True
        if ready is None:
            timed_out = self._process.poll() is None
            failure = self._died_payload(request_id, timed_out_after=INIT_TIMEOUT_SECONDS if timed_out else None)
            self.close()
            raise SandboxFailedError(failure)
        self._init_error = ready.get("initError")

    def invoke(self, request_id: str, payload: bytes) -> SandboxOutcome:
        """Run one invocation; raises :class:`SandboxFailedError` on timeout or crash (sandbox retired)."""
        self._ensure_initialised(request_id)
        if self._init_error is not None:
            # Init failed: AWS reports the init error for the invocation and starts over next time.
            self.close()
            return SandboxOutcome(json.dumps(self._init_error).encode(), is_error=True)
        deadline_wall_ms = int((time.time() + self.config.timeout_seconds) * 1000)
        request = {
            "requestId": request_id,
            "payload": payload.decode("utf-8"),
            "deadlineMs": deadline_wall_ms,
            "invokedFunctionArn": self.config.arn,
        }
        assert self._process.stdin is not None
        try:
            self._process.stdin.write((json.dumps(request) + "\n").encode())
            self._process.stdin.flush()
        except BrokenPipeError:
            failure = self._died_payload(request_id)
            self.close()
            raise SandboxFailedError(failure) from None
        message = self._read_message(time.monotonic() + self.config.timeout_seconds)
        if message is None:
            timed_out = self._process.poll() is None
            failure = self._died_payload(request_id, timed_out_after=self.config.timeout_seconds if timed_out else None)
            self.close()
            raise SandboxFailedError(failure)
        return SandboxOutcome(str(message["payload"]).encode(), is_error=not message["ok"])

    def _died_payload(self, request_id: str, *, timed_out_after: float | None = None) -> dict[str, Any]:
        if timed_out_after is not None:
            return {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timed_out_after:.2f} seconds",
            }
        return {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
            f"exit status {self._process.poll()}",
        }

    def close(self) -> None:
        """Kill the worker (and its process group); the sandbox is never used again."""
        self.healthy = False
        stop_process_group(self._process, grace=1.0)
        with contextlib.suppress(OSError):
            os.close(self._protocol_fd)
        self._protocol_fd = -1
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
