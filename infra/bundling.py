"""Build the Lambda asset without Docker: pinned arm64 wheels from `lambdas/requirements.txt` plus our code.

Both functions share one asset (the `job_tracker` package and both handler packages); each function only
names a different handler. The wheels are installed once per requirements file into `.cache/`, so a
re-synth after a code change only copies files.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = REPO_ROOT / "lambdas"
REQUIREMENTS = LAMBDAS_DIR / "requirements.txt"
PACKAGES = ("job_tracker", "describe_job", "record_failures", "wake_tracker", "sweep")
CACHE_DIR = REPO_ROOT / ".cache" / "lambda-dependencies"

# The deployed runtime; wheels are chosen for it, not for the machine running `cdk synth`.
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.14"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt")


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


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """CDK calls `try_bundle` before falling back to Docker; returning True means Docker is never needed."""

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        out = Path(output_dir)
        shutil.copytree(_dependencies_dir(), out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
        for package in PACKAGES:
            shutil.copytree(LAMBDAS_DIR / package, out / package, dirs_exist_ok=True, ignore=IGNORED)
        return True


def lambda_code() -> lambda_.Code:
    """The shared asset. Its hash covers the source folder (including requirements.txt), so CDK re-bundles
    exactly when the code or the pinned dependencies change."""
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        exclude=["**/__pycache__", "**/*.pyc"],
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds. CDK requires an image to be named.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
            local=LocalPythonBundler(),
        ),
    )
