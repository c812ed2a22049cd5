"""The code that runs INSIDE a Lambda sandbox worker process.

Started as ``python -I -S -B -u worker_main.py <protocol-fd> <parent-pid> <asset-dir> <runtime-dir> <handler>
[<layer-dir>...]``. It first asks Linux to kill it when the local cloud's process (``<parent-pid>``) dies, so
that no sandbox outlives the local cloud, even one busy in an invocation (docs/local-cloud.md, "Processes").

``-I -S`` leave only the standard library on ``sys.path``; this script then puts, in front and in this
order, the asset directory (``/var/task``), each layer's ``python/`` folder (``/opt/python``; the layer
dirs come last-layer-first, as a later layer's files win in ``/opt``) and the runtime-packages directory
(boto3 & co, what AWS's Python runtime provides). Nothing else from the developer's venv is importable, so
a module missing from the asset and its layers fails here as it would in AWS. This file must therefore
import only the standard library.

Protocol: the parent writes one JSON request per line on stdin; the worker writes one JSON message per
line on ``<protocol-fd>``: first ``{"type": "ready", "initError": null | {...}}`` after importing the
handler (Lambda's init phase), then one ``{"type": "result", "ok": bool, "payload": "<json text>"}`` per
request. stdout/stderr belong to the function (its logs).
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO

Handler = Callable[[Any, Any], Any]
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class FaultError(Exception):
    """An init failure that AWS's runtime reports with a ``Runtime.*`` error type."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


class LambdaContext:
    """The ``context`` argument; attribute names and types follow awslambdaric's LambdaContext."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id: str = request["requestId"]
        self.invoked_function_arn: str = request["invokedFunctionArn"]
        self.function_name: str = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version: str = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # awslambdaric passes the environment variable through: a string, not an int.
        self.memory_limit_in_mb: str = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name: str = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name: str = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms: int = request["deadlineMs"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def load_handler(handler: str) -> Handler:
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as error:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {error}") from None
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise FaultError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}") from None
    except SyntaxError as error:
        stack = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}", stack
        ) from None
    function = getattr(module, function_name, None)
    if function is None:
        raise FaultError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    result: Handler = function
    return result


def error_payload(error: BaseException, request_id: str) -> dict[str, Any]:
    if isinstance(error, FaultError):
        return {
            "errorMessage": error.message,
            "errorType": error.error_type,
            "requestId": request_id,
            "stackTrace": error.stack,
        }
    frames = traceback.extract_tb(error.__traceback__)
    # Like AWS's runtime, start the trace at the first frame outside the runtime's own code.
    while frames and frames[0].filename == __file__:
        frames.pop(0)
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _json_default(value: Any) -> Any:
    # The Python runtime's marshaller turns Decimal (what boto3's DynamoDB resource returns) into numbers.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def run_request(handler: Handler, request: dict[str, Any]) -> dict[str, Any]:
    request_id: str = request["requestId"]
    try:
        event = json.loads(request["payload"])
        result = handler(event, LambdaContext(request))
    except Exception as error:
        failure = error_payload(error, request_id)
        trace = "".join(failure["stackTrace"])
        print(f"[ERROR] {failure['errorType']}: {failure['errorMessage']}\nTraceback:\n{trace}", file=sys.stderr)
        return {"type": "result", "ok": False, "payload": json.dumps(failure)}
    try:
        payload = json.dumps(result, default=_json_default)
    except (TypeError, ValueError) as error:
        fault = FaultError("Runtime.MarshalError", f"Unable to marshal response: {error}")
        return {"type": "result", "ok": False, "payload": json.dumps(error_payload(fault, request_id))}
    return {"type": "result", "ok": True, "payload": payload}


def send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL from the kernel when the parent dies (PR_SET_PDEATHSIG), or exit now if it already has. The
    runtime starts every sandbox from one thread that lives as long as its process (the signal follows the
    thread that forked), and leaves this request to the worker so that the start stays a vfork."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def main() -> None:
    protocol_fd, parent_pid, asset_dir, runtime_dir, handler_name, *layer_dirs = sys.argv[1:]
    die_with_parent(int(parent_pid))
    # Stdlib entries stay (they come from the interpreter itself, as in AWS); the venv is not there (-S).
    sys.path[:0] = [asset_dir, *layer_dirs, runtime_dir]
    channel = os.fdopen(int(protocol_fd), "w", encoding="utf-8")
    try:
        handler = load_handler(handler_name)
    except Exception as error:
        print(f"[ERROR] init failed: {type(error).__name__}: {error}", file=sys.stderr)
        send(channel, {"type": "ready", "initError": error_payload(error, "")})
        return
    send(channel, {"type": "ready", "initError": None})
    for line in sys.stdin:
        if line.strip():
            send(channel, run_request(handler, json.loads(line)))


if __name__ == "__main__":
    main()
