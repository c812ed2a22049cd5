"""Fixtures for the Voice ID emulator tests: a moto server (S3, KMS, EventBridge) and an emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from voiceid_emulator import Pacing, VoiceIdEmulator
from voiceid_emulator.testing import Env, make_env


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def env(moto_endpoint: str) -> Iterator[Env]:
    """Manual pacing, throttling off: jobs move only when the test steps them."""
    with VoiceIdEmulator(s3_endpoint_url=moto_endpoint, throttling=False, pacing=Pacing.manual_steps()) as emulator:
        yield make_env(moto_endpoint, emulator)
