"""A local Amazon S3 Batch Operations service (the S3 Control job APIs) whose tasks really run on S3 and Lambda;
see README.md.

"s3batch-facts §N" in comments refers to a section of docs/s3batch-facts.md, the sourced fact sheet it follows
(from ../shared/s3batch/FACTS.md).
"""

from emulator_core.clock import Clock, ManualClock, ManualPacingError, SystemClock
from s3batch_emulator.emulator import Admin, S3BatchEmulator
from s3batch_emulator.errors import S3BatchError
from s3batch_emulator.jobs import Pacing
from s3batch_emulator.reports import REPORT_SCHEMA
from s3batch_emulator.store import ALL_STATUSES, TERMINAL_STATUSES, Quotas

__all__ = [
    "ALL_STATUSES",
    "REPORT_SCHEMA",
    "TERMINAL_STATUSES",
    "Admin",
    "Clock",
    "ManualClock",
    "ManualPacingError",
    "Pacing",
    "Quotas",
    "S3BatchEmulator",
    "S3BatchError",
    "SystemClock",
]
