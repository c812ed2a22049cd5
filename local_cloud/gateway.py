"""The local cloud's single HTTP endpoint on 127.0.0.1.

Every client - tests, the Lambda functions' boto3 (``AWS_ENDPOINT_URL``) and moto's Step Functions
interpreter (``MOTO_PORT`` is this gateway's port) - sends its AWS calls here. Routing:

* ``POST /2015-03-31/functions/<name|ARN>/invocations`` -> the local Lambda runtime
* ``X-Amz-Target: DynamoDB_20120810.*`` / ``DynamoDBStreams_20120810.*`` -> DynamoDB Local, so that
  DynamoDB tasks of the state machine hit the same engine as everything else
* ``X-Amz-Target: AWSEvents.PutEvents`` -> the local EventBridge router
* ``X-Amz-Target: VoiceID.*`` -> the Voice ID emulator (the functions' ``AWS_ENDPOINT_URL_VOICE_ID`` is this
  gateway, so that their Voice ID calls are authorized like every other call)
* S3 Batch Operations job calls (S3 Control: ``/v20180820/jobs...`` with ``x-amz-account-id``; signed for ``s3``
  like the data plane) -> the S3 Batch Operations emulator (``GatewayBackends.s3control_url``)
* requests signed for a service in ``GatewayBackends.signed_services`` (by the SigV4 signing name, e.g.
  ``bedrock``, whose REST paths carry no X-Amz-Target; bedrock-runtime's InvokeModel and Converse sign as
  ``bedrock`` too and reach the same emulator) -> that service's emulator
* everything else (S3, KMS, Step Functions, STS, other Lambda/Events APIs) -> reverse-proxied to moto

**IAM.** With a :class:`~local_cloud.iam_requests.RequestAuthorizer` and the template's policies loaded, a
call whose access key names a role of the stack is authorized first (``local_cloud/iam.py``): what it needs
(:func:`~local_cloud.iam_requests.requirements`) against that role's policies, and refused with the
service's own AccessDenied when any permission is missing. Calls with any other key are not restricted.

**Proxy requests.** A request line with an absolute URL (``GET http://123456789012.localhost:<port>/... HTTP/1.1``)
is served as if it named the path alone: the SDKs prefix the account id to the S3 Control endpoint's host, a
name that need not resolve, and reach the gateway as their HTTP proxy (``emulator_core.http.origin_form``, which
the S3 Batch Operations emulator's server uses too).

Proxying streams bodies in both directions and keeps end-to-end headers (Content-Length, ETag,
x-amz-*, Authorization, Host) unchanged; neither moto nor DynamoDB Local verifies signatures. A JSON-protocol
body that was read for authorization is forwarded from memory, with its Content-Length.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, BinaryIO, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator_core.http import origin_form
from local_cloud._process import LOCALHOST
from local_cloud.faults import FAULTS_PATH, FaultInjector
from local_cloud.iam_requests import AwsRequest, RequestAuthorizer, ServiceError, is_s3control_job_request
from local_cloud.lambda_runtime import FunctionNotFoundError, InvalidPayloadError, InvokeResult

_log = logging.getLogger("local_cloud.gateway")

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations$")
_DYNAMODB_TARGET_PREFIXES = ("DynamoDB_20120810.", "DynamoDBStreams_20120810.")
_PUT_EVENTS_TARGET = "AWSEvents.PutEvents"
_VOICE_ID_TARGET_PREFIX = "VoiceID."
# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection and are never forwarded. Expect is
# answered by this server (100 Continue) before the body is read.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
_COPY_CHUNK = 64 * 1024
_UPSTREAM_TIMEOUT = 300.0


class LambdaInvoker(Protocol):
    def invoke(self, name_or_arn: str, payload: bytes) -> InvokeResult: ...


class EventsApi(Protocol):
    def put_events(self, request: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class GatewayBackends:
    """Where the gateway sends each kind of call. Lambda, Events and Voice ID may be absent (-> 501).

    ``authorizer`` decides whether a call of the stack's roles may go on (None: every call goes on);
    ``faults`` holds the fault rules (``local_cloud/faults.py``) applied to the calls it lets through.
    """

    moto_url: str
    dynamodb_url: str
    lambda_invoker: LambdaInvoker | None = None
    events: EventsApi | None = None
    voice_id_url: str | None = None
    authorizer: RequestAuthorizer | None = None
    signed_services: dict[str, str] = field(default_factory=dict)
    """SigV4 signing name -> the emulator that serves it (``bedrock``: the Bedrock emulator)."""
    faults: FaultInjector | None = None
    s3control_url: str | None = None
    """The S3 Batch Operations emulator, which serves S3 Control's job operations."""


class Gateway:
    """Threaded HTTP server on 127.0.0.1. Binds at construction so its port can be handed to moto
    (``MOTO_PORT``) before the backends exist; :meth:`start` then takes the backends and serves."""

    def __init__(self, *, port: int = 0) -> None:
        self._backends: GatewayBackends | None = None
        gateway = self

        class Handler(_GatewayHandler):
            def backends(self) -> GatewayBackends:
                if gateway._backends is None:
                    raise RuntimeError("gateway started without backends")
                return gateway._backends

        self._server = ThreadingHTTPServer((LOCALHOST, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def start(self, backends: GatewayBackends) -> Gateway:
        self._backends = backends
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)
        self._thread.start()
        return self

    def route_voice_id(self, endpoint_url: str) -> None:
        """Send ``X-Amz-Target: VoiceID.*`` calls to ``endpoint_url`` (the emulator starts after the gateway)."""
        if self._backends is None:
            raise RuntimeError("start the gateway before routing Voice ID")
        self._backends.voice_id_url = endpoint_url

    def route_s3control(self, endpoint_url: str) -> None:
        """Send S3 Control's job calls (S3 Batch Operations) to ``endpoint_url``."""
        if self._backends is None:
            raise RuntimeError("start the gateway before routing S3 Control to it")
        self._backends.s3control_url = endpoint_url

    def route_signed_service(self, signing_name: str, endpoint_url: str) -> None:
        """Send calls signed for ``signing_name`` (e.g. ``bedrock``) to ``endpoint_url``."""
        if self._backends is None:
            raise RuntimeError("start the gateway before routing a service to it")
        self._backends.signed_services[signing_name] = endpoint_url

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


_SIGNING_SCOPE = re.compile(r"Credential=[^/,\s]+/[^/]+/[^/]+/(?P<service>[^/]+)/aws4_request")


def _signing_name(authorization: str) -> str:
    """The service a SigV4 ``Authorization`` header was signed for ('' when there is none)."""
    match = _SIGNING_SCOPE.search(authorization)
    return match["service"] if match else ""


def _read_chunked(stream: BinaryIO) -> Iterator[bytes]:
    """Decode an HTTP/1.1 chunked body (trailers are read and dropped)."""
    while True:
        size_line = stream.readline()
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass
            return
        yield stream.read(size)
        stream.readline()  # CRLF after each chunk


def _read_exactly(stream: BinaryIO, length: int) -> Iterator[bytes]:
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(_COPY_CHUNK, remaining))
        if not chunk:
            raise ConnectionError("client closed the connection mid-body")
        remaining -= len(chunk)
        yield chunk


class _GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response has Content-Length or chunked framing
    server_version = "local-cloud-gateway"
    # Headers and body leave in separate writes; with Nagle's algorithm on, the body waits for the client's
    # delayed ACK of the headers (40 ms on Linux), on every call every test and Lambda makes.
    disable_nagle_algorithm = True

    def backends(self) -> GatewayBackends:  # replaced per gateway instance
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s - %s", self.address_string(), format % args)

    # -- request body --------------------------------------------------------------------------------
    def _body_chunks(self) -> Iterator[bytes]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(self.rfile)  # type: ignore[arg-type]
        return _read_exactly(self.rfile, int(self.headers.get("Content-Length") or 0))  # type: ignore[arg-type]

    def _read_body(self) -> bytes:
        return b"".join(self._body_chunks())

    # -- dispatch --------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        self.path = origin_form(self.path)
        backends = self.backends()
        target = self.headers.get("X-Amz-Target", "")
        path = urllib.parse.urlsplit(self.path).path
        invoke = _INVOKE_PATH.match(path)
        if backends.faults is not None and (path == FAULTS_PATH or path.startswith(FAULTS_PATH + "/")):
            status, answer = backends.faults.admin(self.command, path, self._read_body())
            if answer is None:
                self._send_empty(status)
            else:
                self._send_json(status, answer)
            return
        try:
            body, refused = self._authorize(backends, target)
            if refused or self._inject_fault(backends, body):
                return
            if invoke and self.command == "POST":
                self._lambda_invoke(backends, urllib.parse.unquote(invoke["function"]))
            elif target.startswith(_DYNAMODB_TARGET_PREFIXES):
                self._proxy(backends.dynamodb_url, body)
            elif target == _PUT_EVENTS_TARGET:
                self._put_events(backends, body)
            elif target.startswith(_VOICE_ID_TARGET_PREFIX):
                self._voice_id(backends, body)
            elif backends.s3control_url and is_s3control_job_request(path, dict(self.headers.items())):
                self._proxy(backends.s3control_url, body)
            elif (signed := _signing_name(self.headers.get("Authorization", ""))) in backends.signed_services:
                self._proxy(backends.signed_services[signed], body)
            else:
                self._proxy(backends.moto_url, body)
        except (ConnectionError, TimeoutError, OSError) as error:
            _log.warning("%s %s failed: %s", self.command, self.path, error)
            self.close_connection = True
            self._send_json(502, {"message": f"local cloud gateway: upstream failed: {error}"})

    # -- IAM -------------------------------------------------------------------------------------------------
    def _authorize(self, backends: GatewayBackends, target: str) -> tuple[bytes | None, bool]:
        """(the body if it had to be read, whether the call was refused and answered already)."""
        authorizer = backends.authorizer
        if authorizer is None:
            return None, False
        request = AwsRequest.create(self.command, self.path, dict(self.headers.items()))
        session = authorizer.session(request)
        if session is None:
            return None, False
        body = None
        # JSON protocols name their resources in the body; STS its action; Bedrock and S3 Control (CreateJob)
        # the role they pass.
        if target or request.service in ("sts", "bedrock") or is_s3control_job_request(request.path, request.headers):
            body = self._read_body()
            request = AwsRequest.create(self.command, self.path, dict(self.headers.items()), body)

        def object_kms_key(bucket: str, key: str, version: str | None) -> str | None:
            return _object_kms_key(backends.moto_url, bucket, key, version)

        denial = authorizer.check(request, session, object_kms_key)
        if denial is None:
            return body, False
        if body is None:
            for _ in self._body_chunks():  # keep the connection usable: the refused request's body is read
                pass
        self._send_service_error(denial)
        return body, True

    # -- faults ------------------------------------------------------------------------------------------------
    def _inject_fault(self, backends: GatewayBackends, body: bytes | None) -> bool:
        """Apply the fault a rule picks for this call (local_cloud/faults.py); True when it was answered."""
        if backends.faults is None:
            return False
        fault = backends.faults.decide(AwsRequest.create(self.command, self.path, dict(self.headers.items())))
        if fault is None:
            return False
        if fault.latency_seconds:
            backends.faults.delay(fault)
        if fault.reset:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if fault.error is None:
            return False
        if body is None:
            for _ in self._body_chunks():  # keep the connection usable: the failed request's body is read
                pass
        self._send_service_error(fault.error)
        return True

    def _send_service_error(self, error: ServiceError) -> None:
        self.send_response(error.status)
        for name, value in error.headers.items():
            self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(error.body)))
        self.end_headers()
        self.wfile.write(error.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch

    # -- responses -------------------------------------------------------------------------------------
    def _send_json(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        amz_json: bool = False,
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1" if amz_json else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _lambda_error(self, status: int, error_type: str, message: str) -> None:
        self._send_json(status, {"Type": "User", "message": message}, {"x-amzn-ErrorType": error_type})

    # -- Lambda ----------------------------------------------------------------------------------------
    def _lambda_invoke(self, backends: GatewayBackends, function: str) -> None:
        payload = self._read_body()
        invoker = backends.lambda_invoker
        if invoker is None:
            self._lambda_error(501, "ServiceException", "local cloud has no Lambda runtime")
            return
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            self._send_empty(204)
            return
        if invocation_type == "Event":
            # Asynchronous invoke: accepted now, run in the background, result only in the logs.
            threading.Thread(
                target=_invoke_and_log,
                args=(invoker, function, payload),
                name=f"async-{function}",
                daemon=True,
            ).start()
            self._send_empty(202)
            return
        try:
            result = invoker.invoke(function, payload)
        except FunctionNotFoundError as error:
            self._lambda_error(404, "ResourceNotFoundException", f"Function not found: {error}")
            return
        except InvalidPayloadError as error:
            self._lambda_error(400, "InvalidRequestContentException", str(error))
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(result.payload)))
        self.send_header("X-Amz-Executed-Version", result.executed_version)
        self.send_header("x-amzn-RequestId", result.request_id)
        if result.function_error:
            self.send_header("X-Amz-Function-Error", result.function_error)
        self.end_headers()
        self.wfile.write(result.payload)

    def _send_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- EventBridge -----------------------------------------------------------------------------------
    def _put_events(self, backends: GatewayBackends, body: bytes | None) -> None:
        body = self._read_body() if body is None else body
        if backends.events is None:
            self._send_json(501, {"__type": "InternalException", "message": "no event router"}, amz_json=True)
            return
        try:
            request = json.loads(body or b"{}")
            response = backends.events.put_events(request)
        except (ValueError, KeyError, TypeError) as error:
            self._send_json(400, {"__type": "ValidationException", "message": str(error)}, amz_json=True)
            return
        self._send_json(200, response, amz_json=True)

    # -- Voice ID --------------------------------------------------------------------------------------------
    def _voice_id(self, backends: GatewayBackends, body: bytes | None) -> None:
        if backends.voice_id_url is None:
            if body is None:
                self._read_body()
            self._send_json(501, {"__type": "InternalServerException", "message": "no Voice ID emulator"})
            return
        self._proxy(backends.voice_id_url, body)

    # -- reverse proxy ---------------------------------------------------------------------------------
    def _proxy(self, upstream_url: str, body: bytes | None = None) -> None:
        """Forward the request; ``body``, when the gateway already read it, is sent from memory."""
        upstream = urllib.parse.urlsplit(upstream_url)
        connection = http.client.HTTPConnection(
            upstream.hostname or LOCALHOST, upstream.port, timeout=_UPSTREAM_TIMEOUT
        )
        try:
            if body is None:
                self._forward_request(connection)
            else:
                self._forward_buffered_request(connection, body)
            response = connection.getresponse()
            self._forward_response(response)
        finally:
            connection.close()

    def _forward_buffered_request(self, connection: http.client.HTTPConnection, body: bytes) -> None:
        connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        connection.send(body)

    def _forward_request(self, connection: http.client.HTTPConnection) -> None:
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        has_body = chunked or "Content-Length" in self.headers
        connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                connection.putheader(name, value)
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        if not has_body:
            return
        for chunk in self._body_chunks():
            if chunked:
                if chunk:
                    connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                connection.send(chunk)
        if chunked:
            connection.send(b"0\r\n\r\n")

    def _forward_response(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        body_expected = self.command != "HEAD" and response.status not in (204, 304) and response.status >= 200
        rechunk = body_expected and length is None
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if rechunk:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not body_expected:
            return
        write: Callable[[bytes], object] = self.wfile.write
        while chunk := response.read(_COPY_CHUNK):
            write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if rechunk else chunk)
        if rechunk:
            write(b"0\r\n\r\n")


_lookup_clients: dict[str, Any] = {}
_lookup_clients_lock = threading.Lock()


def _object_kms_key(moto_url: str, bucket: str, key: str, version: str | None) -> str | None:
    """The SSE-KMS key of an object, from an unrestricted HeadObject to moto; None if it has none (or is absent).

    The local cloud's own lookup, not the caller's: S3 knows the object's key whoever asks, and decides on
    kms:Decrypt with it. Signed (moto tells the service from the signature), with the local user's key.
    """
    with _lookup_clients_lock:
        client = _lookup_clients.get(moto_url)
        if client is None:
            make_client: Any = boto3.client  # one client per moto: boto3 clients are thread-safe
            client = make_client(
                "s3",
                endpoint_url=moto_url,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106 - the local services accept any credentials
                config=Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=30),
            )
            _lookup_clients[moto_url] = client
    try:
        head = client.head_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
    except ClientError:
        return None  # absent: the request itself gets S3's answer
    if head.get("ServerSideEncryption") != "aws:kms":
        return None
    kms_key: str | None = head.get("SSEKMSKeyId")
    return kms_key


def _invoke_and_log(invoker: LambdaInvoker, function: str, payload: bytes) -> None:
    try:
        result = invoker.invoke(function, payload)
    except (FunctionNotFoundError, InvalidPayloadError) as error:
        _log.warning("async invoke of %s failed: %s", function, error)
        return
    if result.function_error:
        _log.warning("async invoke of %s failed: %s", function, result.payload.decode(errors="replace"))
