"""What an AWS call needs from IAM, read from the request the gateway received, and how a service says no.

:func:`requirements` turns one request into the (action, resource ARN, condition context) triples AWS would
authorize for it, built per API the way AWS documents the resource:

* DynamoDB (``X-Amz-Target: DynamoDB_20120810.<Op>``): ``dynamodb:<Op>`` on
  ``arn:aws:dynamodb:<region>:<account>:table/<TableName>``, plus ``/index/<IndexName>`` for Query and Scan
  on an index; BatchWriteItem and BatchGetItem once per table in ``RequestItems``; TransactWriteItems and
  TransactGetItems as the PutItem/UpdateItem/DeleteItem/ConditionCheckItem/GetItem of each entry.
* Step Functions (``AWSStepFunctions.<Op>``): ``states:<Op>`` on ``stateMachineArn`` (StartExecution...) or
  ``executionArn`` (DescribeExecution...); SendTaskSuccess/Failure/Heartbeat on the state machine the task
  token belongs to (:func:`task_token_state_machine`; the local cloud's moto issues tokens that name it).
* Lambda (``POST /2015-03-31/functions/<name|ARN>/invocations``): ``lambda:InvokeFunction`` on the function
  ARN (with ``:<qualifier>`` when one is given).
* EventBridge (``AWSEvents.PutEvents``): ``events:PutEvents`` on each entry's bus,
  ``arn:aws:events:<region>:<account>:event-bus/<name>`` (``default`` without ``EventBusName``).
* Voice ID (``VoiceID.<Op>``): ``voiceid:<Op>`` on ``arn:aws:voiceid:<region>:<account>:domain/<DomainId>``.
* Bedrock batch inference (REST-JSON, signing name ``bedrock``): ``bedrock:GetModelInvocationJob`` and
  ``bedrock:StopModelInvocationJob`` on the job's ARN (``arn:aws:bedrock:<region>:<account>:model-invocation-job/
  <id>``, from the id or ARN in the path), ``bedrock:ListModelInvocationJobs`` on ``*``, and
  ``bedrock:CreateModelInvocationJob`` on ``.../model-invocation-job/*`` (the id is not known before) and on
  the model (``arn:aws:bedrock:<region>::foundation-model/<modelId>``, an inference profile of the account for
  a geography-prefixed id, or the ARN given), plus ``iam:PassRole`` on the body's ``roleArn`` with
  ``iam:PassedToService = bedrock.amazonaws.com``. bedrock-runtime (signed for ``bedrock`` too): InvokeModel and
  Converse (``POST /model/<modelId>/invoke|converse``) both need ``bedrock:InvokeModel`` on the model, named as
  for CreateModelInvocationJob.
* KMS (``TrentService.<Op>``): ``kms:<Op>`` on the key named by ``KeyId``; SQS (``AmazonSQS.<Op>``) on the
  queue of ``QueueUrl``.
* S3, path-style as boto3 sends it to the gateway (``/<bucket>/<key>``): ``s3:GetObject`` for GET and HEAD
  of an object, ``s3:PutObject``, ``s3:DeleteObject``, ``s3:ListBucket`` on ``arn:aws:s3:::<bucket>`` and the
  sub-resources listed in ``_S3_OBJECT_SUBRESOURCES``/``_S3_BUCKET_SUBRESOURCES``; reading an SSE-KMS object
  also needs ``kms:Decrypt`` on its key with ``kms:ViaService = s3.<region>.amazonaws.com`` (the key comes
  from the caller-supplied lookup, an unrestricted HeadObject), and writing one ``kms:GenerateDataKey``.
* STS: GetCallerIdentity needs no permission (as in AWS); other actions ``sts:<Action>``.

A request it cannot attribute to an action is :class:`Unattributed`, which the gateway denies: deny by
default. Every requirement carries the global condition keys ``aws:PrincipalArn``, ``aws:PrincipalAccount``,
``aws:PrincipalType`` and ``aws:RequestedRegion``.

:func:`denial_response` answers an AccessDenied the way each service does, so the caller's SDK raises the
error it raises on AWS (S3: 403 ``AccessDenied`` in XML; DynamoDB, Step Functions, EventBridge, KMS: 400
``AccessDeniedException`` in JSON; Voice ID: 403 ``AccessDeniedException``; Bedrock and Lambda: 403 with
``x-amzn-ErrorType``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from local_cloud.iam import IamEnforcer, denial_message
from local_cloud.identity import RoleSession

logger = logging.getLogger("local_cloud.iam")

# Credential=<akid>/<yyyymmdd>/<region>/<service>/aws4_request (header), the same in X-Amz-Credential (presigned).
_CREDENTIAL = re.compile(r"Credential=(?P<scope>[^,\s]+)")
_SIGV2 = re.compile(r"^AWS (?P<akid>[^:\s]+):")
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations$")
_BEDROCK_JOB_PATH = re.compile(r"^/model-invocation-job/(?P<job>[^/]+)(?P<stop>/stop)?$")
_BEDROCK_RUNTIME_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?:invoke|converse)$")
_FUNCTION_ARN = re.compile(r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:(?P<name>[^:]+)(:(?P<qualifier>[^:]+))?$")
TASK_TOKEN_STATE_MACHINE = "StateMachineArn"  # noqa: S105 - a JSON member name, not a secret

# X-Amz-Target prefix -> IAM service prefix.
_TARGET_SERVICES: Mapping[str, str] = {
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodb",
    "AWSStepFunctions": "states",
    "AWSEvents": "events",
    "TrentService": "kms",
    "VoiceID": "voiceid",
    "AmazonSQS": "sqs",
}
_DYNAMODB_TRANSACT_ACTIONS: Mapping[str, str] = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
_STATES_ARN_PARAMETERS = ("stateMachineArn", "executionArn", "activityArn", "resourceArn", "mapRunArn")
_TASK_TOKEN_ACTIONS = frozenset({"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"})
# Query parameters that select a sub-resource, and the action each needs (method, sub-resource) -> action.
_S3_OBJECT_SUBRESOURCES: Mapping[tuple[str, str], str] = {
    ("GET", "tagging"): "s3:GetObjectTagging",
    ("PUT", "tagging"): "s3:PutObjectTagging",
    ("DELETE", "tagging"): "s3:DeleteObjectTagging",
    ("GET", "acl"): "s3:GetObjectAcl",
    ("PUT", "acl"): "s3:PutObjectAcl",
    ("GET", "attributes"): "s3:GetObjectAttributes",
    ("GET", "uploadId"): "s3:ListMultipartUploadParts",
    ("PUT", "uploadId"): "s3:PutObject",  # UploadPart
    ("POST", "uploads"): "s3:PutObject",  # CreateMultipartUpload
    ("POST", "uploadId"): "s3:PutObject",  # CompleteMultipartUpload
    ("DELETE", "uploadId"): "s3:AbortMultipartUpload",
    ("POST", "restore"): "s3:RestoreObject",
}
_S3_BUCKET_SUBRESOURCES: Mapping[tuple[str, str], str] = {
    ("GET", "location"): "s3:GetBucketLocation",
    ("GET", "versions"): "s3:ListBucketVersions",
    ("GET", "uploads"): "s3:ListBucketMultipartUploads",
    ("GET", "list-type"): "s3:ListBucket",
    ("GET", "policy"): "s3:GetBucketPolicy",
    ("GET", "encryption"): "s3:GetEncryptionConfiguration",
    ("GET", "tagging"): "s3:GetBucketTagging",
}
# Query parameters that are not sub-resources (they refine GET/PUT of the object or bucket itself).
_S3_PLAIN_PARAMETERS = frozenset(
    {
        "versionId",
        "partNumber",
        "prefix",
        "delimiter",
        "marker",
        "max-keys",
        "continuation-token",
        "start-after",
        "fetch-owner",
        "encoding-type",
        "x-id",
    }
)


@dataclass(frozen=True)
class AwsRequest:
    """What the gateway knows of one request: method, raw path and query, headers (lower-cased names),
    and the body when it was read (JSON protocols; S3 bodies are never needed)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes | None = None

    @classmethod
    def create(cls, method: str, raw_path: str, headers: Mapping[str, str], body: bytes | None = None) -> AwsRequest:
        split = urllib.parse.urlsplit(raw_path)
        return cls(
            method=method.upper(),
            path=split.path,
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
        )

    @property
    def target(self) -> str:
        return self.headers.get("x-amz-target", "")

    def credential_scope(self) -> list[str]:
        """``[akid, date, region, service, "aws4_request"]`` from SigV4 (header or presigned URL), else []."""
        match = _CREDENTIAL.search(self.headers.get("authorization", ""))
        scope = match["scope"] if match else (self.query.get("X-Amz-Credential") or [""])[0]
        return scope.split("/") if scope else []

    @property
    def access_key_id(self) -> str | None:
        scope = self.credential_scope()
        if scope:
            return scope[0]
        sigv2 = _SIGV2.match(self.headers.get("authorization", ""))
        if sigv2:
            return sigv2["akid"]
        return self.query.get("AWSAccessKeyId", [""])[0] or None

    @property
    def service(self) -> str:
        """The IAM service prefix: from X-Amz-Target, the Lambda Invoke path, else the signing scope."""
        prefix = self.target.split(".", 1)[0]
        if prefix in _TARGET_SERVICES:
            return _TARGET_SERVICES[prefix]
        if _INVOKE_PATH.match(self.path):
            return "lambda"
        scope = self.credential_scope()
        return scope[3] if len(scope) > 3 else ""

    def json_body(self) -> dict[str, Any]:
        try:
            parsed = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


@dataclass(frozen=True)
class Requirement:
    """One permission a request needs: ``action`` on ``resource`` in ``context`` (condition keys)."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Unattributed:
    """A request whose IAM action the local cloud cannot tell; denied, with ``what`` in the message."""

    what: str


@dataclass(frozen=True)
class Scope:
    """The account and region resource ARNs are built in (the stack's)."""

    region: str
    account_id: str


# (bucket, key, version id or None) -> the ARN or id of the object's SSE-KMS key, or None (not SSE-KMS, absent)
ObjectKeyLookup = Callable[[str, str, str | None], str | None]


def requirements(
    request: AwsRequest, session: RoleSession, scope: Scope, object_kms_key: ObjectKeyLookup
) -> list[Requirement] | Unattributed:
    """The permissions ``request``, made by ``session``, needs (empty: none, e.g. GetCallerIdentity)."""
    found = _service_requirements(request, scope, object_kms_key)
    if isinstance(found, Unattributed):
        return found
    base = {
        "aws:PrincipalArn": session.role_arn,
        "aws:PrincipalAccount": session.account_id,
        "aws:PrincipalType": "AssumedRole",
        "aws:RequestedRegion": scope.region,
    }
    return [Requirement(item.action, item.resource, {**base, **item.context}) for item in found]


def _service_requirements(
    request: AwsRequest, scope: Scope, object_kms_key: ObjectKeyLookup
) -> list[Requirement] | Unattributed:
    service = request.service
    operation = request.target.split(".", 1)[1] if "." in request.target else ""
    if operation:  # the JSON protocols: the operation is in X-Amz-Target, its parameters in the body
        extract = _JSON_SERVICES.get(service)
        if extract is not None:
            return extract(operation, request.json_body(), scope)
        return [Requirement(f"{service or 'unknown'}:{operation}", "*")]
    if service == "s3":
        return _s3(request, scope, object_kms_key)
    rest = _REST_SERVICES.get(service)
    if rest is not None:
        return rest(request, scope)
    return Unattributed(f"{service or 'unknown service'} {request.method} {request.path}")


# -- per service -------------------------------------------------------------------------------------------------
def _table_arn(name: Any, scope: Scope) -> str:
    text = str(name)
    return text if text.startswith("arn:") else f"arn:aws:dynamodb:{scope.region}:{scope.account_id}:table/{text}"


def _dynamodb(operation: str, body: Mapping[str, Any], scope: Scope) -> list[Requirement]:
    action = f"dynamodb:{operation}"
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [Requirement(action, _table_arn(table, scope)) for table in body.get("RequestItems") or {}]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        found = []
        for item in body.get("TransactItems") or []:
            for kind, request in (item or {}).items():
                if kind in _DYNAMODB_TRANSACT_ACTIONS and isinstance(request, Mapping):
                    found.append(
                        Requirement(_DYNAMODB_TRANSACT_ACTIONS[kind], _table_arn(request.get("TableName"), scope))
                    )
        return found
    if body.get("TableName"):
        resource = _table_arn(body["TableName"], scope)
        if operation in ("Query", "Scan") and body.get("IndexName"):
            resource += f"/index/{body['IndexName']}"
        return [Requirement(action, resource)]
    for parameter in ("StreamArn", "ResourceArn"):
        if body.get(parameter):
            return [Requirement(action, str(body[parameter]))]
    return [Requirement(action, "*")]


def task_token_state_machine(token: str) -> str | None:
    """The state machine a task token of the local cloud's moto belongs to (``_moto_main.py`` issues them:
    base64url of ``{"StateMachineArn": ..., "Nonce": ...}``); None for any other token."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return None
    arn = decoded.get(TASK_TOKEN_STATE_MACHINE) if isinstance(decoded, dict) else None
    return arn if isinstance(arn, str) and ":stateMachine:" in arn else None


def _states(operation: str, body: Mapping[str, Any], scope: Scope) -> list[Requirement]:
    action = f"states:{operation}"
    if operation in _TASK_TOKEN_ACTIONS:
        machine = task_token_state_machine(str(body.get("taskToken", "")))
        # A token the local moto did not issue cannot be valid: it is passed on, and moto answers
        # InvalidToken as Step Functions does, whoever asks.
        return [Requirement(action, machine)] if machine else []
    if operation == "CreateStateMachine" and body.get("name"):
        return [Requirement(action, f"arn:aws:states:{scope.region}:{scope.account_id}:stateMachine:{body['name']}")]
    for parameter in _STATES_ARN_PARAMETERS:
        if body.get(parameter):
            return [Requirement(action, str(body[parameter]))]
    return [Requirement(action, "*")]


def _events(operation: str, body: Mapping[str, Any], scope: Scope) -> list[Requirement]:
    action = f"events:{operation}"
    if operation == "PutEvents":
        buses = {
            _bus_arn(entry.get("EventBusName"), scope)
            for entry in body.get("Entries") or []
            if isinstance(entry, Mapping)
        }
        return [Requirement(action, bus) for bus in sorted(buses)]
    return [Requirement(action, "*")]


def _bus_arn(name: Any, scope: Scope) -> str:
    text = str(name or "default")
    return text if text.startswith("arn:") else f"arn:aws:events:{scope.region}:{scope.account_id}:event-bus/{text}"


def _voiceid(operation: str, body: Mapping[str, Any], scope: Scope) -> list[Requirement]:
    action = f"voiceid:{operation}"
    if body.get("DomainId"):
        return [Requirement(action, f"arn:aws:voiceid:{scope.region}:{scope.account_id}:domain/{body['DomainId']}")]
    if body.get("ResourceArn"):
        return [Requirement(action, str(body["ResourceArn"]))]
    return [Requirement(action, "*")]


def _bedrock(request: AwsRequest, scope: Scope) -> list[Requirement] | Unattributed:
    """The batch-inference operations, told apart by method and path as botocore's model routes them."""
    jobs = f"arn:aws:bedrock:{scope.region}:{scope.account_id}:model-invocation-job/"
    if request.method == "GET" and request.path == "/model-invocation-jobs":
        return [Requirement("bedrock:ListModelInvocationJobs", "*")]
    if request.method == "POST" and request.path == "/model-invocation-job":
        body = request.json_body()
        found = [Requirement("bedrock:CreateModelInvocationJob", f"{jobs}*")]
        model = body.get("modelId")
        if isinstance(model, str) and model:
            found.append(Requirement("bedrock:CreateModelInvocationJob", _bedrock_model_arn(model, scope)))
        role = body.get("roleArn")
        if isinstance(role, str) and role:
            found.append(Requirement("iam:PassRole", role, {"iam:PassedToService": "bedrock.amazonaws.com"}))
        return found
    job = _BEDROCK_JOB_PATH.match(request.path)
    if job and (request.method, bool(job["stop"])) in (("GET", False), ("POST", True)):
        identifier = urllib.parse.unquote(job["job"])
        arn = identifier if identifier.startswith("arn:") else f"{jobs}{identifier}"
        action = "bedrock:StopModelInvocationJob" if job["stop"] else "bedrock:GetModelInvocationJob"
        return [Requirement(action, arn)]
    invocation = _BEDROCK_RUNTIME_PATH.match(request.path)
    if invocation and request.method == "POST":
        # Converse has no action of its own: AWS authorizes it as bedrock:InvokeModel.
        model = urllib.parse.unquote(invocation["model"])
        return [Requirement("bedrock:InvokeModel", _bedrock_model_arn(model, scope))]
    return Unattributed(f"Bedrock {request.method} {request.path}")


# Cross-Region inference profile ids start with their geography (`us.anthropic.claude-...`).
_INFERENCE_PROFILE_GEOGRAPHIES = frozenset({"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"})


def _bedrock_model_arn(model_id: str, scope: Scope) -> str:
    """The resource a model id names: itself if an ARN, an inference profile for a geography-prefixed id,
    else a foundation model (whose ARN has no account)."""
    if model_id.startswith("arn:"):
        return model_id
    if model_id.split(".", 1)[0] in _INFERENCE_PROFILE_GEOGRAPHIES:
        return f"arn:aws:bedrock:{scope.region}:{scope.account_id}:inference-profile/{model_id}"
    return f"arn:aws:bedrock:{scope.region}::foundation-model/{model_id}"


def _kms_key_arn(key_id: Any, scope: Scope) -> str:
    if not key_id:
        return "*"  # Decrypt without KeyId: the key is in the ciphertext, which the local cloud does not read
    text = str(key_id)
    if text.startswith("arn:"):
        return text
    if text.startswith("alias/"):
        return f"arn:aws:kms:{scope.region}:{scope.account_id}:{text}"
    return f"arn:aws:kms:{scope.region}:{scope.account_id}:key/{text}"


def _queue_arn(queue_url: Any, scope: Scope) -> str:
    if not queue_url:
        return "*"
    return f"arn:aws:sqs:{scope.region}:{scope.account_id}:{str(queue_url).rstrip('/').rsplit('/', 1)[-1]}"


def _kms(operation: str, body: Mapping[str, Any], scope: Scope) -> list[Requirement]:
    return [Requirement(f"kms:{operation}", _kms_key_arn(body.get("KeyId"), scope))]


def _sqs(operation: str, body: Mapping[str, Any], scope: Scope) -> list[Requirement]:
    return [Requirement(f"sqs:{operation}", _queue_arn(body.get("QueueUrl"), scope))]


_JSON_SERVICES: Mapping[str, Callable[[str, Mapping[str, Any], Scope], list[Requirement]]] = {
    "dynamodb": _dynamodb,
    "states": _states,
    "events": _events,
    "voiceid": _voiceid,
    "kms": _kms,
    "sqs": _sqs,
}


def _lambda(request: AwsRequest, scope: Scope) -> list[Requirement] | Unattributed:
    invoke = _INVOKE_PATH.match(request.path)
    if not invoke or request.method != "POST":
        return Unattributed(f"Lambda {request.method} {request.path}")
    function = urllib.parse.unquote(invoke["function"])
    arn = _FUNCTION_ARN.match(function)
    name, qualifier = (
        (arn["name"], arn["qualifier"]) if arn else (function.partition(":")[0], function.partition(":")[2])
    )
    qualifier = qualifier or (request.query.get("Qualifier") or [""])[0]
    resource = f"arn:aws:lambda:{scope.region}:{scope.account_id}:function:{name}"
    return [Requirement("lambda:InvokeFunction", f"{resource}:{qualifier}" if qualifier else resource)]


def _sts(request: AwsRequest) -> list[Requirement]:
    form = urllib.parse.parse_qs((request.body or b"").decode("utf-8", errors="replace"))
    action = (form.get("Action") or request.query.get("Action") or [""])[0]
    if action == "GetCallerIdentity":
        return []  # AWS allows it whatever the policies say
    role = (form.get("RoleArn") or [""])[0]
    return [Requirement(f"sts:{action or 'Unknown'}", role or "*")]


_REST_SERVICES: Mapping[str, Callable[[AwsRequest, Scope], list[Requirement] | Unattributed]] = {
    "lambda": _lambda,
    "sts": lambda request, scope: _sts(request),
    "bedrock": _bedrock,
}


def is_s3control_job_request(path: str, headers: Mapping[str, str]) -> bool:
    """An S3 Batch Operations job call (S3 Control: signed for ``s3`` like the data plane, told apart by its
    ``/v20180820/jobs`` path and ``x-amz-account-id`` header)."""
    has_account = any(name.lower() == "x-amz-account-id" for name in headers)
    return has_account and (path == S3CONTROL_JOBS_PATH or path.startswith(S3CONTROL_JOBS_PATH + "/"))


S3CONTROL_JOBS_PATH = "/v20180820/jobs"
_S3CONTROL_JOB_PATH = re.compile(r"^/v20180820/jobs/(?P<job>[^/]+)(?:/(?P<action>status|priority|tagging))?$")
_S3CONTROL_JOB_ACTIONS: Mapping[tuple[str, str], str] = {
    ("GET", ""): "s3:DescribeJob",
    ("POST", "status"): "s3:UpdateJobStatus",
    ("POST", "priority"): "s3:UpdateJobPriority",
    ("GET", "tagging"): "s3:GetJobTagging",
    ("PUT", "tagging"): "s3:PutJobTagging",
    ("DELETE", "tagging"): "s3:DeleteJobTagging",
}
_CREATE_JOB_ROLE = re.compile(rb"<RoleArn>([^<]+)</RoleArn>")


def _s3control(request: AwsRequest, scope: Scope) -> list[Requirement] | Unattributed:
    """The S3 Batch Operations job operations (s3:CreateJob and co.; jobs are
    ``arn:aws:s3:<region>:<account>:job/<id>``). CreateJob also passes its role (iam:PassRole) and, with tags,
    needs s3:PutJobTagging."""
    jobs = f"arn:aws:s3:{scope.region}:{scope.account_id}:job/"
    if request.path == S3CONTROL_JOBS_PATH:
        if request.method == "GET":
            return [Requirement("s3:ListJobs", "*")]
        if request.method == "POST":
            found = [Requirement("s3:CreateJob", "*")]
            role = _CREATE_JOB_ROLE.search(request.body or b"")
            if role:
                passed = {"iam:PassedToService": "batchoperations.s3.amazonaws.com"}
                found.append(Requirement("iam:PassRole", role.group(1).decode(), passed))
            if b"<Tags>" in (request.body or b""):
                found.append(Requirement("s3:PutJobTagging", f"{jobs}*"))
            return found
    job = _S3CONTROL_JOB_PATH.match(request.path)
    action = _S3CONTROL_JOB_ACTIONS.get((request.method, job["action"] or "")) if job else None
    if job and action:
        return [Requirement(action, f"{jobs}{urllib.parse.unquote(job['job'])}")]
    return Unattributed(f"S3 Control {request.method} {request.path}")


def _s3(request: AwsRequest, scope: Scope, object_kms_key: ObjectKeyLookup) -> list[Requirement] | Unattributed:
    if is_s3control_job_request(request.path, request.headers):
        return _s3control(request, scope)
    bucket, _, key = urllib.parse.unquote(request.path).lstrip("/").partition("/")
    subresources = sorted(
        name
        for name in request.query
        if name not in _S3_PLAIN_PARAMETERS and not name.startswith(("X-Amz-", "response-"))
    )
    described = f"S3 {request.method} {request.path}" + (f"?{'&'.join(subresources)}" if subresources else "")
    if not bucket:
        return [Requirement("s3:ListAllMyBuckets", "*")] if request.method == "GET" else Unattributed(described)
    if not key:
        action = _s3_bucket_action(request.method, subresources)
        if action is None:
            return Unattributed(described)
        # ListObjects(V2) carries s3:prefix (the empty string when the request names none), as AWS sets it.
        context = {"s3:prefix": request.query.get("prefix", [""])[0]} if action == "s3:ListBucket" else {}
        return [Requirement(action, f"arn:aws:s3:::{bucket}", context)]
    found = _s3_object(
        request, bucket=bucket, key=key, subresources=subresources, scope=scope, object_kms_key=object_kms_key
    )
    return found if found else Unattributed(described)


def _s3_bucket_action(method: str, subresources: list[str]) -> str | None:
    if subresources:
        return _S3_BUCKET_SUBRESOURCES.get((method, subresources[0])) if len(subresources) == 1 else None
    plain = {"GET": "s3:ListBucket", "HEAD": "s3:ListBucket", "PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket"}
    return plain.get(method)


def _s3_object(
    request: AwsRequest,
    *,
    bucket: str,
    key: str,
    subresources: list[str],
    scope: Scope,
    object_kms_key: ObjectKeyLookup,
) -> list[Requirement]:
    """What an object-level request needs (empty: not recognised)."""
    method, object_arn = request.method, f"arn:aws:s3:::{bucket}/{key}"
    if subresources:
        action = _S3_OBJECT_SUBRESOURCES.get((method, subresources[0])) if len(subresources) == 1 else None
        found = [Requirement(action, object_arn)] if action else []
    elif method in ("GET", "HEAD"):
        version = request.query.get("versionId", [""])[0] or None
        found = [Requirement("s3:GetObjectVersion" if version else "s3:GetObject", object_arn)]
        kms_key = object_kms_key(bucket, key, version) if method == "GET" else None
        if kms_key:  # HeadObject reads metadata only: S3 decrypts, and asks KMS, for GET alone
            found.append(_kms_via_s3("kms:Decrypt", kms_key, object_arn, scope))
        return found
    else:
        plain = {"PUT": "s3:PutObject", "DELETE": "s3:DeleteObject"}
        found = [Requirement(plain[method], object_arn)] if method in plain else []
    if found and method == "PUT" and request.headers.get("x-amz-copy-source"):
        source = urllib.parse.unquote(request.headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/")
        found.append(Requirement("s3:GetObject", f"arn:aws:s3:::{source}"))
    kms_key = request.headers.get("x-amz-server-side-encryption-aws-kms-key-id")
    if (
        found
        and method in ("PUT", "POST")
        and kms_key
        and request.headers.get("x-amz-server-side-encryption") == "aws:kms"
    ):
        found.append(_kms_via_s3("kms:GenerateDataKey", kms_key, object_arn, scope))
    return found


def _kms_via_s3(action: str, key: str, object_arn: str, scope: Scope) -> Requirement:
    """S3 calls KMS on the caller's behalf: the caller needs the permission, with kms:ViaService set."""
    return Requirement(
        action,
        _kms_key_arn(key, scope),
        {
            "kms:ViaService": f"s3.{scope.region}.amazonaws.com",
            "kms:CallerAccount": scope.account_id,
            "kms:EncryptionContext:aws:s3:arn": object_arn,
        },
    )


# -- answers ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceError:
    """An HTTP error response, as the service that was called would send it."""

    status: int
    headers: Mapping[str, str]
    body: bytes


_JSON_10 = "application/x-amz-json-1.0"
_JSON_11 = "application/x-amz-json-1.1"
# JSON-protocol service -> (content type, prefix of the __type its errors carry).
_JSON_PROTOCOLS: Mapping[str, tuple[str, str]] = {
    "dynamodb": (_JSON_10, "com.amazonaws.dynamodb.v20120810#"),
    "states": (_JSON_10, ""),
    "voiceid": (_JSON_10, ""),
    "events": (_JSON_11, ""),
    "kms": (_JSON_11, ""),
    "sqs": (_JSON_10, "com.amazonaws.sqs#"),
}
# Where a service's AccessDenied differs from the usual (status 400, code AccessDeniedException; 403 and
# AccessDenied for REST and query protocols): (status, code).
_DENIALS: Mapping[str, tuple[int, str]] = {
    "voiceid": (403, "AccessDeniedException"),
    "sqs": (400, "AccessDenied"),
    "lambda": (403, "AccessDeniedException"),
    "bedrock": (403, "AccessDeniedException"),
    "s3": (403, "AccessDenied"),
}
_REST_JSON_SERVICES = frozenset({"lambda", "bedrock"})


def denial_response(request: AwsRequest, message: str) -> ServiceError:
    """An AccessDenied for ``request``, shaped as its service answers one."""
    service = request.service
    json_protocol = service in _JSON_PROTOCOLS or bool(request.target)
    default = (400, "AccessDeniedException") if json_protocol else (403, "AccessDenied")
    status, code = _DENIALS.get(service, default)
    return service_error_response(request, status, code, message)


def service_error_response(request: AwsRequest, status: int, code: str, message: str) -> ServiceError:
    """An error answer to ``request`` in its service's wire format (JSON 1.0/1.1, REST-JSON, S3's XML, or the
    query protocol's XML), so that botocore raises ``code`` from it as it does from AWS."""
    request_id = str(uuid.uuid4())
    service = request.service
    if service in _REST_JSON_SERVICES:
        # Lambda says whose fault it was; Bedrock's errors carry only the message.
        lambda_error = {"Type": "User" if status < 500 else "Service", "Message": message}
        body = json.dumps(lambda_error if service == "lambda" else {"message": message}).encode()
        return ServiceError(
            status,
            {"Content-Type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id},
            body,
        )
    if service in _JSON_PROTOCOLS or request.target:
        content_type, type_prefix = _JSON_PROTOCOLS.get(service, (_JSON_11, ""))
        body = json.dumps({"__type": f"{type_prefix}{code}", "message": message}).encode()
        return ServiceError(
            status, {"Content-Type": content_type, "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}, body
        )
    if service == "s3":
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>local-cloud</HostId></Error>"
        )
        return ServiceError(status, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, xml.encode())
    fault = "Sender" if status < 500 else "Receiver"
    xml = (
        f"<ErrorResponse><Error><Type>{fault}</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return ServiceError(status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, xml.encode())


# -- the gateway's check -------------------------------------------------------------------------------------------
DENIALS_KEPT = 1000


@dataclass(frozen=True)
class DeniedCall:
    """One call the gateway refused: who, what (``action`` on ``resource``), and the message sent back."""

    role_arn: str
    session_name: str
    action: str
    resource: str
    message: str


class RequestAuthorizer:
    """What the gateway asks about each request: whose is it (:meth:`session`), and may it go on (:meth:`check`).

    Keeps the latest :data:`DENIALS_KEPT` denials (:meth:`denials`), and logs each one, so a developer sees
    what a run was refused without reading every function's log; and which (role, action) pairs it granted
    (:meth:`granted`), so a test can tell a call was evaluated at all.
    """

    def __init__(self, enforcer: IamEnforcer, scope: Scope) -> None:
        self.enforcer = enforcer
        self.scope = scope
        self._denials: deque[DeniedCall] = deque(maxlen=DENIALS_KEPT)
        self._granted: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def session(self, request: AwsRequest) -> RoleSession | None:
        """The role session the request is held to, or None when it is not restricted."""
        return self.enforcer.restricted_session(request.access_key_id)

    def check(self, request: AwsRequest, session: RoleSession, object_kms_key: ObjectKeyLookup) -> ServiceError | None:
        """None when every permission the request needs is granted; else the service's AccessDenied."""
        needed = requirements(request, session, self.scope, object_kms_key)
        if isinstance(needed, Unattributed):
            message = (
                f"User: {session.assumed_role_arn} is not authorized to perform this request: the local cloud "
                f"cannot tell which IAM action {needed.what} needs, so it denies it (deny by default)"
            )
            return self._deny(request, session, "?", needed.what, message)
        for requirement in needed:
            decision = self.enforcer.evaluate(
                session.role_arn, requirement.action, requirement.resource, requirement.context
            )
            if not decision.allowed:
                message = denial_message(session, requirement.action, requirement.resource, decision)
                return self._deny(request, session, requirement.action, requirement.resource, message)
        with self._lock:
            self._granted.update((session.role_arn, requirement.action) for requirement in needed)
        return None

    def _deny(
        self, request: AwsRequest, session: RoleSession, action: str, resource: str, message: str
    ) -> ServiceError:
        logger.warning("AccessDenied: %s", message)
        with self._lock:
            self._denials.append(DeniedCall(session.role_arn, session.session_name, action, resource, message))
        return denial_response(request, message)

    def denials(self) -> list[DeniedCall]:
        with self._lock:
            return list(self._denials)

    def granted(self) -> set[tuple[str, str]]:
        """Every (role ARN, action) granted since the last :meth:`clear_denials`."""
        with self._lock:
            return set(self._granted)

    def clear_denials(self) -> None:
        """Forget the denials and grants seen so far."""
        with self._lock:
            self._denials.clear()
            self._granted.clear()
