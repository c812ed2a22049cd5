"""Each function's environment, read and validated once at cold start.

A missing or malformed variable raises ConfigurationError naming it, so a bad deployment fails on its
first invocation with a message an operator can act on, not deep inside a job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from job_tracker.errors import ConfigurationError
from job_tracker.polling import PollBounds


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _positive_int(env: Mapping[str, str], name: str) -> int:
    raw = _required(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigurationError(f"environment variable {name} must be at least 1, got {value}")
    return value


@dataclass(frozen=True)
class DescribeJobSettings:
    poll_bounds: PollBounds

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DescribeJobSettings:
        return cls(
            poll_bounds=PollBounds(
                min_seconds=_positive_int(env, "MIN_POLL_SECONDS"),
                max_seconds=_positive_int(env, "MAX_POLL_SECONDS"),
            )
        )


@dataclass(frozen=True)
class RecordFailuresSettings:
    table_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RecordFailuresSettings:
        return cls(table_name=_required(env, "FAILURES_TABLE_NAME"))
