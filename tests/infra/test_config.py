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
        ({"voiceIdDomainIds": None}, "tracker:voiceIdDomainIds is not set"),
        ({"voiceIdDomainIds": ["not-a-domain"]}, "is not a Voice ID domain id"),
        ({"voiceIdDomainIds": []}, "non-empty list"),
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
