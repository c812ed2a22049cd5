"""The directory of packages AWS's Python Lambda runtime provides besides the standard library.

In AWS these live in /var/runtime: boto3 and its dependencies. The worker gets exactly these (symlinked
from the venv that runs the local cloud) and nothing else, so code that depends on any other package
works only if the asset bundles it.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from pathlib import Path

# Top-level import names present in the managed Python runtime (boto3 + botocore's dependency closure).
RUNTIME_PACKAGES: tuple[str, ...] = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six",
)


class RuntimePackagesError(RuntimeError):
    """A runtime package is not installed in the venv running the local cloud."""


def _installed_location(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimePackagesError(f"{name} is not installed; the local Lambda runtime needs it")
    origin = Path(spec.origin)
    # A package's origin is its __init__.py; a single-module distribution (six) is the .py file itself.
    return origin.parent if origin.name == "__init__.py" else origin


def build_runtime_packages_dir(target: Path) -> Path:
    """Create (or refresh) ``target`` holding symlinks to the runtime packages; return it.

    Safe when several processes build the same directory at once: each link is created under a unique
    temporary name and renamed into place.
    """
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        source = _installed_location(name)
        link = target / source.name
        if link.is_symlink() and link.resolve() == source.resolve():
            continue
        temporary = target / f".{source.name}.{uuid.uuid4().hex}"
        temporary.symlink_to(source, target_is_directory=source.is_dir())
        os.replace(temporary, link)
    return target
