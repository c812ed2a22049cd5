"""One local cloud per test session, running the stack synthesized from this checkout.

The template is synthesized in-process by the same `build_app` that `cdk synth` runs, with short poll
waits, and deployed by `LocalEnvironment`, the same code `make local` and `make demo` use.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aws_cdk as cdk
import pytest

from app import build_app
from infra.config import STACK_NAME
from local_cloud.driver import TrackerDriver
from local_cloud.environment import LocalEnvironment, VoiceIdSettings
from local_cloud.s3batch import REPORT_BUCKET as S3BATCH_REPORT_BUCKET
from local_cloud.s3batch import REPORT_PREFIX as S3BATCH_REPORT_PREFIX
from tests.infra.conftest import cdk_json_context
from voiceid_emulator.clock import Pacing


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # pytest-xdist hands the end-to-end tests out one by one, like the unit tests: each worker that gets one
    # starts its own session cloud (the `local` fixture) on first use, and the longest tests (the fault
    # windows, the automatic retries) run side by side. No e2e test depends on another's having run first.
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


def synth_local_template(outdir: Path, **overrides: object) -> Path:
    """The app synthesized in-process with cdk.json's context plus `overrides` (tracker:<key> = value)."""
    # The CDK CLI sets the asset-metadata flag; the local cloud finds each function's bundle through it.
    context = {
        **cdk_json_context(),
        **{f"tracker:{key}": value for key, value in overrides.items()},
        "aws:cdk:enable-asset-metadata": True,
    }
    build_app(cdk.App(outdir=str(outdir), context=context)).synth()
    return outdir / f"{STACK_NAME}.template.json"


TEST_PACING = Pacing(submitted_seconds=0.3, seconds_per_request=0.15)
LOCAL_S3BATCH_REPORTS = f"s3://{S3BATCH_REPORT_BUCKET}/{S3BATCH_REPORT_PREFIX}/"


@pytest.fixture(scope="session")
def local_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short poll waits so jobs are followed within seconds. The schedule fires once an hour, so that it
    # never starts a tracker in the middle of a test; the tests invoke the sweep themselves.
    # S3 Batch Operations jobs report where the local cloud's job role may write (local_cloud/s3batch.py, the
    # reportBucketArn and reportPrefix of outputs.json's s3batch section).
    return synth_local_template(
        tmp_path_factory.mktemp("local-cdk.out"),
        pollMinSeconds=1,
        pollMaxSeconds=2,
        sweepMinutes=60,
        s3BatchReportLocations=[LOCAL_S3BATCH_REPORTS],
    )


def local_environment(template: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> LocalEnvironment:
    """A local cloud running `template`, with the tests' Voice ID pacing and throttling (not yet started)."""
    return LocalEnvironment(
        template_path=template,
        state_dir=tmp_path_factory.mktemp(name),
        voice_id=VoiceIdSettings(pacing=TEST_PACING, throttling=True),
    )


def dedicated_local_cloud(
    tmp_path_factory: pytest.TempPathFactory, name: str, **overrides: object
) -> Iterator[TrackerDriver]:
    """A module's own local cloud, for a stack synthesized with other context than the session's."""
    template = synth_local_template(tmp_path_factory.mktemp(f"{name}-cdk.out"), **overrides)
    with local_environment(template, tmp_path_factory, f"{name}-cloud") as environment:
        yield TrackerDriver(environment)


@pytest.fixture(scope="session")
def local(local_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnvironment]:
    with local_environment(local_template, tmp_path_factory, "local-cloud") as environment:
        yield environment


@pytest.fixture
def driver(local: LocalEnvironment) -> Iterator[TrackerDriver]:
    local.voice_id.admin.reset_faults()
    yield TrackerDriver(local)
    local.voice_id.admin.reset_faults()


@pytest.fixture(scope="session")
def domain_id(local: LocalEnvironment) -> str:
    """The domain the stack is configured for (cdk.json), seeded into the emulator by the local cloud."""
    return local.domain_ids[0]


@pytest.fixture(scope="session")
def other_domain_id(local: LocalEnvironment) -> str:
    """A domain the stack is not configured for (Voice ID allows 3 domains per account, so it is shared)."""
    return TrackerDriver(local).create_domain("not-configured")
