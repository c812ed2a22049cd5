"""Fixtures for the Voice ID emulator tests: a moto server (S3, KMS, EventBridge) and an emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator_core.testing import moto_server
from voiceid_emulator import Pacing, VoiceIdEmulator
from voiceid_emulator.testing import Env, make_env


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def env(moto_endpoint: str) -> Iterator[Env]:
    """Manual pacing, throttling off: jobs move only when the test steps them."""
    with VoiceIdEmulator(s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps()) as emulator:
        yield make_env(moto_endpoint, emulator)
