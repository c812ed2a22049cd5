"""What goes into the Lambda code asset and its dependency layer, built without Docker or CDK.

The functions share two assets:

- the **code asset**: our packages only (`job_tracker` and the handler packages), under 100 KB;
- the **dependency layer**: the pinned arm64 wheels of `lambdas/requirements.txt`, under `python/` as Lambda
  mounts a layer at `/opt/python`, pruned to what the handlers import at run time.

The wheels are installed once per requirements file into `.cache/`, so a re-synth after a code change only
copies files, and the layer's asset hash changes only with the pins, the platform or the pruning below.
`infra/bundling.py` hands these builders to CDK; `benchmarks/bench_cold_import.py` and the tests call them
directly (this module imports no CDK, so they need no jsii).
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = REPO_ROOT / "lambdas"
REQUIREMENTS = LAMBDAS_DIR / "requirements.txt"
PACKAGES = (
    "job_tracker",
    "describe_job",
    "record_failures",
    "wake_tracker",
    "sweep",
    "validate_input",
    "retry_dispatcher",
)
CACHE_DIR = REPO_ROOT / ".cache" / "lambda-dependencies"
LAYER_PYTHON_DIR = "python"  # Lambda mounts a layer at /opt; /opt/python is on the Python runtimes' sys.path

# The deployed runtime; wheels are chosen for it, not for the machine running `cdk synth`.
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.14"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt")

# What of each installed distribution the layer keeps (paths relative to the package folder); packages not
# named here are kept whole. Powertools ships 3.6 MB, mostly the event handler and utilities this code never
# imports. The handlers use Logger and Metrics (LambdaContext only for type checking); these are the modules
# Python imports for them. The package's __init__ also imports the Tracer module, which would load the X-Ray
# SDK only when a Tracer is created: none is, and the SDK is not in the layer. `tests/infra/test_assets.py`
# imports every handler from the code asset and this layer alone, so a handler that needs more fails there.
LAYER_KEEPS: Mapping[str, tuple[str, ...]] = {
    "aws_lambda_powertools": (
        "__init__.py",
        "package_logger.py",
        "py.typed",
        "exceptions",
        "warnings",
        "logging",
        "metrics",
        "shared",
        "tracing",
        "utilities/__init__.py",
        "utilities/jmespath_utils",
    ),
}


def _dependencies_dir() -> Path:
    """Install the pinned wheels for the Lambda platform once per requirements content.

    Several synths may run at once (pytest workers, a demo beside the tests), so the first takes a file
    lock and builds into a private folder that it renames into place; the others wait and reuse it.
    """
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + f"{PLATFORM}{PYTHON_VERSION}".encode()).hexdigest()[:16]
    target = CACHE_DIR / digest
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / f"{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return target
        staging = Path(tempfile.mkdtemp(prefix=f"{digest}.", dir=CACHE_DIR))
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-qq", "--disable-pip-version-check", "--no-deps",
                 "--no-compile", "--only-binary=:all:", "--platform", PLATFORM, "--implementation", "cp",
                 "--python-version", PYTHON_VERSION, "--target", str(staging), "-r", str(REQUIREMENTS)],
                check=True,
            )  # fmt: skip
            (staging / ".complete").touch()
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _copy_kept(package: Path, target: Path, keeps: tuple[str, ...]) -> None:
    for kept in keeps:
        source = package / kept
        if source.is_dir():
            shutil.copytree(source, target / kept, dirs_exist_ok=True, ignore=IGNORED)
        elif source.is_file():
            (target / kept).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / kept)
        else:
            raise FileNotFoundError(f"{package.name} has no {kept}: update LAYER_KEEPS in infra/lambda_assets.py")


def build_code_asset(out: Path) -> None:
    """Our packages, as AWS unpacks them into /var/task."""
    for package in PACKAGES:
        shutil.copytree(LAMBDAS_DIR / package, out / package, dirs_exist_ok=True, ignore=IGNORED)


def build_dependency_layer(out: Path) -> None:
    """The pinned wheels under `python/`, each package pruned to `LAYER_KEEPS` (dist-info kept for licences)."""
    python = out / LAYER_PYTHON_DIR
    python.mkdir(parents=True, exist_ok=True)
    for entry in sorted(_dependencies_dir().iterdir()):
        if entry.name == ".complete":
            continue
        if entry.name in LAYER_KEEPS:
            _copy_kept(entry, python / entry.name, LAYER_KEEPS[entry.name])
        elif entry.is_dir():
            shutil.copytree(entry, python / entry.name, dirs_exist_ok=True, ignore=IGNORED)
        else:
            shutil.copy2(entry, python / entry.name)


def layer_asset_hash() -> str:
    """Changes exactly when what goes into the layer does: the pins, the platform or the pruning."""
    recipe = REQUIREMENTS.read_bytes() + f"{PLATFORM}{PYTHON_VERSION}{sorted(LAYER_KEEPS.items())}".encode()
    return hashlib.sha256(recipe).hexdigest()
