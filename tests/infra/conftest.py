"""Synthesize the real app in-process, with cdk.json's context plus per-test overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app
from infra.config import STACK_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((REPO_ROOT / "cdk.json").read_text())["context"])


def synth(tmp_path: Path, **overrides: Any) -> tuple[cdk.App, cdk.Stack]:
    context = cdk_json_context()
    context.update({f"tracker:{key}": value for key, value in overrides.items()})
    app = build_app(cdk.App(outdir=str(tmp_path), context=context))
    stack = app.node.find_child(STACK_NAME)
    assert isinstance(stack, cdk.Stack)
    return app, stack


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.App, cdk.Stack, Path]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = synth(outdir)
    app.synth()
    return app, stack, outdir


@pytest.fixture(scope="session")
def template(synthesized: tuple[cdk.App, cdk.Stack, Path]) -> Template:
    return Template.from_stack(synthesized[1])


@pytest.fixture(scope="session")
def template_json(template: Template) -> dict[str, Any]:
    return dict(template.to_json())


def only(template_json: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = [(k, r) for k, r in template_json["Resources"].items() if r["Type"] == resource_type]
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return found[0]


def _placeholder(token: dict[str, Any]) -> str:
    if "Ref" in token:
        return "${" + str(token["Ref"]) + "}"
    if "Fn::GetAtt" in token:
        return "${" + ".".join(token["Fn::GetAtt"]) + "}"
    raise AssertionError(f"unexpected token in the definition: {token}")


def definition(template_json: dict[str, Any]) -> dict[str, Any]:
    """The state machine's ASL, with each CloudFormation token shown as ${LogicalId} or ${LogicalId.Attr}."""
    _, machine = only(template_json, "AWS::StepFunctions::StateMachine")
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return dict(json.loads("".join(part if isinstance(part, str) else _placeholder(part) for part in parts)))
