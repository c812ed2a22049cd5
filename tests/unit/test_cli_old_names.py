"""The CLI package's name before Bedrock, `voiceid_tracker_cli`, still imports and runs: the same module
objects as `batch_job_tracker_cli`, so that scripts importing or monkeypatching the old names keep working."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import batch_job_tracker_cli
import batch_job_tracker_cli.records


def test_every_module_of_the_package_is_the_same_object_under_the_old_name() -> None:
    names = [module.name for module in pkgutil.iter_modules(batch_job_tracker_cli.__path__)]
    assert {"app", "records", "shared", "target"} <= set(names)
    for name in names:
        if name == "__main__":
            continue
        assert importlib.import_module(f"voiceid_tracker_cli.{name}") is importlib.import_module(
            f"batch_job_tracker_cli.{name}"
        ), name


def test_from_the_old_package_import_a_module_and_a_name() -> None:
    from voiceid_tracker_cli.records import JobRecord  # type: ignore[import-not-found]

    from voiceid_tracker_cli import records

    assert records is batch_job_tracker_cli.records
    assert JobRecord is batch_job_tracker_cli.records.JobRecord


def test_python_dash_m_runs_the_cli_under_both_names() -> None:
    for package in ("batch_job_tracker_cli", "voiceid_tracker_cli"):
        result = subprocess.run(
            [sys.executable, "-m", package, "--help"], capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 0, (package, result.stderr)
        assert "failures-by-code" in result.stdout, package
