"""What deploys: the code asset and the dependency layer CDK bundled, as the template names them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from infra.config import STACK_NAME
from infra.lambda_assets import LAYER_PYTHON_DIR, PACKAGES
from local_cloud.lambda_runtime.packages import build_runtime_packages_dir

# Example values for what the template sets (infra/constructs/functions.py).
ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "POWERTOOLS_SERVICE_NAME": "voiceid-job-tracker",
    "POWERTOOLS_METRICS_NAMESPACE": "VoiceIdJobTracker",
    "MIN_POLL_SECONDS": "30",
    "MAX_POLL_SECONDS": "300",
    "FAILURES_TABLE_NAME": "failures",
    "RETENTION_DAYS": "90",
    "VOICE_ID_DOMAIN_IDS": "ExampleDomainId0000001",
    "SWEEP_LOOKBACK_DAYS": "7",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:VoiceIdJobTracker-Tracker",
    # The retry dispatcher's (infra/constructs/bedrock_retries.py), in a template with tracker:bedrockRetryPolicy.
    "BEDROCK_RETRY_POLICY": '{"retryCodes":[429],"maxAttempts":3,"poolWaitSeconds":60,"maxJobsInFlightPerModel":5,'
    '"maxRecordsPerDay":100}',
    "BEDROCK_RETRY_INPUT_LOCATION": "s3://example-bedrock/retries/",
    "RETRY_JOB_NAME_PREFIXES": "tracked-",
    "BEDROCK_MIN_RECORDS_PER_JOB": "100",
    "SETTLED_EVENT_SOURCE": "voiceid.job-tracker",
}


def _resources(template_json: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template_json["Resources"].items() if r["Type"] == resource_type}


@pytest.fixture(scope="module")
def assets(synthesized: tuple[cdk.App, cdk.Stack, Path], template_json: dict[str, Any]) -> dict[str, Any]:
    """The code asset's folder and each layer's (by logical id) in the synthesized cdk.out, found as CDK
    publishes them: the template's S3 key -> the asset manifest's source folder."""
    _, _, outdir = synthesized
    manifest = json.loads((outdir / f"{STACK_NAME}.assets.json").read_text())
    folder_of = {
        destination["objectKey"]: outdir / asset["source"]["path"]
        for asset in manifest["files"].values()
        for destination in asset["destinations"].values()
    }
    functions = _resources(template_json, "AWS::Lambda::Function")
    (code,) = {folder_of[function["Properties"]["Code"]["S3Key"]] for function in functions.values()}
    layers = {
        logical_id: folder_of[layer["Properties"]["Content"]["S3Key"]]
        for logical_id, layer in _resources(template_json, "AWS::Lambda::LayerVersion").items()
    }
    return {"code": code, "layers": layers, "functions": functions}


def _files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def test_every_function_runs_the_one_code_asset_with_the_dependency_layer(assets: dict[str, Any]) -> None:
    (layer_id,) = assets["layers"]
    for function in assets["functions"].values():
        assert function["Properties"]["Layers"] == [{"Ref": layer_id}]
    assert sorted(path.name for path in assets["code"].iterdir()) == sorted(PACKAGES)


def test_the_code_asset_is_within_one_mib(assets: dict[str, Any]) -> None:
    size = sum(path.stat().st_size for path in _files(assets["code"]))
    assert size <= 1024 * 1024, f"code asset is {size / 1024:.0f} KiB"


def test_no_xray_sdk_deploys(assets: dict[str, Any]) -> None:
    for folder in [assets["code"], *assets["layers"].values()]:
        found = [path for path in folder.rglob("*") if path.name.startswith(("aws_xray_sdk", "wrapt"))]
        assert found == [], found


def test_the_layer_is_pure_python_under_python(assets: dict[str, Any]) -> None:
    # Lambda mounts a layer at /opt and imports from /opt/python. Pure Python also means the local cloud can
    # run the layer exactly as bundled for arm64 (local_cloud/stack_functions.py maps the layer to it).
    for layer in assets["layers"].values():
        assert [path.name for path in layer.iterdir()] == [LAYER_PYTHON_DIR]
        compiled = [path for path in _files(layer) if path.suffix in {".so", ".pyd"}]
        assert compiled == [], compiled
        assert (layer / LAYER_PYTHON_DIR / "aws_lambda_powertools" / "__init__.py").is_file()
        assert not (layer / LAYER_PYTHON_DIR / "aws_lambda_powertools" / "event_handler").exists()


def test_each_function_imports_its_handler_from_its_code_and_layers_alone(
    assets: dict[str, Any], tmp_path: Path
) -> None:
    """As in Lambda: only the code asset, the function's layers (/opt/python) and the runtime's boto3 are
    importable - so the layer's pruning left out nothing a handler imports - and the X-Ray SDK never loads."""
    runtime = build_runtime_packages_dir(tmp_path / "runtime")
    handlers = set()
    for function in assets["functions"].values():
        properties = function["Properties"]
        module = properties["Handler"].rsplit(".", 1)[0]
        handlers.add(module)
        layers = [str(assets["layers"][layer["Ref"]] / LAYER_PYTHON_DIR) for layer in properties["Layers"]]
        code = (
            f"import sys; sys.path[:0] = {[str(assets['code']), *layers, str(runtime)]!r}\n"
            f"import {module}\n"
            "loaded = sorted({name.split('.')[0] for name in sys.modules})\n"
            "assert 'aws_xray_sdk' not in loaded and 'wrapt' not in loaded, loaded\n"
        )
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", code],
            env=ENVIRONMENT,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{module}: {result.stderr}"
    assert {"describe_job.handler", "record_failures.handler", "wake_tracker.handler", "sweep.handler"} <= handlers
