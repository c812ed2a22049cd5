"""HTTP layer: S3 Control's REST-XML job operations, and the admin API under `/_s3batch/admin/` (the server is
the one the emulators share: `emulator_core.http`)."""

from __future__ import annotations

import base64
import logging
import os
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from emulator_core import model, restxml
from emulator_core.http import EmulatorHTTPServer, EmulatorRequestHandler, origin_form
from s3batch_emulator import protocol
from s3batch_emulator.errors import S3BatchError, internal_error, too_many_requests, validation_error_for

if TYPE_CHECKING:
    from s3batch_emulator.emulator import S3BatchEmulator

LOG = logging.getLogger(__name__)

ADMIN_PREFIX = "/_s3batch/admin/"


class S3BatchHTTPServer(EmulatorHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: S3BatchEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, S3BatchRequestHandler, emulator.admin)


class S3BatchRequestHandler(EmulatorRequestHandler):
    server: S3BatchHTTPServer
    admin_prefix = ADMIN_PREFIX

    def _handle(self) -> None:
        self.path = origin_form(self.path)  # a proxied SDK sends the absolute URL
        body = self._body()
        if self._is_admin():
            self._admin(self.command, body)
            return
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        request_id = uuid.uuid4().hex[:16].upper()
        try:
            payload = self.server.emulator.dispatch(
                self.command, split.path, query, headers=dict(self.headers.items()), body=body
            )
            status, content_type = 200, "application/xml"
        except S3BatchError as error:
            status, content_type = error.status, "application/xml"
            payload = restxml.error_document(error.code, error.message, request_id)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amz-request-id", request_id)
        self.send_header("x-amz-id-2", base64.b64encode(os.urandom(48)).decode())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


def dispatch(
    emulator: S3BatchEmulator,
    method: str,
    path: str,
    query: dict[str, list[str]],
    *,
    headers: dict[str, str],
    body: bytes,
) -> bytes:
    """One API call through the fault layer, routing, input validation, the handler and output validation."""
    faults = emulator.faults
    if faults.latency_seconds > 0:
        time.sleep(faults.latency_seconds)
    operation, path_params = protocol.match(method, path)
    if faults.should_throttle():
        raise too_many_requests()
    if faults.take_internal_error(operation.name):
        raise internal_error("Injected InternalServiceException (S3 Batch Operations emulator fault injection)")
    params = protocol.parse_request(operation, path_params, query, headers, body)
    host = next((value for name, value in headers.items() if name.lower() == "host"), "")
    protocol.check_host_prefix(host, params.get("AccountId"))
    errors = model.request_errors(operation, params)
    if errors:
        raise validation_error_for(operation.name, model.format_validation_message(errors))
    try:
        response: dict[str, Any] = emulator.service.handle(operation.name, params)
    except S3BatchError:
        raise
    except Exception as exc:
        LOG.exception("Unhandled error in %s", operation.name)
        raise internal_error() from exc
    problems = model.response_errors(operation, response)
    if problems:
        LOG.error("Response of %s does not match the model: %s", operation.name, problems)
        raise internal_error(f"Emulator produced an invalid {operation.name} response: {'; '.join(problems)}")
    return protocol.response_body(operation, response)


__all__ = ["ADMIN_PREFIX", "S3BatchHTTPServer", "dispatch"]
