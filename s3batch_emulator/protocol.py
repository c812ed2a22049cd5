"""S3 Control's REST-XML protocol for the job operations, read from botocore's model: which operation a method
and path are, the request's members from its headers (`x-amz-account-id`), path, query string and XML body, and
the account-id host prefix.

**The `{AccountId}.` host prefix.** Every job operation has `endpoint.hostPrefix = "{AccountId}."` and the
endpoint rule set prefixes the account id to a custom endpoint too (`{url#scheme}://{AccountId}.{url#authority}`,
s3batch-facts §1.1): botocore 1.44 and the JS SDK v3 both send `Host: 123456789012.<endpoint host>`, and
botocore's `Config(inject_host_prefix=False)` does not stop it (the rule set adds it, not the operation's
hostPrefix; checked against botocore 1.44.5). Where `<account>.<host>` does not resolve (this machine, and any
without a `*.localhost` resolver), the SDKs reach the emulator through an HTTP proxy, which both support
unchanged (boto3: `Config(proxies={"http": ...})` or `HTTP_PROXY`; the JS SDK: an `http.Agent` with
`proxyEnv`, Node 24): the request line then carries the absolute URL, which this server (and the local cloud's
gateway) accept. Either way the prefix, when present, must be the `x-amz-account-id` header's account.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import ListShape, OperationModel, StructureShape

from emulator_core import model, restxml
from s3batch_emulator.errors import SERVICE_NAME, S3BatchError, bad_request

OPERATIONS = (
    "CreateJob",
    "DescribeJob",
    "ListJobs",
    "UpdateJobStatus",
    "UpdateJobPriority",
    "GetJobTagging",
    "PutJobTagging",
    "DeleteJobTagging",
)
API_PATH_PREFIX = "/v20180820/jobs"
NAMESPACE = "http://awss3control.amazonaws.com/doc/2018-08-20/"
_ACCOUNT_PREFIX = re.compile(r"^(?P<account>\d{12})\.")


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    path: re.Pattern[str]


@functools.cache
def routes() -> tuple[Route, ...]:
    found = []
    for name in OPERATIONS:
        operation = model.operation_model(SERVICE_NAME, name)
        assert operation is not None, f"botocore's s3control model has no {name}"
        uri = operation.http["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(uri))
        found.append(Route(operation, operation.http["method"], re.compile(pattern)))
    return tuple(found)


def is_api_path(path: str) -> bool:
    return path == API_PATH_PREFIX or path.startswith(API_PATH_PREFIX + "/")


def match(method: str, path: str) -> tuple[OperationModel, dict[str, str]]:
    allowed: list[str] = []
    for route in routes():
        found = route.path.fullmatch(path)
        if found is None:
            continue
        if route.method == method:
            return route.operation, {key: urllib.parse.unquote(value) for key, value in found.groupdict().items()}
        allowed.append(route.method)
    if allowed:
        raise S3BatchError("MethodNotAllowed", f"The specified method {method} is not allowed on {path}", 405)
    raise S3BatchError("InvalidRequest", f"No S3 Control job operation at {method} {path}", 404)


def check_host_prefix(host: str, account_id: str | None) -> None:
    """A `<12 digits>.` host prefix must name the account the request's header does."""
    found = _ACCOUNT_PREFIX.match(host or "")
    if found and account_id and found["account"] != account_id:
        raise bad_request(f"The host prefix {found['account']} does not match the x-amz-account-id header {account_id}")


def parse_request(
    operation: OperationModel,
    path_params: Mapping[str, str],
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    shape = operation.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    assert isinstance(shape, StructureShape)
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri" and wire in path_params:
            params[name] = path_params[wire]
        elif location == "header" and wire.lower() in lowered:
            params[name] = restxml.scalar_from_text(lowered[wire.lower()], member)
        elif location == "querystring" and wire in query:
            values = query[wire]
            if isinstance(member, ListShape):
                params[name] = [restxml.scalar_from_text(value, member.member) for value in values]
            else:
                params[name] = restxml.scalar_from_text(values[0], member)
    has_body = any(member.serialization.get("location") is None for member in shape.members.values())
    if has_body and body.strip():
        try:
            params.update(restxml.parse_body(body, shape))
        except restxml.XmlBodyError as exc:
            raise S3BatchError("MalformedXML", str(exc), 400) from exc
    return params


def response_body(operation: OperationModel, response: dict[str, Any]) -> bytes:
    shape = operation.output_shape
    if shape is None or not shape.members:
        return b""
    assert isinstance(shape, StructureShape)
    return restxml.serialize(response, shape, NAMESPACE)
