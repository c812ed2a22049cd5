"""The local cloud's IAM adapter, without a running cloud: who a call is, what it needs, and what the
template's policies say about it (moto's evaluator, with its quirks handled)."""

from __future__ import annotations

import base64
import json
from typing import Any

import botocore.session
import pytest
from botocore import parsers
from botocore.awsrequest import HeadersDict
from moto.iam.access_control import IAMPolicy, PermissionResult

from local_cloud import _moto_main
from local_cloud.iam import (
    IamEnforcer,
    IamPolicyError,
    PolicyStatement,
    RolePolicies,
    denial_message,
    role_policies,
)
from local_cloud.iam_requests import (
    AwsRequest,
    Requirement,
    Scope,
    Unattributed,
    denial_response,
    requirements,
    task_token_state_machine,
)
from local_cloud.identity import ROLE_ACCESS_KEY_PREFIX, RoleSession, role_access_key, role_session
from local_cloud.template import StackTemplate

ACCOUNT = "123456789012"
REGION = "us-east-1"
SCOPE = Scope(region=REGION, account_id=ACCOUNT)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/Stack-RecordRole-ABC123"
SESSION = RoleSession(ROLE_ARN, "Stack-RecordFn-XYZ")
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Stack-Failures-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1111-2222"
VIA_S3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}


def role(*statements: dict[str, Any]) -> RolePolicies:
    return RolePolicies(
        role_arn=ROLE_ARN,
        logical_id="RecordRole",
        statements=tuple(PolicyStatement(f"Policy[{index}]", statement) for index, statement in enumerate(statements)),
    )


def allow(action: str | list[str], resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# -- identity ------------------------------------------------------------------------------------------------------
def test_an_access_key_names_its_role_and_session_in_letters_and_digits_only() -> None:
    key = role_access_key(ROLE_ARN, "Stack-RecordFn-XYZ")
    assert key.startswith(ROLE_ACCESS_KEY_PREFIX)
    assert key.isalnum() and key.isupper()  # DynamoDB Local accepts only letters and digits
    assert role_session(key) == SESSION
    assert SESSION.assumed_role_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/Stack-RecordRole-ABC123/Stack-RecordFn-XYZ"


@pytest.mark.parametrize("key", ["local", "voiceid-emulator", "ak", "ASIALOCALCLOUD000000", "LOCALROLE", "LOCALROLE!!"])
def test_other_keys_name_no_role(key: str) -> None:
    assert role_session(key) is None


def test_the_moto_process_encodes_roles_and_task_tokens_as_the_gateway_reads_them() -> None:
    # _moto_main.py imports only moto and the standard library, so it keeps its own copy of the encoding.
    assert _moto_main.role_access_key(ROLE_ARN, "StepFunctions") == role_access_key(ROLE_ARN, "StepFunctions")
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Stack-Tracker"
    first, second = _moto_main.task_token(machine), _moto_main.task_token(machine)
    assert first != second
    assert task_token_state_machine(first) == machine
    assert task_token_state_machine("a1b2c3d4-e5f6-7890-abcd-ef1234567890") is None
    assert task_token_state_machine(base64.urlsafe_b64encode(b'{"StateMachineArn": "nope"}').decode()) is None


def test_enforcement_restricts_only_roles_of_the_loaded_template() -> None:
    enforcer = IamEnforcer()
    key = role_access_key(ROLE_ARN, "fn")
    assert enforcer.restricted_session(key) is None  # nothing loaded: nothing restricted
    enforcer.replace([role()])
    assert enforcer.restricted_session(key) == RoleSession(ROLE_ARN, "fn")
    assert enforcer.restricted_session("local") is None
    assert enforcer.restricted_session(role_access_key(f"arn:aws:iam::{ACCOUNT}:role/made-up", "x")) is None
    enforcer.clear()
    assert enforcer.restricted_session(key) is None


# -- the evaluator adapter -----------------------------------------------------------------------------------------
def test_deny_by_default() -> None:
    assert not role().evaluate("dynamodb:PutItem", TABLE_ARN).allowed
    assert not IamEnforcer().evaluate(ROLE_ARN, "dynamodb:PutItem", TABLE_ARN).allowed
    policies = role(allow("dynamodb:PutItem", TABLE_ARN))
    assert policies.evaluate("dynamodb:PutItem", TABLE_ARN).allowed
    assert not policies.evaluate("dynamodb:DeleteItem", TABLE_ARN).allowed
    assert not policies.evaluate("dynamodb:PutItem", TABLE_ARN + "-other").allowed
    assert not policies.evaluate("dynamodb:Query", TABLE_ARN + "/index/ByDomain").allowed


def test_wildcards_match_as_iam_does() -> None:
    policies = role(
        allow("voiceid:Describe*Job", f"arn:aws:voiceid:{REGION}:{ACCOUNT}:domain/Domain?"),
        allow("s3:GetObject", "arn:aws:s3:::my.bucket/voiceid-output/*"),
    )
    assert policies.evaluate(
        "voiceid:DescribeSpeakerEnrollmentJob", f"arn:aws:voiceid:{REGION}:{ACCOUNT}:domain/DomainA"
    ).allowed
    # `?` is one character (in moto's raw matcher it was a regex quantifier).
    assert not policies.evaluate(
        "voiceid:DescribeFraudsterRegistrationJob", f"arn:aws:voiceid:{REGION}:{ACCOUNT}:domain/Domain"
    ).allowed
    assert not policies.evaluate(
        "voiceid:ListSpeakerEnrollmentJobs", f"arn:aws:voiceid:{REGION}:{ACCOUNT}:domain/DomainA"
    ).allowed
    assert policies.evaluate("s3:GetObject", "arn:aws:s3:::my.bucket/voiceid-output/a/b.out").allowed
    # `.` is a dot: moto's raw matcher let it stand for any character.
    assert not policies.evaluate("s3:GetObject", "arn:aws:s3:::myXbucket/voiceid-output/a/b.out").allowed
    raw = IAMPolicy(json.dumps({"Statement": [allow("s3:GetObject", "arn:aws:s3:::my.bucket/*")]}))
    assert raw.is_action_permitted("s3:GetObject", "arn:aws:s3:::myXbucket/k") is PermissionResult.PERMITTED


def test_actions_are_compared_case_insensitively_and_resources_exactly() -> None:
    policies = role(allow("DynamoDB:putitem", TABLE_ARN))
    assert policies.evaluate("dynamodb:PutItem", TABLE_ARN).allowed
    assert not policies.evaluate("dynamodb:PutItem", TABLE_ARN.upper()).allowed


def test_an_explicit_deny_wins_and_says_so() -> None:
    policies = role(
        allow("dynamodb:*", TABLE_ARN), {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"}
    )
    assert policies.evaluate("dynamodb:PutItem", TABLE_ARN).allowed
    decision = policies.evaluate("dynamodb:DeleteItem", TABLE_ARN)
    assert (decision.allowed, decision.explicit_deny, decision.statement) == (False, True, "Policy[1]")
    message = denial_message(SESSION, "dynamodb:DeleteItem", TABLE_ARN, decision)
    assert message.endswith("with an explicit deny in an identity-based policy")


def test_the_denial_message_is_worded_as_aws_words_it() -> None:
    decision = role().evaluate("dynamodb:BatchWriteItem", TABLE_ARN)
    assert denial_message(SESSION, "dynamodb:BatchWriteItem", TABLE_ARN, decision) == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/Stack-RecordRole-ABC123/Stack-RecordFn-XYZ is not authorized "
        f"to perform: dynamodb:BatchWriteItem on resource: {TABLE_ARN} because no identity-based policy allows the "
        "dynamodb:BatchWriteItem action"
    )


def test_kms_via_service_condition() -> None:
    policies = role(
        allow("kms:Decrypt", KEY_ARN, Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})
    )
    assert policies.evaluate("kms:Decrypt", KEY_ARN, VIA_S3).allowed
    assert policies.evaluate("kms:Decrypt", KEY_ARN, {"KMS:viaservice": "s3.us-east-1.amazonaws.com"}).allowed
    assert not policies.evaluate("kms:Decrypt", KEY_ARN, {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}).allowed
    # A direct Decrypt carries no kms:ViaService: AWS fails StringEquals on an absent key; moto let it pass.
    assert not policies.evaluate("kms:Decrypt", KEY_ARN, {}).allowed
    assert not policies.evaluate("kms:Decrypt", KEY_ARN + "-other", VIA_S3).allowed


def test_string_like_prefix_condition_on_list_bucket() -> None:
    bucket = "arn:aws:s3:::bedrock-out"
    policies = role(allow("s3:ListBucket", bucket, Condition={"StringLike": {"s3:prefix": ["output/*", "in?/*"]}}))
    assert policies.evaluate("s3:ListBucket", bucket, {"s3:prefix": "output/job1/"}).allowed
    assert policies.evaluate("s3:ListBucket", bucket, {"s3:prefix": "in1/x"}).allowed
    assert not policies.evaluate("s3:ListBucket", bucket, {"s3:prefix": "other/"}).allowed
    assert not policies.evaluate("s3:ListBucket", bucket, {"s3:prefix": "Output/job1/"}).allowed  # case-sensitive
    assert not policies.evaluate("s3:ListBucket", bucket, {"s3:prefix": ""}).allowed  # the whole bucket
    assert not policies.evaluate("s3:ListBucket", bucket, {}).allowed  # absent key: StringLike fails


def test_a_condition_with_one_of_its_keys_absent_does_not_apply() -> None:
    # moto compares the values it found with the expected values by position, whatever their key.
    condition = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:CallerAccount": ACCOUNT}}
    policies = role(allow("kms:Decrypt", KEY_ARN, Condition=condition))
    assert policies.evaluate("kms:Decrypt", KEY_ARN, {**VIA_S3, "kms:CallerAccount": ACCOUNT}).allowed
    assert not policies.evaluate("kms:Decrypt", KEY_ARN, {"kms:CallerAccount": "s3.us-east-1.amazonaws.com"}).allowed


def test_an_allow_whose_condition_fails_does_not_hide_another_allow() -> None:
    conditional = allow(
        "kms:Decrypt", KEY_ARN, Condition={"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}
    )
    plain = allow("kms:Decrypt", KEY_ARN)
    assert role(conditional, plain).evaluate("kms:Decrypt", KEY_ARN, VIA_S3).allowed
    # moto's own IAMPolicy stops at the failed condition and answers DENIED for the whole policy.
    raw = IAMPolicy(json.dumps({"Statement": [conditional, plain]}))
    assert raw.is_action_permitted("kms:Decrypt", KEY_ARN, incoming_condition_values=VIA_S3) is PermissionResult.DENIED


def test_a_deny_whose_condition_fails_does_not_apply() -> None:
    deny = {
        "Effect": "Deny",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}},
    }
    policies = role(allow("kms:Decrypt", KEY_ARN), deny)
    assert policies.evaluate("kms:Decrypt", KEY_ARN, VIA_S3).allowed
    assert not policies.evaluate("kms:Decrypt", KEY_ARN, {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}).allowed


def test_not_action_is_evaluated() -> None:
    policies = role({"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": TABLE_ARN})
    assert policies.evaluate("dynamodb:PutItem", TABLE_ARN).allowed
    assert not policies.evaluate("dynamodb:DeleteItem", TABLE_ARN).allowed


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        ({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/*"}, "NotResource"),
        (allow("s3:GetObject", "*", Condition={"StringNotLike": {"s3:prefix": "a/*"}}), "StringNotLike"),
        (allow("s3:GetObject", "*", Condition={"ArnLike": {"aws:SourceArn": "arn:*"}}), "ArnLike"),
        (allow("s3:GetObject", "*", Principal={"AWS": "*"}), "Principal"),
        (allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*"), "policy variables"),
        ({"Effect": "Allow", "Action": "s3:GetObject"}, "Resource"),
        ({"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}, "Effect"),
    ],
)
def test_what_the_evaluator_cannot_judge_stops_the_load(statement: dict[str, Any], complaint: str) -> None:
    with pytest.raises(IamPolicyError, match=complaint):
        PolicyStatement("Policy[0]", statement)


# -- policies from a template --------------------------------------------------------------------------------------
def _template() -> dict[str, Any]:
    trust = {
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]
    }
    return {
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "RecordRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": trust,
                    "ManagedPolicyArns": [
                        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                        {"Ref": "Managed"},
                    ],
                    "Policies": [
                        {
                            "PolicyName": "inline",
                            "PolicyDocument": {
                                "Statement": [allow("dynamodb:Query", {"Fn::GetAtt": ["Table", "Arn"]})]
                            },
                        }
                    ],
                },
            },
            "OtherRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}},
            "RecordPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "record",
                    "Roles": [{"Ref": "RecordRole"}, "a-role-of-another-stack"],
                    "PolicyDocument": {
                        "Statement": [
                            allow(
                                "kms:Decrypt",
                                "arn:aws:kms:us-east-1:123456789012:key/configured",
                                Condition={
                                    "StringEquals": {
                                        "kms:ViaService": {
                                            "Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
                                        }
                                    }
                                },
                            ),
                            {**allow("dynamodb:BatchWriteItem", {"Fn::GetAtt": ["Table", "Arn"]}), "Sid": "Write"},
                        ]
                    },
                },
            },
            "Managed": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": {"Statement": [allow("dynamodb:GetItem", "*")]}},
            },
        }
    }


def test_policies_are_collected_per_role_from_every_source() -> None:
    stack = StackTemplate(_template(), stack_name="Stack", region=REGION, account_id=ACCOUNT)
    local_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/local-stand-in"
    roles = role_policies(stack, resource_aliases={"arn:aws:kms:us-east-1:123456789012:key/configured": local_key})
    record, other = roles[stack.arn("RecordRole")], roles[stack.arn("OtherRole")]
    table = stack.arn("Table")
    assert [s.source for s in record.statements] == [
        "RecordRole/inline[0]",
        "Managed[0]",
        "RecordPolicy[0]",
        "RecordPolicy[1] (Write)",
    ]
    assert record.unevaluated_policy_arns == ("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",)
    assert record.evaluate("dynamodb:Query", table).allowed
    assert record.evaluate("dynamodb:BatchWriteItem", table).allowed
    assert record.evaluate("dynamodb:GetItem", table).allowed
    # The configured key stands for the local one, and the condition's value was resolved.
    assert record.evaluate("kms:Decrypt", local_key, VIA_S3).allowed
    assert not record.evaluate("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/configured", VIA_S3).allowed
    assert other.statements == ()
    assert not other.evaluate("dynamodb:Query", table).allowed


def test_a_removed_grant_is_absent_from_what_is_evaluated() -> None:
    template = _template()
    statements = template["Resources"]["RecordPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s.get("Sid") != "Write"]
    enforcer = IamEnforcer()
    stack = StackTemplate(template, stack_name="Stack", region=REGION, account_id=ACCOUNT)
    enforcer.load(stack)
    assert not enforcer.evaluate(stack.arn("RecordRole"), "dynamodb:BatchWriteItem", stack.arn("Table")).allowed
    assert enforcer.evaluate(stack.arn("RecordRole"), "dynamodb:Query", stack.arn("Table")).allowed


# -- what a request needs ------------------------------------------------------------------------------------------
def _signed(service: str, key: str | None = None) -> dict[str, str]:
    akid = key or role_access_key(ROLE_ARN, SESSION.session_name)
    scope = f"{akid}/20260101/{REGION}/{service}/aws4_request"
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"}


def _json_call(target: str, body: dict[str, Any], service: str) -> AwsRequest:
    headers = {**_signed(service), "X-Amz-Target": target}
    return AwsRequest.create("POST", "/", headers, json.dumps(body).encode())


def _needs(request: AwsRequest, kms_key: str | None = None) -> list[tuple[str, str]] | Unattributed:
    looked_up: list[tuple[str, str, str | None]] = []

    def lookup(bucket: str, key: str, version: str | None) -> str | None:
        looked_up.append((bucket, key, version))
        return kms_key

    found = requirements(request, SESSION, SCOPE, lookup)
    return found if isinstance(found, Unattributed) else [(r.action, r.resource) for r in found]


def test_the_caller_and_service_are_read_from_the_signature() -> None:
    request = AwsRequest.create("GET", "/bucket/key", _signed("s3"))
    assert (request.access_key_id, request.service) == (role_access_key(ROLE_ARN, SESSION.session_name), "s3")
    presigned = AwsRequest.create(
        "GET", f"/bucket/key?X-Amz-Credential=AKIDLOCAL%2F20260101%2F{REGION}%2Fs3%2Faws4_request", {}
    )
    assert (presigned.access_key_id, presigned.service) == ("AKIDLOCAL", "s3")
    assert AwsRequest.create("GET", "/", {}).access_key_id is None


@pytest.mark.parametrize(
    ("operation", "body", "expected"),
    [
        ("PutItem", {"TableName": "Stack-Failures-1"}, [("dynamodb:PutItem", TABLE_ARN)]),
        ("UpdateItem", {"TableName": "Stack-Failures-1"}, [("dynamodb:UpdateItem", TABLE_ARN)]),
        ("GetItem", {"TableName": TABLE_ARN}, [("dynamodb:GetItem", TABLE_ARN)]),
        ("Query", {"TableName": "Stack-Failures-1"}, [("dynamodb:Query", TABLE_ARN)]),
        (
            "Query",
            {"TableName": "Stack-Failures-1", "IndexName": "JobsByDomain"},
            [("dynamodb:Query", f"{TABLE_ARN}/index/JobsByDomain")],
        ),
        (
            "BatchWriteItem",
            {"RequestItems": {"Stack-Failures-1": [], "Other": []}},
            [
                ("dynamodb:BatchWriteItem", TABLE_ARN),
                ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Other"),
            ],
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "Stack-Failures-1"}},
                    {"ConditionCheck": {"TableName": "Stack-Failures-1"}},
                ]
            },
            [("dynamodb:PutItem", TABLE_ARN), ("dynamodb:ConditionCheckItem", TABLE_ARN)],
        ),
        ("ListTables", {}, [("dynamodb:ListTables", "*")]),
    ],
)
def test_dynamodb_calls_need_their_action_on_the_table_or_index(
    operation: str, body: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert _needs(_json_call(f"DynamoDB_20120810.{operation}", body, "dynamodb")) == expected


def test_step_functions_calls_need_their_action_on_the_machine_or_execution() -> None:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Stack-Tracker"
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:Stack-Tracker:run-1"
    assert _needs(_json_call("AWSStepFunctions.StartExecution", {"stateMachineArn": machine}, "states")) == [
        ("states:StartExecution", machine)
    ]
    assert _needs(_json_call("AWSStepFunctions.DescribeExecution", {"executionArn": execution}, "states")) == [
        ("states:DescribeExecution", execution)
    ]
    token = _moto_main.task_token(machine)
    assert _needs(_json_call("AWSStepFunctions.SendTaskSuccess", {"taskToken": token}, "states")) == [
        ("states:SendTaskSuccess", machine)
    ]
    # A token this moto did not issue cannot be valid; moto answers InvalidToken, as AWS does.
    assert _needs(_json_call("AWSStepFunctions.SendTaskSuccess", {"taskToken": "junk"}, "states")) == []


def test_voice_id_calls_need_their_action_on_the_domain() -> None:
    body = {"DomainId": "ExampleDomainId0000001", "JobId": "x" * 22}
    assert _needs(_json_call("VoiceID.DescribeFraudsterRegistrationJob", body, "voiceid")) == [
        (
            "voiceid:DescribeFraudsterRegistrationJob",
            f"arn:aws:voiceid:{REGION}:{ACCOUNT}:domain/ExampleDomainId0000001",
        )
    ]


def test_put_events_needs_each_entrys_bus() -> None:
    body = {
        "Entries": [{"Source": "a"}, {"Source": "b", "EventBusName": "ops"}, {"Source": "c", "EventBusName": "default"}]
    }
    assert _needs(_json_call("AWSEvents.PutEvents", body, "events")) == [
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"),
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/ops"),
    ]


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/2015-03-31/functions/Stack-RecordFn/invocations", "function:Stack-RecordFn"),
        (
            f"/2015-03-31/functions/arn%3Aaws%3Alambda%3A{REGION}%3A{ACCOUNT}%3Afunction%3AStack-RecordFn/invocations",
            "function:Stack-RecordFn",
        ),
        ("/2015-03-31/functions/Stack-RecordFn%3Alive/invocations", "function:Stack-RecordFn:live"),
        ("/2015-03-31/functions/Stack-RecordFn/invocations?Qualifier=3", "function:Stack-RecordFn:3"),
    ],
)
def test_lambda_invoke_needs_invoke_function_on_the_function(path: str, resource: str) -> None:
    request = AwsRequest.create("POST", path, _signed("lambda"))
    assert _needs(request) == [("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:{resource}")]


def test_reading_an_sse_kms_object_needs_get_object_and_decrypt_via_s3() -> None:
    request = AwsRequest.create("GET", "/out-bucket/voiceid-output/job/a%20b.json.out", _signed("s3"))
    assert _needs(request, kms_key=KEY_ARN) == [
        ("s3:GetObject", "arn:aws:s3:::out-bucket/voiceid-output/job/a b.json.out"),
        ("kms:Decrypt", KEY_ARN),
    ]
    found = requirements(request, SESSION, SCOPE, lambda *_: "1111-2222")
    assert isinstance(found, list)
    decrypt = found[1]
    assert decrypt.resource == KEY_ARN  # a bare key id is the key's ARN
    assert decrypt.context["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert decrypt.context["aws:PrincipalArn"] == ROLE_ARN
    assert _needs(request, kms_key=None) == [
        ("s3:GetObject", "arn:aws:s3:::out-bucket/voiceid-output/job/a b.json.out")
    ]


def test_head_object_is_get_object_and_asks_kms_nothing() -> None:
    request = AwsRequest.create("HEAD", "/out-bucket/k.out", _signed("s3"))
    assert _needs(request, kms_key=KEY_ARN) == [("s3:GetObject", "arn:aws:s3:::out-bucket/k.out")]


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("PUT", "/b/k", {}, [("s3:PutObject", "arn:aws:s3:::b/k")]),
        (
            "PUT",
            "/b/k",
            {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN},
            [("s3:PutObject", "arn:aws:s3:::b/k"), ("kms:GenerateDataKey", KEY_ARN)],
        ),
        (
            "PUT",
            "/b/k",
            {"x-amz-copy-source": "/src/a%2Fb"},
            [("s3:PutObject", "arn:aws:s3:::b/k"), ("s3:GetObject", "arn:aws:s3:::src/a/b")],
        ),
        ("DELETE", "/b/k", {}, [("s3:DeleteObject", "arn:aws:s3:::b/k")]),
        ("GET", "/b/k?versionId=3", {}, [("s3:GetObjectVersion", "arn:aws:s3:::b/k")]),
        ("GET", "/b/k?tagging", {}, [("s3:GetObjectTagging", "arn:aws:s3:::b/k")]),
        ("POST", "/b/k?uploads", {}, [("s3:PutObject", "arn:aws:s3:::b/k")]),
        ("GET", "/b?list-type=2&prefix=a", {}, [("s3:ListBucket", "arn:aws:s3:::b")]),
        ("GET", "/b", {}, [("s3:ListBucket", "arn:aws:s3:::b")]),
        ("GET", "/b?location", {}, [("s3:GetBucketLocation", "arn:aws:s3:::b")]),
        ("GET", "/", {}, [("s3:ListAllMyBuckets", "*")]),
    ],
)
def test_s3_requests_need_their_action_on_the_object_or_bucket(
    method: str, path: str, headers: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    assert _needs(AwsRequest.create(method, path, {**_signed("s3"), **headers})) == expected


@pytest.mark.parametrize(("method", "path"), [("GET", "/b/k?torrent"), ("POST", "/b?delete"), ("PATCH", "/b/k")])
def test_requests_the_local_cloud_cannot_attribute_are_unattributed(method: str, path: str) -> None:
    assert isinstance(_needs(AwsRequest.create(method, path, _signed("s3"))), Unattributed)
    assert isinstance(_needs(AwsRequest.create("GET", "/2015-03-31/functions/f", _signed("lambda"))), Unattributed)


def test_get_caller_identity_needs_nothing() -> None:
    request = AwsRequest.create("POST", "/", _signed("sts"), b"Action=GetCallerIdentity&Version=2011-06-15")
    assert _needs(request) == []


def test_every_requirement_carries_the_global_condition_keys() -> None:
    found = requirements(
        _json_call("DynamoDB_20120810.GetItem", {"TableName": "t"}, "dynamodb"), SESSION, SCOPE, lambda *_: None
    )
    assert isinstance(found, list)
    assert found == [
        Requirement(
            "dynamodb:GetItem",
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t",
            {
                "aws:PrincipalArn": ROLE_ARN,
                "aws:PrincipalAccount": ACCOUNT,
                "aws:PrincipalType": "AssumedRole",
                "aws:RequestedRegion": REGION,
            },
        )
    ]


# -- how each service says no --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("service", "operation", "request_", "status", "code"),
    [
        (
            "dynamodb",
            "BatchWriteItem",
            _json_call("DynamoDB_20120810.BatchWriteItem", {}, "dynamodb"),
            400,
            "AccessDeniedException",
        ),
        (
            "stepfunctions",
            "StartExecution",
            _json_call("AWSStepFunctions.StartExecution", {}, "states"),
            400,
            "AccessDeniedException",
        ),
        (
            "voice-id",
            "DescribeFraudsterRegistrationJob",
            _json_call("VoiceID.DescribeFraudsterRegistrationJob", {}, "voiceid"),
            403,
            "AccessDeniedException",
        ),
        ("events", "PutEvents", _json_call("AWSEvents.PutEvents", {}, "events"), 400, "AccessDeniedException"),
        ("kms", "Decrypt", _json_call("TrentService.Decrypt", {}, "kms"), 400, "AccessDeniedException"),
        (
            "lambda",
            "Invoke",
            AwsRequest.create("POST", "/2015-03-31/functions/f/invocations", _signed("lambda")),
            403,
            "AccessDeniedException",
        ),
        ("s3", "GetObject", AwsRequest.create("GET", "/b/k", _signed("s3")), 403, "AccessDenied"),
    ],
)
def test_denials_parse_as_each_services_access_denied(
    service: str, operation: str, request_: AwsRequest, status: int, code: str
) -> None:
    """botocore's own parser for the service reads the answer as the error the SDK raises on AWS."""
    model = botocore.session.get_session().get_service_model(service)
    error = denial_response(request_, "User: x is not authorized to perform: y on resource: z")
    output_shape = model.operation_model(operation).output_shape
    assert output_shape is not None
    parsed = parsers.create_parser(model.protocol).parse(
        {"status_code": error.status, "headers": HeadersDict(error.headers), "body": error.body}, output_shape
    )
    assert error.status == status
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == "User: x is not authorized to perform: y on resource: z"
