"""cdk-nag (AwsSolutions), cfn-lint and checkov on the synthesized template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Annotations, Match

from infra.config import STACK_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
# checkov pins a boto3 that conflicts with requirements-dev.txt, so the Makefile installs it into a venv of
# its own (requirements-checkov.txt).
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def test_cdk_nag_aws_solutions_reports_nothing_unsuppressed(
    synthesized: tuple[cdk.App, cdk.Stack, Path],
) -> None:
    _, stack, _ = synthesized
    annotations = Annotations.from_stack(stack)
    errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert errors == [], [e.entry.data for e in errors]
    assert warnings == [], [w.entry.data for w in warnings]


def test_every_nag_suppression_carries_a_reason(synthesized: tuple[cdk.App, cdk.Stack, Path]) -> None:
    _, _, outdir = synthesized
    (report_file,) = outdir.glob(f"AwsSolutions-*{STACK_NAME}-NagReport.csv")
    report = report_file.read_text().splitlines()
    suppressed = [line for line in report if ',"Suppressed",' in line]
    assert suppressed, "expected the documented suppressions in the nag report"
    for line in suppressed:
        reason = line.split('","')[3]
        assert len(reason) > 30, line


def test_cfn_lint_finds_no_problems(synthesized: tuple[cdk.App, cdk.Stack, Path]) -> None:
    _, _, outdir = synthesized
    result = subprocess.run(
        # W3005: CDK adds an explicit DependsOn on each role's default policy next to the GetAtt; harmless.
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--ignore-checks",
            "W3005",
            "--",
            str(outdir / f"{STACK_NAME}.template.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_fails_nothing_and_every_skip_says_why(synthesized: tuple[cdk.App, cdk.Stack, Path]) -> None:
    _, _, outdir = synthesized
    assert CHECKOV.exists(), f"{CHECKOV} is missing: `make install` creates it (requirements-checkov.txt)"
    result = subprocess.run(
        # --skip-download: no network; checkov then omits guideline links, not checks.
        [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--skip-download", "--compact",
         "--file", str(outdir / f"{STACK_NAME}.template.json")],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [], failed
    assert report["summary"]["passed"] > 100 and report["summary"]["parsing_errors"] == 0, report["summary"]
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment") or ""
        assert len(reason) > 60, (skipped["check_id"], skipped["resource"], reason)
    assert result.returncode == 0, result.stderr
