"""The HTTP server both emulators run: threaded, keep-alive, loopback only, with a JSON admin API on a path prefix.

Each emulator subclasses the request handler for its own wire protocol (Voice ID: JSON 1.0 on `POST /`;
Bedrock: REST-JSON) and mounts its admin API under its own prefix (`/_voiceid/admin/`, `/_bedrock/admin/`).
The admin API answers JSON: the handler's result with 200, or `{"message": ...}` with the status an
`AdminError` names (400 for a bad value).
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

LOG = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def origin_form(target: str) -> str:
    """The path and query of a request line, also when a client using the server as its HTTP proxy sent the
    absolute URL (`GET http://123456789012.localhost:<port>/v20180820/jobs HTTP/1.1`: the SDKs put the account id
    in S3 Control's host, a name that need not resolve)."""
    if not target.startswith(("http://", "https://")):
        return target
    split = urllib.parse.urlsplit(target)
    return split.path + (f"?{split.query}" if split.query else "")


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminApi(Protocol):
    def handle_http(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]: ...


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], admin: AdminApi) -> None:
        if address[0] not in LOOPBACK_HOSTS:
            raise ValueError("the emulators only bind to the loopback interface")
        self.admin = admin
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, BrokenPipeError | ConnectionResetError):
            # A client that timed out (e.g. under injected latency) is normal, not a server fault.
            LOG.debug("Client %s went away before the response was sent", client_address)
            return
        LOG.exception("Error while serving %s", client_address)


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SDK connection pools expect
    server: EmulatorHTTPServer
    admin_prefix = "/_admin/"  # each emulator names its own

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms per call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s - %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        status: int,
        body: dict[str, Any] | list[Any],
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send_bytes(status, json.dumps(body).encode(), headers={"Content-Type": content_type, **(headers or {})})

    def _send_bytes(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        """A response whose body is already serialized; `headers` should name its Content-Type."""
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _is_admin(self) -> bool:
        return self.path.startswith(self.admin_prefix)

    def _admin(self, method: str, body: bytes) -> None:
        try:
            payload: Any = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise AdminError(400, "The admin request body must be a JSON object")
            result = self.server.admin.handle_http(method, self.path[len(self.admin_prefix) :], payload)
            self._send(200, result)
        except AdminError as error:
            self._send(error.status, {"message": str(error)})
        except (ValueError, TypeError, KeyError) as error:
            self._send(400, {"message": f"Bad admin request: {error}"})
