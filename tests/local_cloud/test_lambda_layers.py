"""Lambda layers on the local runtime: each layer of the template is its CDK asset folder, whose python/ is
importable as /opt/python is in AWS, and nothing else is."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_cloud.lambda_runtime import LambdaFunctionConfig, LambdaRuntime
from local_cloud.stack_functions import lambda_function_configs
from local_cloud.template import StackTemplate, TemplateError


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LambdaRuntime]:
    lambdas = LambdaRuntime(state_dir=tmp_path / "state", log_sink=lambda _name, _line: None)
    yield lambdas
    lambdas.close()


def _write(folder: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(textwrap.dedent(content), encoding="utf-8")
    return folder


def _function(tmp_path: Path, source: str, *layers: dict[str, str]) -> LambdaFunctionConfig:
    code = _write(tmp_path / "asset.code", {"app.py": source})
    layer_dirs = tuple(_write(tmp_path / f"asset.layer{n}", files) for n, files in enumerate(layers))
    return LambdaFunctionConfig(name="fn", handler="app.handler", code_dir=code, layer_dirs=layer_dirs)


def _invoke(runtime: LambdaRuntime, config: LambdaFunctionConfig) -> tuple[str | None, Any]:
    runtime.register(config)
    result = runtime.invoke(config.name, b"{}")
    return result.function_error, json.loads(result.payload)


USES_GREETING = """
    import greeting

    def handler(event, context):
        return greeting.WORDS
"""


def test_a_layers_modules_import_from_its_python_folder(runtime: LambdaRuntime, tmp_path: Path) -> None:
    config = _function(tmp_path, USES_GREETING, {"python/greeting/__init__.py": "WORDS = 'from the layer'\n"})
    assert _invoke(runtime, config) == (None, "from the layer")


def test_a_module_missing_from_the_function_and_its_layers_fails_like_in_aws(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # The layer has the module, but outside python/: AWS would not import it from there either.
    config = _function(tmp_path, USES_GREETING, {"greeting/__init__.py": "WORDS = 'misplaced'\n"})
    error, payload = _invoke(runtime, config)
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'greeting'" in payload["errorMessage"]


def test_a_later_layer_wins_as_in_opt(runtime: LambdaRuntime, tmp_path: Path) -> None:
    config = _function(
        tmp_path,
        USES_GREETING,
        {"python/greeting.py": "WORDS = 'first layer'\n"},
        {"python/greeting.py": "WORDS = 'second layer'\n"},
    )
    assert _invoke(runtime, config) == (None, "second layer")


def test_a_layer_folder_that_does_not_exist_is_refused(runtime: LambdaRuntime, tmp_path: Path) -> None:
    config = _function(tmp_path, USES_GREETING)
    missing = LambdaFunctionConfig(
        name="fn", handler="app.handler", code_dir=config.code_dir, layer_dirs=(tmp_path / "asset.gone",)
    )
    with pytest.raises(FileNotFoundError, match="layer directory"):
        runtime.register(missing)


def _template(layers: list[Any]) -> StackTemplate:
    return StackTemplate(
        {
            "Resources": {
                "Deps": {
                    "Type": "AWS::Lambda::LayerVersion",
                    "Properties": {"Content": {"S3Bucket": "b", "S3Key": "k.zip"}},
                    "Metadata": {"aws:asset:path": "asset.deps"},
                },
                "Fn": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {"Runtime": "python3.14", "Handler": "app.handler", "Layers": layers},
                    "Metadata": {"aws:asset:path": "asset.code"},
                },
            }
        },
        stack_name="s",
    )


def test_each_layer_of_the_template_is_its_asset_folder_in_cdk_out(tmp_path: Path) -> None:
    stack = _template([{"Ref": "Deps"}])
    (config,) = lambda_function_configs(stack, tmp_path)
    assert config.code_dir == tmp_path / "asset.code"
    assert config.layer_dirs == (tmp_path / "asset.deps",)
    assert config.layer_python_dirs == [tmp_path / "asset.deps" / "python"]
    assert stack.resource_report().unknown == []


def test_a_layer_that_is_not_an_asset_of_the_stack_stops_the_deployment(tmp_path: Path) -> None:
    managed = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"
    with pytest.raises(TemplateError, match=re.escape(f"Fn: layer '{managed}' is not a layer of this stack")):
        lambda_function_configs(_template([managed]), tmp_path)
