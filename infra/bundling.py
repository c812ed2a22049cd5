"""Hand the Lambda assets to CDK: local bundling (no Docker) with the builders of `infra/lambda_assets.py`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.lambda_assets import LAMBDAS_DIR, build_code_asset, build_dependency_layer, layer_asset_hash

__all__ = ["LAMBDAS_DIR", "dependency_layer_code", "lambda_code"]


@jsii.implements(ILocalBundling)
class _LocalBundler:
    """CDK calls `try_bundle` before falling back to Docker; returning True means Docker is never needed."""

    def __init__(self, build: Callable[[Path], None]) -> None:
        self._build = build

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        self._build(Path(output_dir))
        return True


def _bundling(build: Callable[[Path], None]) -> BundlingOptions:
    # The image is never pulled: local bundling always succeeds. CDK requires one to be named.
    return BundlingOptions(
        image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"), local=_LocalBundler(build)
    )


def lambda_code() -> lambda_.Code:
    """The shared code asset. Its hash covers the source folder, so CDK re-bundles when the code changes."""
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        exclude=["**/__pycache__", "**/*.pyc", "requirements.txt"],
        bundling=_bundling(build_code_asset),
    )


def dependency_layer_code() -> lambda_.Code:
    """The dependency layer's asset, hashed on its recipe (see `layer_asset_hash`), not on our code."""
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=layer_asset_hash(),
        bundling=_bundling(build_dependency_layer),
    )
