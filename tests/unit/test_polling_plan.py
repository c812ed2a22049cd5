"""plan_next_poll: waits within bounds, closing in on the estimated end, backing off when progress says nothing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from job_tracker.polling import (
    BACKOFF_FACTOR,
    MAX_POLL_SAMPLES,
    PollBounds,
    Sample,
    append_sample,
    plan_next_poll,
)

BOUNDS = PollBounds(min_seconds=30, max_seconds=300)


@dataclass(frozen=True)
class Job:
    """A job SUBMITTED (at 0 %) for `submitted` seconds, then running `running` seconds at a steady rate, except
    that the rate is multiplied by `factor` once `change_at` of the work is done."""

    submitted: float
    running: float
    change_at: float = 1.0
    factor: float = 1.0

    @property
    def end(self) -> float:
        return self.submitted + self.running * (self.change_at + (1 - self.change_at) / self.factor)

    def percent(self, at: float) -> int:
        """What Voice ID reports while the job runs: whole percents, below 100."""
        seconds = max(at - self.submitted, 0.0)
        before_change = self.running * self.change_at
        done = min(seconds, before_change) + max(seconds - before_change, 0.0) * self.factor
        return min(99, math.floor(100 * done / self.running))


def follow(job: Job, bounds: PollBounds = BOUNDS) -> tuple[float, int]:
    """Describe the job as the state machine would: the latency from its end to the describe that sees it, and
    the describes made."""
    samples: list[Sample] = []
    at, describes = 0.0, 1
    while at < job.end:
        samples = append_sample(samples, (at, job.percent(at)))
        at += plan_next_poll(samples, bounds)
        describes += 1
    return at - job.end, describes


def window(job: Job, now: float, spacing: float) -> list[Sample]:
    """The samples an execution would carry after describes `spacing` seconds apart up to `now`."""
    times = [now - spacing * back for back in range(MAX_POLL_SAMPLES - 1, -1, -1)]
    return [(at, job.percent(at)) for at in times if at >= 0]


# --- Bounds -------------------------------------------------------------------------------------------------------


@st.composite
def sample_sequences(draw: st.DrawFn) -> list[Sample]:
    """Any samples the checks accept: increasing elapsed times, any whole percent, moving any way."""
    steps = draw(st.lists(st.floats(0.001, 50_000.0), min_size=0, max_size=2 * MAX_POLL_SAMPLES))
    start = draw(st.floats(0.0, 100_000.0))
    times = [start]
    for step in steps:
        times.append(times[-1] + step)
    percents = draw(st.lists(st.integers(0, 100), min_size=len(times), max_size=len(times)))
    return list(zip(times, percents, strict=True))


@st.composite
def poll_bounds(draw: st.DrawFn) -> PollBounds:
    low = draw(st.integers(1, 900))
    return PollBounds(low, draw(st.integers(low, 7_200)))


@settings(max_examples=500, deadline=None)
@given(sample_sequences(), poll_bounds())
def test_every_plan_is_a_whole_number_of_seconds_within_the_bounds(samples: list[Sample], bounds: PollBounds) -> None:
    wait = plan_next_poll(samples, bounds)
    assert type(wait) is int
    assert bounds.min_seconds <= wait <= bounds.max_seconds


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 100), min_size=1, max_size=60), st.floats(1.0, 600.0), poll_bounds())
def test_plans_stay_within_bounds_on_trimmed_samples(percents: list[int], spacing: float, bounds: PollBounds) -> None:
    samples: list[Sample] = []
    for n, percent in enumerate(sorted(percents)):
        samples = append_sample(samples, (n * spacing, percent))
        assert bounds.min_seconds <= plan_next_poll(samples, bounds) <= bounds.max_seconds


# --- Trimming -----------------------------------------------------------------------------------------------------


def test_the_execution_state_holds_a_handful_of_samples() -> None:
    assert 6 <= MAX_POLL_SAMPLES <= 10


def test_append_sample_keeps_only_the_most_recent() -> None:
    samples: list[Sample] = []
    for n in range(MAX_POLL_SAMPLES + 5):
        samples = append_sample(samples, (30.0 * n, n))
    assert samples == [(30.0 * n, n) for n in range(5, MAX_POLL_SAMPLES + 5)]


def test_append_sample_leaves_the_samples_it_was_given_alone() -> None:
    original: list[Sample] = [(0.0, 0)]
    assert append_sample(original, (30.0, 1)) == [(0.0, 0), (30.0, 1)]
    assert original == [(0.0, 0)]


# --- Backoff when progress says nothing ---------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [0, 40])
def test_the_first_describe_is_followed_by_the_shortest_wait(percent: int) -> None:
    assert plan_next_poll([(0.0, percent)], BOUNDS) == BOUNDS.min_seconds


@pytest.mark.parametrize(
    ("elapsed", "expected"), [(30.0, 30), (90.0, 45), (200.0, 100), (400.0, 200), (599.0, 299), (5_000.0, 300)]
)
def test_at_zero_percent_the_wait_grows_with_the_time_since_the_first_describe(elapsed: float, expected: int) -> None:
    assert plan_next_poll([(0.0, 0), (elapsed, 0)], BOUNDS) == expected
    # No counter: a trimmed window that no longer starts at 0.0 gives the same answer.
    trimmed = [(elapsed - 10.0 * back, 0) for back in range(MAX_POLL_SAMPLES - 1, -1, -1) if elapsed - 10.0 * back > 0]
    assert plan_next_poll(trimmed, BOUNDS) == expected


def test_a_job_that_stays_at_zero_is_polled_ever_less_often_up_to_the_maximum() -> None:
    samples: list[Sample] = []
    at, waits = 0.0, []
    for _ in range(3 * MAX_POLL_SAMPLES):
        samples = append_sample(samples, (at, 0))
        waits.append(plan_next_poll(samples, BOUNDS))
        at += waits[-1]
    assert waits == sorted(waits)
    assert waits[0] == BOUNDS.min_seconds
    between_bounds = [(a, b) for a, b in pairwise(waits) if BOUNDS.min_seconds < a and b < BOUNDS.max_seconds]
    assert between_bounds
    assert all(BACKOFF_FACTOR - 0.05 <= b / a <= BACKOFF_FACTOR + 0.05 for a, b in between_bounds)
    assert waits.index(BOUNDS.max_seconds) <= 10
    assert waits[-MAX_POLL_SAMPLES:] == [BOUNDS.max_seconds] * MAX_POLL_SAMPLES


# --- Closing in on the estimated end ------------------------------------------------------------------------------


def test_waits_shrink_as_the_estimated_end_nears() -> None:
    wide = PollBounds(min_seconds=10, max_seconds=3_600)
    job = Job(submitted=0.0, running=3_600.0)  # one percent every 36 s
    waits = []
    for percent in (20, 50, 80, 90, 95):
        now = percent * 36 + 18
        wait = plan_next_poll(window(job, now, spacing=60), wide)
        remaining = job.end - now
        # A fraction of the time left, so a rate that is off by 2x still does not carry a describe past the end.
        assert 0.35 * remaining <= wait <= 0.5 * remaining
        waits.append(wait)
    assert waits == sorted(waits, reverse=True)
    assert len(set(waits)) == len(waits)


@pytest.mark.parametrize("now", [150.0, 160.0])
def test_near_the_end_one_describe_is_aimed_just_past_the_estimated_end(now: float) -> None:
    job = Job(submitted=0.0, running=200.0)
    samples = [*window(job, 120.0, spacing=30), (now, job.percent(now))]
    remaining = job.end - now
    assert remaining < 2 * BOUNDS.min_seconds
    assert remaining < plan_next_poll(samples, BOUNDS) <= 1.2 * remaining


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.floats(0.0, 300.0), st.floats(600.0, 6 * 3_600.0))
def test_a_steady_job_is_seen_ending_within_the_shortest_wait_for_few_describes(
    submitted: float, running: float
) -> None:
    job = Job(submitted, running)
    latency, describes = follow(job)
    assert 0 <= latency <= BOUNDS.min_seconds
    # About one describe per longest wait, plus the backoff while SUBMITTED and the closing-in at the end;
    # describing every min_seconds would take job.end / 30.
    assert describes <= job.end / BOUNDS.max_seconds + 20


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.floats(0.0, 300.0), st.floats(600.0, 6 * 3_600.0), st.floats(0.0, 1.0), st.floats(0.5, 2.0))
def test_a_rate_that_changes_up_to_2x_still_sees_the_end_soon(
    submitted: float, running: float, change_at: float, factor: float
) -> None:
    latency, _ = follow(Job(submitted, running, change_at, factor))
    assert 0 <= latency <= 2.5 * BOUNDS.min_seconds


def test_a_job_that_just_started_moving_is_described_again_soon() -> None:
    assert plan_next_poll([(0.0, 0), (30.0, 0), (60.0, 0), (90.0, 4)], BOUNDS) == BOUNDS.min_seconds


# --- Stalls -------------------------------------------------------------------------------------------------------

# One percent every 10 s up to 40 %, first seen at 400 s, then nothing.
MOVING = [(340.0, 34), (370.0, 37), (400.0, 40)]


@pytest.mark.parametrize("stalled_for", [150.0, 300.0, 450.0])
def test_a_stall_falls_back_to_backoff_from_the_time_without_progress(stalled_for: float) -> None:
    stuck = [(400.0 + stalled_for * n / 5, 40) for n in range(1, 6)]
    wait = plan_next_poll(MOVING + stuck, BOUNDS)
    # Were it still moving at 1 % per 10 s, the job would be overdue and polled every min_seconds.
    assert wait == min(int((BACKOFF_FACTOR - 1) * stalled_for), BOUNDS.max_seconds)
    assert wait > BOUNDS.min_seconds


def test_a_stall_that_outlasts_the_window_keeps_backing_off() -> None:
    stuck = [(400.0 + 100.0 * n, 40) for n in range(MAX_POLL_SAMPLES)]
    assert plan_next_poll(stuck, BOUNDS) == BOUNDS.max_seconds


def test_a_stall_just_short_of_the_end_is_still_polled_often() -> None:
    # What is left takes about 10 s once the job moves again, so the next describe cannot wait long.
    samples = [(340.0, 92), (370.0, 95), (400.0, 98), *((400.0 + 60.0 * n, 98) for n in range(1, 6))]
    assert plan_next_poll(samples, BOUNDS) == BOUNDS.min_seconds


def test_progress_after_a_stall_is_described_again_soon() -> None:
    stuck = [(400.0 + 60.0 * n, 40) for n in range(1, 5)]
    assert plan_next_poll([*MOVING, *stuck, (700.0, 45)], BOUNDS) == BOUNDS.min_seconds


# --- Malformed samples --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ([], "at least one sample"),
        ([(0.0, 0), (0.0, 1)], "must increase"),
        ([(0.0, 0), (60.0, 5), (30.0, 6)], "must increase"),
        ([(-1.0, 0)], ">= 0"),
        ([(math.nan, 0)], "finite"),
        ([(0.0, 0), (math.inf, 5)], "finite"),
        ([(0.0, -1)], "0-100"),
        ([(0.0, 0), (30.0, 101)], "0-100"),
        ([(0.0, 0), (30.0, 5.5)], "whole number"),
        ([(0.0, True)], "whole number"),
    ],
)
def test_malformed_samples_are_rejected_with_the_reason(samples: list[Sample], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_next_poll(samples, BOUNDS)
