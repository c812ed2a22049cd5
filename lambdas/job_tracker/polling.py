"""How long the state machine waits before describing a running job again."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from job_tracker.errors import ConfigurationError

# Each poll multiplies the wait by this factor until it reaches the upper bound: a short job is seen
# finishing quickly, and a long one costs few DescribeFraudsterRegistrationJob calls against the
# account-wide 2 TPS shared by every Voice ID batch API.
BACKOFF_FACTOR = 1.5
# Up to this fraction is added at random so that many executions started by one burst of events
# do not poll in lockstep.
JITTER_FRACTION = 0.2


@dataclass(frozen=True)
class PollBounds:
    min_seconds: int
    max_seconds: int

    def __post_init__(self) -> None:
        if self.min_seconds < 1 or self.max_seconds < self.min_seconds:
            raise ConfigurationError(
                f"poll interval bounds must satisfy 1 <= min <= max, got min={self.min_seconds} max={self.max_seconds}"
            )


def next_wait_seconds(poll_count: int, bounds: PollBounds, rng: random.Random | None = None) -> int:
    """Seconds to wait after the `poll_count`-th describe (1-based) of a job that is still running."""
    base = bounds.min_seconds * BACKOFF_FACTOR ** max(poll_count - 1, 0)
    jitter = (rng or random).uniform(0, JITTER_FRACTION) * base
    return int(min(max(base + jitter, bounds.min_seconds), bounds.max_seconds))


Sample = tuple[float, int]
MAX_POLL_SAMPLES = 8
BACKOFF_FRACTION = 0.5
STALL_FACTOR = 3.0
REMAINING_FRACTION = 0.5
NEAR_FACTOR = 0.0
AIM_PAST = 1.1
RESUME_CHECK = True


def append_sample(samples: Sequence[Sample], sample: Sample) -> list[Sample]:
    return [*samples, sample][-MAX_POLL_SAMPLES:]


def _clamp(seconds: float, bounds: PollBounds) -> int:
    return int(min(max(seconds, bounds.min_seconds), bounds.max_seconds))


def _check_samples(samples: Sequence[Sample]) -> None:
    if not samples:
        raise ConfigurationError("no samples")


def plan_next_poll(samples: Sequence[Sample], bounds: PollBounds) -> int:
    _check_samples(samples)
    now, percent = samples[-1]
    if percent == 0:
        return _clamp(BACKOFF_FRACTION * now, bounds)
    run = len(samples) - 1
    while run > 0 and samples[run - 1][1] == percent:
        run -= 1
    run_start = samples[run][0]
    run_seconds = now - run_start
    older = [s for s in samples[:run] if s[1] > 0]
    if older:
        t_a, p_a = older[0]
        t_b, p_b = older[-1]
        rate = max((percent - p_a) / (run_start - t_a), (percent - p_b - 1) / (run_start - t_b), percent / now)
        crossed = max(samples[run - 1][0], run_start - 0.5 / rate)
        prev = run - 1
        while prev > 0 and samples[prev - 1][1] == p_b:
            prev -= 1
        if RESUME_CHECK and run_seconds == 0 and t_b - samples[prev][0] > STALL_FACTOR / rate:
            return bounds.min_seconds
    elif run > 0:
        # Progress began inside the window, at or before run_start
        if run_seconds == 0:
            return bounds.min_seconds
        rate = (percent + 1) / run_seconds
        crossed = now
    elif now > 0:
        rate = percent / now
        crossed = run_start
    else:
        return bounds.min_seconds
    stalled_for = now - crossed
    if stalled_for > STALL_FACTOR / rate:
        return min(
            _clamp(BACKOFF_FRACTION * run_seconds, bounds), _clamp(REMAINING_FRACTION * (99 - percent) / rate, bounds)
        )
    remaining = (100 - percent) / rate - stalled_for
    if remaining <= NEAR_FACTOR * bounds.min_seconds:
        return _clamp(AIM_PAST * remaining, bounds)
    return _clamp(REMAINING_FRACTION * remaining, bounds)
