"""`make bench` imports every handler with an environment of its own: it must still be one each handler's
cold-start validation accepts, or the benchmark fails where the functions would not."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.bench_cold_import import ENVIRONMENT
from job_tracker.settings import (
    DescribeJobSettings,
    RecordFailuresSettings,
    SweepSettings,
    ValidateInputSettings,
    WakeTrackerSettings,
)


@pytest.mark.parametrize(
    "settings",
    [DescribeJobSettings, RecordFailuresSettings, WakeTrackerSettings, SweepSettings, ValidateInputSettings],
)
def test_the_cold_import_benchmark_s_environment_passes_each_handler_s_validation(settings: Any) -> None:
    assert settings.from_env(ENVIRONMENT) is not None
