"""Configuration from CDK context: validated with messages that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import MAX_POLL_CAP, ConfigError, load_config
from tests.infra.conftest import cdk_json_context, synth


class Context:
    def __init__(self, **overrides: Any) -> None:
        self._values = cdk_json_context()
        self._values.update({f"tracker:{k}": v for k, v in overrides.items()})

    def try_get_context(self, key: str) -> Any:
        return self._values.get(key)


def test_cdk_json_defaults_load() -> None:
    config = load_config(Context())
    assert config.poll_min_seconds <= config.poll_max_seconds
    assert config.output_locations[0].prefix.endswith("/")


def test_voice_id_alone_bedrock_alone_and_both_are_valid() -> None:
    all_three = load_config(Context())
    assert all_three.tracked_services == ("voiceid", "bedrock", "s3")
    assert all_three.bedrock is not None and all_three.bedrock.job_name_prefixes == ("tracked-",)
    both = load_config(Context(s3BatchJobDescriptionPrefixes=None))
    assert both.tracked_services == ("voiceid", "bedrock") and both.s3batch is None
    voice_id = load_config(Context(bedrockJobNamePrefixes=None, s3BatchJobDescriptionPrefixes=None))
    assert voice_id.tracked_services == ("voiceid",) and voice_id.bedrock is None
    # Without Voice ID domains, Voice ID's output locations and keys are not needed either.
    bedrock = load_config(
        Context(voiceIdDomainIds=[], outputLocations=None, outputKmsKeyArns=None, s3BatchJobDescriptionPrefixes=[])
    )
    assert bedrock.tracked_services == ("bedrock",) and bedrock.output_locations == ()
    # As the README's deploy command gives them on the command line: '[]' strings.
    from_cli = load_config(
        Context(voiceIdDomainIds="[]", outputLocations="[]", outputKmsKeyArns="[]", s3BatchJobDescriptionPrefixes="[]")
    )
    assert from_cli.tracked_services == ("bedrock",) and from_cli.output_kms_key_arns == ()


def test_s3_batch_operations_alone_is_valid_and_its_keys_are_read() -> None:
    s3batch = load_config(
        Context(
            voiceIdDomainIds=[],
            outputLocations=None,
            outputKmsKeyArns=None,
            bedrockJobNamePrefixes=None,
            s3BatchJobDescriptionPrefixes='["nightly copy ", "tagging"]',
            s3BatchReportLocations="s3://reports-bucket/batch",
        )
    )
    assert s3batch.tracked_services == ("s3",) and s3batch.bedrock is None
    assert s3batch.s3batch is not None
    assert s3batch.s3batch.description_prefixes == ("nightly copy ", "tagging")
    assert [location.uri for location in s3batch.s3batch.report_locations] == ["s3://reports-bucket/batch/"]


def test_command_line_strings_are_coerced() -> None:
    config = load_config(
        Context(
            pollMinSeconds="2",
            pollMaxSeconds="5",
            voiceIdDomainIds='["AAAAAAAAAAAAAAAAAAAAAA"]',
            outputLocations="s3://other-bucket/x",
        )
    )
    assert (config.poll_min_seconds, config.poll_max_seconds) == (2, 5)
    assert config.voice_id_domain_ids == ("AAAAAAAAAAAAAAAAAAAAAA",)
    assert config.output_locations[0].bucket == "other-bucket"
    assert config.output_locations[0].prefix == "x/"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"voiceIdDomainIds": None, "bedrockJobNamePrefixes": None, "s3BatchJobDescriptionPrefixes": None},
            "are all empty",
        ),
        ({"voiceIdDomainIds": [], "bedrockJobNamePrefixes": [], "s3BatchJobDescriptionPrefixes": []}, "are all empty"),
        ({"s3BatchReportLocations": None}, "tracker:s3BatchReportLocations is not set"),
        ({"s3BatchReportLocations": ["reports/x"]}, "s3BatchReportLocations: 'reports/x' is not an s3://"),
        ({"s3BatchJobDescriptionPrefixes": ["  "]}, "is not the start of a job description"),
        ({"s3BatchJobDescriptionPrefixes": ["x" * 257]}, "is not the start of a job description"),
        ({"s3BatchJobDescriptionPrefixes": ["a,b"]}, "'a,b' contains a comma"),
        ({"voiceIdDomainIds": ["not-a-domain"]}, "is not a Voice ID domain id"),
        ({"outputLocations": None}, "tracker:outputLocations is not set"),
        ({"bedrockJobNamePrefixes": ["-starts-badly"]}, "is not the start of a Bedrock job name"),
        ({"bedrockOutputLocations": None}, "tracker:bedrockOutputLocations is not set"),
        ({"bedrockOutputLocations": ["bucket/x"]}, "bedrockOutputLocations: 'bucket/x' is not an s3://"),
        ({"bedrockOutputKmsKeyArns": ["alias/x"]}, "bedrockOutputKmsKeyArns: 'alias/x' is not a KMS key ARN"),
        ({"bedrockMinRecordsPerJob": 0}, "bedrockMinRecordsPerJob must be a whole number from 1 to 50000"),
        ({"outputLocations": ["https://bucket/x"]}, "is not an s3://bucket/prefix URI"),
        ({"outputKmsKeyArns": ["alias/voiceid"]}, "is not a KMS key ARN"),
        ({"pollMinSeconds": 0}, "pollMinSeconds must be a whole number from 1"),
        ({"pollMinSeconds": 60, "pollMaxSeconds": 30}, "pollMaxSeconds must be a whole number from 60"),
        ({"pollCap": MAX_POLL_CAP + 1}, "pollCap must be a whole number"),
        ({"logRetentionDays": 42}, "logRetentionDays must be one of"),
        ({"alarmTopicArn": "my-topic"}, "is not an SNS topic ARN"),
        ({"sweepMinutes": 0}, "tracker:sweepMinutes must be a whole number from 1 to 1440"),
        ({"sweepMinutes": "often"}, "tracker:sweepMinutes must be a whole number"),
        ({"sweepLookbackDays": 91}, "tracker:sweepLookbackDays must be a whole number from 1 to 90"),
        ({"retentionDays": -1}, "tracker:retentionDays must be a whole number from 0 to 3653"),
        ({"retentionDays": "forever"}, "tracker:retentionDays must be a whole number from 0 to 3653"),
        ({"tableKmsKeyArn": "alias/aws/dynamodb"}, "tracker:tableKmsKeyArn: 'alias/aws/dynamodb' is not a KMS key ARN"),
    ],
)
def test_bad_values_name_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(Context(**overrides))


def test_sweep_keys_are_optional_with_documented_defaults() -> None:
    config = load_config(Context(sweepMinutes=None, sweepLookbackDays=None))
    assert (config.sweep_minutes, config.sweep_lookback_days) == (15, 7)
    assert load_config(Context(sweepMinutes="1", sweepLookbackDays="30")).sweep_minutes == 1


def test_poll_bounds_flow_into_the_describe_function(tmp_path: Path) -> None:
    from aws_cdk.assertions import Template

    _, stack = synth(tmp_path, pollMinSeconds=1, pollMaxSeconds=3, pollCap=40)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": {
                    "MIN_POLL_SECONDS": "1",
                    "MAX_POLL_SECONDS": "3",
                    "POWERTOOLS_SERVICE_NAME": "voiceid-job-tracker",
                    "POWERTOOLS_METRICS_NAMESPACE": "VoiceIdJobTracker",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                }
            }
        },
    )
    assert '"NumericGreaterThanEquals":40' in str(template.to_json())


def test_retention_defaults_to_90_days_and_0_keeps_items() -> None:
    assert load_config(Context(retentionDays=None)).retention_days == 90
    assert load_config(Context(retentionDays="0")).retention_days == 0
    assert load_config(Context()).table_kms_key_arn is None


TABLE_KEY = "arn:aws:kms:us-east-1:123456789012:key/11112222-3333-4444-5555-666677778888"


def test_a_customer_managed_table_key_encrypts_the_table_and_only_its_users_may_use_it(tmp_path: Path) -> None:
    from aws_cdk.assertions import Annotations, Match, Template

    _, stack = synth(tmp_path, tableKmsKeyArn=TABLE_KEY, retentionDays=0)
    template = Template.from_stack(stack).to_json()
    nag = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert nag == [], [e.entry.data for e in nag]
    (table_check,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert "checkov" not in table_check.get("Metadata", {})  # CKV_AWS_119 holds: no skip needed
    (table,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert table["Properties"]["SSESpecification"] == {
        "KMSMasterKeyId": TABLE_KEY,
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    # The record step, the sweep and the state machine (which writes the lock) may use it, through DynamoDB.
    users = set()
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Resource") == TABLE_KEY:
                assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
                    "Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
                }
                users.add(logical_id)
    assert any("RecordFailures" in user for user in users)
    assert any("Sweep" in user for user in users)
    assert any("Tracker" in user for user in users)
    record = [
        r for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "FAILURES_TABLE_NAME" in str(r) and "RETENTION_DAYS" in str(r)
    ]  # fmt: skip
    assert record[0]["Properties"]["Environment"]["Variables"]["RETENTION_DAYS"] == "0"
