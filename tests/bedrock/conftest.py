"""Fixtures for the Bedrock emulator tests: a moto server (S3, KMS, EventBridge, SQS) and an emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bedrock_emulator import BedrockEmulator, ManualClock, Pacing
from bedrock_emulator.testing import Env, make_env
from emulator_core.testing import moto_server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def env(moto_endpoint: str, clock: ManualClock) -> Iterator[Env]:
    """Manual pacing (one status, or one record, a step), a test-controlled clock, quotas down to 1 record."""
    with BedrockEmulator(s3_endpoint_url=moto_endpoint, clock=clock, pacing=Pacing.manual_steps()) as emulator:
        emulator.admin.set_quota(min_records_per_job=1)
        yield make_env(moto_endpoint, emulator)
