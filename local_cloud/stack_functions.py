"""Lambda function configurations from a synthesized template and its ``cdk.out`` asset directories."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_cloud.lambda_runtime import LambdaFunctionConfig
from local_cloud.template import StackTemplate, TemplateError

_DEFAULT_TIMEOUT_SECONDS = 3
_DEFAULT_MEMORY_MB = 128


def _unsupported_reason(properties: dict[str, Any], asset_path: object) -> str | None:
    if properties.get("PackageType") == "Image":
        return "container image functions are not supported locally"
    if not asset_path:
        return "no aws:asset:path metadata (inline or pre-uploaded code is not supported locally)"
    runtime = str(properties.get("Runtime", ""))
    if not runtime.startswith("python"):
        return f"runtime {runtime!r} is not a Python runtime"
    return None


def _layer_dirs(stack: StackTemplate, function_id: str, cdk_out: Path) -> tuple[Path, ...]:
    """Each layer of the function, as the folder CDK bundled it into (``<cdk_out>/<aws:asset:path>``).

    A layer must be an ``AWS::Lambda::LayerVersion`` of the same template with a local asset: a layer named
    by ARN (an AWS-managed layer, or one of another stack) has no local copy, so the function could not
    import what it needs from it, and the deployment stops instead.
    """
    layers = (stack.resources[function_id].get("Properties") or {}).get("Layers") or []
    found = []
    for layer in layers:
        ref = layer.get("Ref") if isinstance(layer, Mapping) and len(layer) == 1 else None
        if not isinstance(ref, str) or ref not in stack.resources:
            raise TemplateError(
                f"Lambda function {function_id}: layer {stack.resolve(layer)!r} is not a layer of this stack; "
                "the local cloud has no copy of it"
            )
        if stack.resource_type(ref) != "AWS::Lambda::LayerVersion":
            raise TemplateError(f"Lambda function {function_id}: layer {ref} is a {stack.resource_type(ref)}")
        asset_path = (stack.resources[ref].get("Metadata") or {}).get("aws:asset:path")
        if not asset_path:
            raise TemplateError(
                f"Lambda function {function_id}: layer {ref} has no aws:asset:path metadata (only layers "
                "bundled by CDK run locally)"
            )
        found.append(cdk_out / str(asset_path))
    return tuple(found)


def lambda_function_configs(stack: StackTemplate, cdk_out: Path) -> list[LambdaFunctionConfig]:
    """One config per ``AWS::Lambda::Function`` the stack creates.

    The code directory is ``<cdk_out>/<Metadata["aws:asset:path"]>`` - the bundled asset CDK uploads -
    and each layer's directory likewise that of its ``AWS::Lambda::LayerVersion``. Functions the local
    runtime cannot run faithfully (no asset, container images, non-Python runtimes, layers that are not
    assets of the stack) raise :class:`TemplateError` naming the function instead of being skipped.
    """
    configs = []
    for logical_id in stack.resource_ids("AWS::Lambda::Function"):
        if not stack.is_created(logical_id):
            continue
        properties = stack.resolved_properties(logical_id)
        metadata = stack.resources[logical_id].get("Metadata") or {}
        asset_path = metadata.get("aws:asset:path")
        runtime = str(properties.get("Runtime", ""))
        problem = _unsupported_reason(properties, asset_path)
        if problem:
            raise TemplateError(f"Lambda function {logical_id}: {problem}")
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        configs.append(
            LambdaFunctionConfig(
                name=stack.physical_name(logical_id),
                handler=str(properties["Handler"]),
                code_dir=cdk_out / str(asset_path),
                layer_dirs=_layer_dirs(stack, logical_id, cdk_out),
                environment={key: str(value) for key, value in variables.items()},
                timeout_seconds=float(properties.get("Timeout", _DEFAULT_TIMEOUT_SECONDS)),
                memory_mb=int(properties.get("MemorySize", _DEFAULT_MEMORY_MB)),
                runtime=runtime,
                region=stack.region,
                account_id=stack.account_id,
                role_arn=str(properties["Role"]) if properties.get("Role") else None,
            )
        )
    return configs
