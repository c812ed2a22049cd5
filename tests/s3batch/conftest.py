"""Fixtures for the S3 Batch Operations emulator tests: a moto server (S3, KMS), an emulator, and for
LambdaInvoke the local cloud's own Lambda runtime behind its gateway (the function really runs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator_core.testing import moto_server
from local_cloud.gateway import Gateway, GatewayBackends
from local_cloud.lambda_runtime import LambdaRuntime
from local_cloud.lambda_runtime.config import LambdaFunctionConfig
from s3batch_emulator import ManualClock, Pacing, S3BatchEmulator
from s3batch_emulator.testing import Env, make_env

FUNCTION_NAME = "batch-function"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def env(moto_endpoint: str, clock: ManualClock) -> Iterator[Env]:
    """Manual pacing (one status, or one task, a step) and a test-controlled clock."""
    with S3BatchEmulator(s3_endpoint_url=moto_endpoint, clock=clock, pacing=Pacing.manual_steps()) as emulator:
        yield make_env(moto_endpoint, emulator)


@pytest.fixture(scope="session")
def lambda_endpoint(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway whose Lambda Invoke runs tests/s3batch/fixtures/batch_function in the local Lambda runtime
    (its S3 calls go through the gateway to moto)."""
    gateway = Gateway()
    runtime = LambdaRuntime(state_dir=tmp_path_factory.mktemp("lambda"), endpoint_url=gateway.endpoint_url)
    runtime.register(
        LambdaFunctionConfig(
            name=FUNCTION_NAME,
            handler="handler.handler",
            code_dir=Path(__file__).parent / "fixtures" / "batch_function",
            timeout_seconds=30,
        )
    )
    gateway.start(GatewayBackends(moto_url=moto_endpoint, dynamodb_url=moto_endpoint, lambda_invoker=runtime))
    try:
        yield gateway.endpoint_url
    finally:
        gateway.stop()
        runtime.close()


@pytest.fixture
def lambda_env(moto_endpoint: str, lambda_endpoint: str) -> Iterator[Env]:
    with S3BatchEmulator(
        s3_endpoint_url=moto_endpoint, lambda_endpoint_url=lambda_endpoint, pacing=Pacing.manual_steps(100)
    ) as emulator:
        yield make_env(moto_endpoint, emulator)
