"""HTTP layer: Bedrock's REST-JSON protocol (batch inference and the runtime), and the admin API under
`/_bedrock/admin/` (the server is the one the emulators share: `emulator_core.http`)."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bedrock_emulator import protocol
from bedrock_emulator.errors import BedrockError, access_denied, internal_error, throttled, validation_error
from emulator_core import model
from emulator_core.http import EmulatorHTTPServer, EmulatorRequestHandler

if TYPE_CHECKING:
    from bedrock_emulator.emulator import BedrockEmulator

LOG = logging.getLogger(__name__)

ADMIN_PREFIX = "/_bedrock/admin/"


class BedrockHTTPServer(EmulatorHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: BedrockEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, BedrockRequestHandler, emulator.admin)


class BedrockRequestHandler(EmulatorRequestHandler):
    server: BedrockHTTPServer
    admin_prefix = ADMIN_PREFIX

    def _handle(self) -> None:
        body = self._body()
        if self._is_admin():
            self._admin(self.command, body)
            return
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        try:
            reply = self.server.emulator.dispatch(self.command, split.path, query, body, dict(self.headers.items()))
            status = 200
        except BedrockError as error:
            status = error.status
            reply = protocol.Reply(
                json.dumps(error.body()).encode(), {"Content-Type": "application/json", **error.headers()}
            )
        self._send_bytes(status, reply.body, headers=reply.headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


def dispatch(
    emulator: BedrockEmulator,
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: bytes,
    *,
    headers: Mapping[str, str],
) -> protocol.Reply:
    """One API call through the fault layer, routing, input validation, the handler and output validation."""
    faults = emulator.faults
    if faults.latency_seconds > 0:
        time.sleep(faults.latency_seconds)
    operation, path_params = protocol.match(method, path)
    if faults.should_throttle():
        raise throttled()
    if faults.operation_denied(operation.name):
        raise access_denied(
            f"User is not authorized to perform: bedrock:{protocol.iam_action(operation.name)} "
            "(denied through the Bedrock emulator's admin API)"
        )
    if faults.take_internal_error(operation.name):
        raise internal_error("Injected InternalServerException (Bedrock emulator fault injection)")
    params = protocol.parse_request(operation, path_params, query, body, headers)
    errors = model.request_errors(operation, params)
    if errors:
        raise validation_error(model.format_validation_message(errors))
    service = emulator.runtime if operation.name in protocol.RUNTIME_OPERATIONS else emulator.service
    try:
        response = service.handle(operation.name, params)
    except BedrockError:
        raise
    except Exception as exc:
        LOG.exception("Unhandled error in %s", operation.name)
        raise internal_error() from exc
    problems = model.response_errors(operation, response)
    if problems:
        # A response that breaks the model is an emulator bug; surfacing it loudly keeps the tests honest.
        LOG.error("Response of %s does not match the model: %s", operation.name, problems)
        raise internal_error(f"Emulator produced an invalid {operation.name} response: {'; '.join(problems)}")
    return protocol.serialize_response(operation, response)


__all__ = ["ADMIN_PREFIX", "BedrockHTTPServer", "dispatch"]
