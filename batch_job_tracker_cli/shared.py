"""What the CLI shares with the tracker's Lambdas: the failures table's layout and the job kinds, as data.

Their one definition is the Lambda package `job_tracker` (its `table_schema` and `kinds` modules, pure and
with no AWS clients). The CLI's wheel installs that package beside `batch_job_tracker_cli`, from `lambdas/`
(pyproject.toml, `package-dir`), so the CLI imports it as any installed package, from a checkout or not.
"""

from __future__ import annotations

from batch_job_tracker_cli.errors import CliError
from job_tracker import table_schema as schema
from job_tracker.kinds import DEFAULT_JOB_KIND, JOB_KINDS, SERVICES, JobKind

__all__ = ["CLI_NAME", "DEFAULT_JOB_KIND", "JOB_KINDS", "SERVICES", "JobKind", "kind_named", "schema"]

# The command's name in what it tells the operator to run (`voiceid-tracker` is its alias from before Bedrock).
CLI_NAME = "batch-job-tracker"


def kind_named(name: str | None) -> JobKind:
    """The kind called `name` (case and `-`/`_` insensitive: `speaker-enrollment` works); None is the default."""
    if name is None:
        return DEFAULT_JOB_KIND
    kind = JOB_KINDS.get(name.strip().upper().replace("-", "_"))
    if kind is None:
        raise CliError(f"unknown job kind {name!r}; the kinds are {', '.join(JOB_KINDS)}")
    return kind
