"""HTTP layer: Voice ID's JSON 1.0 protocol on `POST /`, and the admin API under `/_voiceid/admin/`."""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from voiceid_emulator import model
from voiceid_emulator.errors import VoiceIdError, internal_error, throttled, validation_error
from voiceid_emulator.service import operation_error

if TYPE_CHECKING:
    from voiceid_emulator.emulator import VoiceIdEmulator

LOG = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "VoiceID."
ADMIN_PREFIX = "/_voiceid/admin/"


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class VoiceIdHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: VoiceIdEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, VoiceIdRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, BrokenPipeError | ConnectionResetError):
            # A client that timed out (e.g. under injected latency) is normal, not a server fault.
            LOG.debug("Client %s went away before the response was sent", client_address)
            return
        LOG.exception("Error while serving %s", client_address)


class VoiceIdRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SDK connection pools expect
    server: VoiceIdHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms per call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s - %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: dict[str, Any] | list[Any], content_type: str = CONTENT_TYPE) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", _request_id())
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        body = self._body()
        if self.path.startswith(ADMIN_PREFIX):
            self._admin("GET", body)
            return
        self._send(404, {"message": "Not found; Voice ID requests are POST / with X-Amz-Target"}, "application/json")

    def do_POST(self) -> None:
        body = self._body()
        if self.path.startswith(ADMIN_PREFIX):
            self._admin("POST", body)
            return
        if self.path.split("?", 1)[0] != "/":
            self._send(404, {"message": f"No such path {self.path}"}, "application/json")
            return
        self._send_api(body)

    def _send_api(self, body: bytes) -> None:
        target = self.headers.get("X-Amz-Target", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        try:
            status, response = 200, self.server.emulator.dispatch(operation, body)
        except VoiceIdError as error:
            status, response = error.status, error.body()
        self._send(status, response)

    def _admin(self, method: str, body: bytes) -> None:
        try:
            payload: Any = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise AdminError(400, "The admin request body must be a JSON object")
            result = self.server.emulator.admin.handle_http(method, self.path[len(ADMIN_PREFIX) :], payload)
            self._send(200, result, "application/json")
        except AdminError as error:
            self._send(error.status, {"message": str(error)}, "application/json")
        except (ValueError, TypeError, KeyError) as error:
            self._send(400, {"message": f"Bad admin request: {error}"}, "application/json")


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())


def dispatch(
    operation: str,
    body: bytes,
    *,
    handle: Callable[[str, dict[str, Any]], dict[str, Any]],
    supported: tuple[str, ...],
    should_throttle: Callable[[], bool],
    take_internal_error: Callable[[str], bool],
    latency: Callable[[], float],
) -> dict[str, Any]:
    """Run one API call through the fault layer, input validation, the handler and output validation."""
    delay = latency()
    if delay > 0:
        time.sleep(delay)
    operation_model = model.operation_model(operation) if operation else None
    if operation_model is None:
        raise VoiceIdError(
            "UnknownOperationException",
            f"Unknown operation {operation or '(missing X-Amz-Target)'}",
            status=400,
        )
    if should_throttle():
        raise throttled()
    if take_internal_error(operation):
        raise internal_error("Injected InternalServerException (Voice ID emulator fault injection)")
    if operation not in supported:
        raise operation_error(operation)
    try:
        params = json.loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise VoiceIdError("SerializationException", f"Request body is not valid JSON: {exc}", status=400) from exc
    if not isinstance(params, dict):
        raise VoiceIdError("SerializationException", "Request body must be a JSON object", status=400)
    errors = model.request_errors(operation_model, params)
    if errors:
        raise validation_error(model.format_validation_message(errors))
    try:
        response = handle(operation, params)
    except VoiceIdError:
        raise
    except Exception as exc:
        LOG.exception("Unhandled error in %s", operation)
        raise internal_error() from exc
    problems = model.response_errors(operation_model, response)
    if problems:
        # A response that breaks the model is an emulator bug; surfacing it loudly keeps the tests honest.
        LOG.error("Response of %s does not match the model: %s", operation, problems)
        raise internal_error(f"Emulator produced an invalid {operation} response: {'; '.join(problems)}")
    return response
