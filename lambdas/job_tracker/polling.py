"""How long the state machine waits before describing a running job again."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from job_tracker.errors import ConfigurationError

# Each poll multiplies the wait by this factor until it reaches the upper bound: a short job is seen
# finishing quickly, and a long one costs few DescribeFraudsterRegistrationJob calls against the
# account-wide 2 TPS shared by every Voice ID batch API.
BACKOFF_FACTOR = 1.5


@dataclass(frozen=True)
class PollBounds:
    min_seconds: int
    max_seconds: int

    def __post_init__(self) -> None:
        if self.min_seconds < 1 or self.max_seconds < self.min_seconds:
            raise ConfigurationError(
                f"poll interval bounds must satisfy 1 <= min <= max, got min={self.min_seconds} max={self.max_seconds}"
            )


# One describe as the execution remembers it: (seconds since the execution's first describe, PercentComplete).
Sample = tuple[float, int]

# The execution's state carries only this many recent samples, so it stays small however long the job runs. The
# planner needs no more: the last few percent ticks give the current rate, and each sample's elapsed time counts
# from the execution's first describe, so the time spent without news survives the trimming.
MAX_POLL_SAMPLES = 8
# Wait at most this share of the estimated time left: the rate drifts, and an estimate up to 2x too long then
# still puts the next describe at or before the real end rather than past it.
REMAINING_FRACTION = 0.5
# Once the estimated end is within this many minimum waits, one describe is aimed just past it (AIM_PAST_END
# times the estimate) rather than halving the distance again: a correct estimate then costs one describe, and an
# end that comes at half the estimate is still seen about min_seconds late.
NEAR_END_MIN_WAITS = 2
AIM_PAST_END = 1.1
# PercentComplete not moving for this many times the expected time per percent is a stall, not slow progress:
# 2x for drift, one more because PercentComplete is a whole number.
STALL_FACTOR = 3.0


def append_sample(samples: Sequence[Sample], sample: Sample) -> list[Sample]:
    """Add the describe just made, dropping the oldest so the execution's state stays bounded."""
    return [*samples, sample][-MAX_POLL_SAMPLES:]


def plan_next_poll(samples: Sequence[Sample], bounds: PollBounds) -> int:
    """Seconds to wait before the next describe, planned from how PercentComplete has moved.

    A job's end is only seen at a describe, and every describe spends the 2 TPS that all Voice ID batch APIs
    share in the account. So describes go where the end may be: the end is extrapolated from the recent rate of
    PercentComplete, and each wait covers half the estimated time left, so describes close in on the end (a few
    per job) and see it about `bounds.min_seconds` after it happens. When progress tells nothing (still 0 %, or no
    movement for several times the expected tick), the wait backs off with the time spent without news, at the
    x1.5 pace of a classic backoff but with no counter to carry.

    `samples` are the last describes, oldest first, as `append_sample` keeps them. A job already under way when
    the execution started makes the lifetime rate look faster than it is, which only brings describes earlier.
    Raises ValueError for samples that no sequence of describes could have produced.
    """
    _check_samples(samples)
    now, percent = samples[-1]
    if percent == 0:
        # SUBMITTED, or running but short of 1 %: nothing to extrapolate from yet.
        return _backoff(now, bounds)
    run = _run_start(samples, len(samples) - 1)
    run_start = samples[run][0]
    moving = [sample for sample in samples[:run] if sample[1] > 0]
    if moving:
        (first_at, first_percent), (last_at, last_percent) = moving[0], moving[-1]
        # The fastest of three readings, since reading too fast costs a describe and reading too slow sees the end
        # late: the window's mean, counted one percent up (whole percents can be almost one short); the last jump,
        # counted one down so that a single tick between close describes does not pass for a burst; and the
        # lifetime mean.
        rate = max(
            (percent - first_percent + 1) / (run_start - first_at),
            (percent - last_percent - 1) / (run_start - last_at),
            percent / now,
        )
        previous = _run_start(samples, run - 1)
        if now == run_start and samples[run - 1][0] - samples[previous][0] > STALL_FACTOR / rate:
            # It just moved again after a stall, at an unknown moment, so the jump says little about the rate.
            return bounds.min_seconds
    elif now == run_start:
        # Progress began since the last describe, at an unknown moment: one more sample gives a rate.
        return bounds.min_seconds
    elif run > 0:
        # Progress began inside the window, and the next percent has not come in the time this one has lasted.
        rate = (percent + 1) / (now - run_start)
    else:
        # The whole window sits at one percent: only the lifetime mean is left.
        rate = percent / now
    if (moving or run == 0) and now - run_start > STALL_FACTOR / rate:
        # Stalled (a rate read off the current percent's own duration cannot tell). It may resume at any moment,
        # but the work left still takes its time once it does, so that bounds the backoff.
        left_after_resuming = (99 - percent) / rate
        return min(_backoff(now - run_start, bounds), _clamp(REMAINING_FRACTION * left_after_resuming, bounds))
    # The current percent was reached after the previous describe, and at most one percent's time before the
    # first describe that saw it. Counting from the earliest such moment keeps a describe aimed at the end from
    # landing late when describes are sparse.
    reached = max(samples[run - 1][0] if run > 0 else -math.inf, run_start - 1 / rate)
    remaining = (100 - percent) / rate - (now - reached)
    if remaining <= NEAR_END_MIN_WAITS * bounds.min_seconds:
        return _clamp(AIM_PAST_END * remaining, bounds)
    return _clamp(REMAINING_FRACTION * remaining, bounds)


def _run_start(samples: Sequence[Sample], last: int) -> int:
    # The first of the samples up to `last` that report the same percent as `last`.
    first = last
    while first > 0 and samples[first - 1][1] == samples[last][1]:
        first -= 1
    return first


def _backoff(seconds_without_news: float, bounds: PollBounds) -> int:
    # A fixed share of the time already spent without news grows the waits geometrically, as a counter would.
    return _clamp((BACKOFF_FACTOR - 1) * seconds_without_news, bounds)


def _clamp(seconds: float, bounds: PollBounds) -> int:
    return int(min(max(seconds, bounds.min_seconds), bounds.max_seconds))


def _check_samples(samples: Sequence[Sample]) -> None:
    # The samples come back from the execution's state; a broken one would silently skew every later plan.
    if not samples:
        raise ValueError("plan_next_poll needs at least one sample: the describe just made")
    previous = -math.inf
    for index, (elapsed, percent) in enumerate(samples):
        if not math.isfinite(elapsed) or elapsed < 0:
            raise ValueError(f"sample {index}: elapsed seconds must be finite and >= 0, got {elapsed!r}")
        if elapsed <= previous:
            raise ValueError(f"sample {index}: elapsed seconds must increase, got {elapsed!r} after {previous!r}")
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ValueError(f"sample {index}: PercentComplete must be a whole number 0-100, got {percent!r}")
        previous = elapsed
