"""describe_job carries the progress samples from poll to poll and plans the next wait from them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from job_tracker.adapters.voiceid import VoiceIdJobDescriber
from job_tracker.errors import InvalidJobRequest
from job_tracker.polling import MAX_POLL_SAMPLES, PollBounds, plan_next_poll
from job_tracker.tracking import describe_job
from tests.unit.conftest import DOMAIN_ID, JOB_ID, REGION
from tests.unit.test_voiceid_adapter import REQUEST, api_job

BOUNDS = PollBounds(30, 300)


@pytest.fixture
def stubbed() -> Iterator[tuple[VoiceIdJobDescriber, Stubber]]:
    client = boto3.client("voice-id", region_name=REGION, config=Config(retries={"max_attempts": 1}))
    with Stubber(client) as stubber:
        yield VoiceIdJobDescriber(client), stubber


def poll(
    stubbed: tuple[VoiceIdJobDescriber, Stubber], state: dict[str, Any], percent: int, at: float
) -> dict[str, Any]:
    describer, stubber = stubbed
    stubber.add_response(
        "describe_fraudster_registration_job",
        {"Job": api_job("IN_PROGRESS", JobProgress={"PercentComplete": percent})},
        REQUEST,
    )
    return describe_job({**REQUEST, **state}, describer, BOUNDS, random.Random(3), clock=lambda: at)


def test_samples_accumulate_from_the_first_describe_and_stay_bounded(
    stubbed: tuple[VoiceIdJobDescriber, Stubber],
) -> None:
    state: dict[str, Any] = {"PollCount": 0, "Polling": {}}
    for n in range(MAX_POLL_SAMPLES + 3):
        answer = poll(stubbed, state, percent=n * 5, at=1_000.0 + 60 * n)
        state = {"PollCount": answer["PollCount"], "Polling": answer["Polling"]}
    samples = state["Polling"]["Samples"]
    assert state["Polling"]["FirstDescribedAt"] == 1_000.0
    assert len(samples) == MAX_POLL_SAMPLES
    assert samples[-1] == [60.0 * (MAX_POLL_SAMPLES + 2), 5 * (MAX_POLL_SAMPLES + 2)]
    assert samples[0] == [60.0 * 3, 15]
    assert state["PollCount"] == MAX_POLL_SAMPLES + 3


def test_the_wait_is_the_plan_shortened_by_at_most_ten_percent(stubbed: tuple[VoiceIdJobDescriber, Stubber]) -> None:
    polling = {"FirstDescribedAt": 0.0, "Samples": [[0.0, 10], [600.0, 40]]}
    answer = poll(stubbed, {"PollCount": 2, "Polling": polling}, percent=70, at=1_200.0)
    planned = plan_next_poll([(0.0, 10), (600.0, 40), (1200.0, 70)], BOUNDS)
    assert max(BOUNDS.min_seconds, int(planned * 0.9)) <= answer["WaitSeconds"] <= planned


@pytest.mark.parametrize(
    ("polling", "text"),
    [
        ("soon", "Polling must be an object"),
        ({"FirstDescribedAt": "yesterday"}, "FirstDescribedAt"),
        ({"Samples": [[1, 2, 3]]}, "pairs"),
        ({"Samples": [[0, 1]] * (MAX_POLL_SAMPLES + 1)}, "at most"),
    ],
)
def test_a_malformed_polling_state_is_rejected_before_voice_id_is_called(
    stubbed: tuple[VoiceIdJobDescriber, Stubber], polling: Any, text: str
) -> None:
    describer, stubber = stubbed
    with pytest.raises(InvalidJobRequest, match=text):
        describe_job({"DomainId": DOMAIN_ID, "JobId": JOB_ID, "Polling": polling}, describer, BOUNDS)
    stubber.assert_no_pending_responses()
