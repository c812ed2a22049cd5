"""cdk-nag (AwsSolutions) and cfn-lint on the synthesized template."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk.assertions import Annotations, Match

from infra.config import STACK_NAME


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
