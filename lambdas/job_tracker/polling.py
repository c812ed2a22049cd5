"""How long the state machine waits before describing a running job again."""

from __future__ import annotations

import random
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
