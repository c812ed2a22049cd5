"""The CLI's names from before Bedrock keep working. The package `voiceid_tracker_cli` still imports and runs:
the same module objects as `batch_job_tracker_cli`, so that scripts importing or monkeypatching the old names
keep working. The environment variables VOICEID_TRACKER_LOCAL_OUTPUTS and VOICEID_TRACKER_STACK are still
read, and BATCH_JOB_TRACKER_* wins when both are set."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import batch_job_tracker_cli
import batch_job_tracker_cli.records
from batch_job_tracker_cli.app import Options, app
from batch_job_tracker_cli.target import (
    LOCAL_OUTPUTS_ENV,
    OLD_LOCAL_OUTPUTS_ENV,
    OLD_STACK_ENV,
    STACK_ENV,
    local_outputs_path,
)


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


def test_the_local_outputs_variable_is_read_under_its_new_and_old_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (LOCAL_OUTPUTS_ENV, OLD_LOCAL_OUTPUTS_ENV) == (
        "BATCH_JOB_TRACKER_LOCAL_OUTPUTS",
        "VOICEID_TRACKER_LOCAL_OUTPUTS",
    )
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    monkeypatch.delenv(LOCAL_OUTPUTS_ENV, raising=False)
    monkeypatch.setenv(OLD_LOCAL_OUTPUTS_ENV, str(old))
    assert local_outputs_path(tmp_path) == old
    monkeypatch.setenv(LOCAL_OUTPUTS_ENV, str(new))
    assert local_outputs_path(tmp_path) == new
    monkeypatch.delenv(OLD_LOCAL_OUTPUTS_ENV)
    assert local_outputs_path(tmp_path) == new


@pytest.mark.parametrize(
    ("environment", "stack"),
    [
        ({OLD_STACK_ENV: "OldName"}, "OldName"),
        ({STACK_ENV: "NewName"}, "NewName"),
        ({STACK_ENV: "NewName", OLD_STACK_ENV: "OldName"}, "NewName"),
    ],
    ids=["old", "new", "both"],
)
def test_the_stack_variable_is_read_under_its_new_and_old_names(environment: dict[str, str], stack: str) -> None:
    assert (STACK_ENV, OLD_STACK_ENV) == ("BATCH_JOB_TRACKER_STACK", "VOICEID_TRACKER_STACK")
    options = Options()
    # The group's options are resolved before the command's --help ends the run: nothing reaches AWS.
    unset: dict[str, str | None] = {STACK_ENV: None, OLD_STACK_ENV: None}
    result = CliRunner(env={**unset, **environment}).invoke(app, ["jobs", "--help"], obj=options)
    assert result.exit_code == 0, result.output
    assert options.stack == stack
