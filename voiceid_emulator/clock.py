"""Time sources and job pacing.

The clock (`emulator_core.clock`, shared with the Bedrock emulator) stamps CreatedAt/EndedAt and decides when a
background-paced job is due for its next step. Tests can pass a ManualClock and move it forward themselves;
pacing decides whether jobs advance on a background worker (real time, possibly 0 s per step) or only when the
test calls `advance()` / `step_job()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator_core.clock import Clock, ManualClock, ManualPacingError, SystemClock

__all__ = ["Clock", "ManualClock", "ManualPacingError", "Pacing", "SystemClock"]


@dataclass(frozen=True)
class Pacing:
    """How jobs move through SUBMITTED -> IN_PROGRESS -> terminal.

    `manual=True`: nothing moves until `VoiceIdEmulator.advance()` / `step_job()` is called; each
    call is one step (SUBMITTED -> IN_PROGRESS, then one manifest request per step, the last one also
    finishing the job). Otherwise a background worker takes the same steps when they fall due on the
    clock: the job stays SUBMITTED for `submitted_seconds`, then each request takes
    `seconds_per_request`. Zeros mean "as fast as possible".
    """

    submitted_seconds: float = 0.0
    seconds_per_request: float = 0.0
    manual: bool = False

    def __post_init__(self) -> None:
        if self.submitted_seconds < 0 or self.seconds_per_request < 0:
            raise ValueError("pacing durations must be >= 0")

    @classmethod
    def instant(cls) -> Pacing:
        return cls()

    @classmethod
    def manual_steps(cls) -> Pacing:
        return cls(manual=True)

    @classmethod
    def real_time(cls, submitted_seconds: float, seconds_per_request: float) -> Pacing:
        return cls(submitted_seconds=submitted_seconds, seconds_per_request=seconds_per_request)

    def to_api(self) -> dict[str, Any]:
        return {
            "manual": self.manual,
            "submittedSeconds": self.submitted_seconds,
            "secondsPerRequest": self.seconds_per_request,
        }
