"""HTTP layer: Voice ID's JSON 1.0 protocol on `POST /`, and the admin API under `/_voiceid/admin/`
(the server itself is shared with the Bedrock emulator: `emulator_core.http`)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator_core.http import AdminError, EmulatorHTTPServer, EmulatorRequestHandler
from voiceid_emulator import model
from voiceid_emulator.errors import VoiceIdError, internal_error, throttled, validation_error
from voiceid_emulator.service import operation_error

if TYPE_CHECKING:
    from voiceid_emulator.emulator import VoiceIdEmulator

LOG = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "VoiceID."
ADMIN_PREFIX = "/_voiceid/admin/"

__all__ = ["ADMIN_PREFIX", "AdminError", "VoiceIdHTTPServer", "dispatch"]


class VoiceIdHTTPServer(EmulatorHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: VoiceIdEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, VoiceIdRequestHandler, emulator.admin)


class VoiceIdRequestHandler(EmulatorRequestHandler):
    server: VoiceIdHTTPServer
    admin_prefix = ADMIN_PREFIX

    def do_GET(self) -> None:
        body = self._body()
        if self._is_admin():
            self._admin("GET", body)
            return
        self._send(404, {"message": "Not found; Voice ID requests are POST / with X-Amz-Target"})

    def do_POST(self) -> None:
        body = self._body()
        if self._is_admin():
            self._admin("POST", body)
            return
        if self.path.split("?", 1)[0] != "/":
            self._send(404, {"message": f"No such path {self.path}"})
            return
        self._send_api(body)

    def _send_api(self, body: bytes) -> None:
        target = self.headers.get("X-Amz-Target", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        try:
            status, response = 200, self.server.emulator.dispatch(operation, body)
        except VoiceIdError as error:
            status, response = error.status, error.body()
        self._send(status, response, CONTENT_TYPE)


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
