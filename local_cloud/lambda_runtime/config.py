"""What the local Lambda runtime needs to know about one function."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account, so ARNs agree across services
LAYER_PYTHON_DIR = "python"  # a layer's folder that AWS's Python runtimes put on sys.path (/opt/python)


@dataclass(frozen=True)
class LambdaFunctionConfig:
    """One function: its code directory (the bundled asset), layers, handler and settings from the template."""

    name: str
    handler: str  # "module.function", as in the template's Handler property
    code_dir: Path  # the asset directory, i.e. what AWS unpacks into /var/task
    # Each layer's content, as AWS extracts it into /opt, in the template's order (its python/ folder is
    # importable, as /opt/python is in AWS's Python runtimes).
    layer_dirs: tuple[Path, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 3.0
    memory_mb: int = 128
    runtime: str = "python3.11"
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    role_arn: str | None = None
    """The execution role (the template's ``Role``): the sandbox's credentials name it, so the gateway holds
    the function's calls to its policies. None: credentials of no role (not restricted)."""

    @property
    def layer_python_dirs(self) -> list[Path]:
        """What the layers put on ``sys.path``: each ``python/``, the last layer first (its files win in /opt)."""
        return [layer / LAYER_PYTHON_DIR for layer in reversed(self.layer_dirs)]

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"
