"""What the infrastructure shares with the Lambda code: the table's layout, Voice ID's id and S3 URI formats and
the job kinds (their events, IAM actions and names).

The Lambda package under `lambdas/` is their one definition; this module makes it importable for infra.
"""

from __future__ import annotations

import sys

from infra.lambda_assets import LAMBDAS_DIR

if str(LAMBDAS_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_DIR))

from job_tracker import table_schema
from job_tracker.ids import S3_URI, VOICE_ID_RESOURCE_ID
from job_tracker.kinds import JOB_KINDS, SERVICES, JobKind, kinds_of
from job_tracker.kinds.base import BATCH_JOB_RECORDED

__all__ = [
    "BATCH_JOB_RECORDED",
    "JOB_KINDS",
    "S3_URI",
    "SERVICES",
    "VOICE_ID_RESOURCE_ID",
    "JobKind",
    "kinds_of",
    "table_schema",
]
