"""Fixtures for the local cloud tests.

Integration tests share ONE running local cloud per xdist worker (session scope) and are grouped with
``xdist_group("local_cloud")`` so ``--dist loadgroup`` runs them on the same worker. Every service listens
on a free port of 127.0.0.1 and all files live under pytest's tmp paths, so parallel runs do not collide.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from local_cloud.cloud import LocalCloud
from local_cloud.lambda_runtime import LambdaFunctionConfig
from tests.local_cloud.iam_roles import Roles


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(state_dir=tmp_path_factory.mktemp("local-cloud")) as running:
        yield running


@pytest.fixture
def make_function(cloud: LocalCloud, tmp_path: Path) -> Callable[..., LambdaFunctionConfig]:
    """Write a one-file asset (``app.py``) and register it under a unique name; returns its config."""

    def make(
        source: str, *, timeout_seconds: float = 10.0, extra_files: dict[str, str] | None = None
    ) -> LambdaFunctionConfig:
        name = f"fn-{uuid.uuid4().hex[:12]}"
        asset = tmp_path / f"asset.{name}"
        asset.mkdir()
        (asset / "app.py").write_text(textwrap.dedent(source), encoding="utf-8")
        for relative, content in (extra_files or {}).items():
            (asset / relative).parent.mkdir(parents=True, exist_ok=True)
            (asset / relative).write_text(textwrap.dedent(content), encoding="utf-8")
        config = LambdaFunctionConfig(
            name=name, handler="app.handler", code_dir=asset, timeout_seconds=timeout_seconds, environment={}
        )
        cloud.lambdas.register(config)
        return config

    return make


@pytest.fixture
def roles(cloud: LocalCloud) -> Iterator[Roles]:
    """Roles whose policies the gateway enforces for this test; cleared after it."""
    cloud.authorizer.clear_denials()
    try:
        yield Roles(cloud)
    finally:
        cloud.iam.clear()  # the other tests of the shared cloud run unrestricted
