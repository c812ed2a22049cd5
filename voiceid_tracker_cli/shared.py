"""What the CLI shares with the tracker's Lambdas: the failures table's layout and the job kinds, as data.

Their one definition is the Lambda package `job_tracker` under `lambdas/` (`table_schema` and `kinds`, pure
modules with no AWS clients). Rather than putting `lambdas/` on `sys.path`, which would make every handler
module (`sweep`, `describe_job`, ...) importable as a top-level name, only the `job_tracker` package is
registered, from its folder, and only its `table_schema` and `kinds` modules are imported from it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from voiceid_tracker_cli.errors import CliError

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"


def _register_job_tracker() -> None:
    if "job_tracker" in sys.modules or importlib.util.find_spec("job_tracker") is not None:
        return  # already importable (the tests and `make bench` put lambdas/ on the path)
    package_dir = LAMBDAS_DIR / "job_tracker"
    spec = importlib.util.spec_from_file_location(
        "job_tracker", package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    if spec is None or spec.loader is None or not package_dir.is_dir():
        raise ImportError(f"voiceid-tracker runs from a checkout of the tracker's repository; {package_dir} is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules["job_tracker"] = module
    spec.loader.exec_module(module)


_register_job_tracker()

from job_tracker import table_schema as schema  # noqa: E402
from job_tracker.kinds import DEFAULT_JOB_KIND, JOB_KINDS, JobKind  # noqa: E402

__all__ = ["DEFAULT_JOB_KIND", "JOB_KINDS", "JobKind", "kind_named", "schema"]


def kind_named(name: str | None) -> JobKind:
    """The kind called `name` (case and `-`/`_` insensitive: `speaker-enrollment` works); None is the default."""
    if name is None:
        return DEFAULT_JOB_KIND
    kind = JOB_KINDS.get(name.strip().upper().replace("-", "_"))
    if kind is None:
        raise CliError(f"unknown job kind {name!r}; the kinds are {', '.join(JOB_KINDS)}")
    return kind
