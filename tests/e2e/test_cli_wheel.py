"""The CLI installs anywhere: its wheel, built as docs/cli-install.md says (in a checkout, into `dist/`),
installed into a fresh venv outside the checkout, runs `batch-job-tracker --help` and `--local` against the
running local cloud, with the job kinds and table layout it shares with the Lambdas imported from the wheel,
not from the checkout; its names from before Bedrock (the `voiceid-tracker` script, the `voiceid_tracker_cli`
package) still work; and the `build/` and `dist/` the build leaves in the checkout break neither the linters
(mypy found `job_tracker` twice) nor git's status, and `make clean` removes them."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from local_cloud.environment import LocalEnvironment

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def built_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout (the files git lists, committed or not) in which the documented build ran, so
    that the build's `build/` and `dist/` never appear in the checkout itself while other tests read it."""
    checkout = tmp_path_factory.mktemp("checkout")
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO_ROOT)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO_ROOT / name).is_file():  # a tracked file deleted in the working tree is not copied
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, checkout / name)
    # docs/cli-install.md's command. Offline: setuptools comes from this venv (requirements-dev.txt pins the
    # build-system's version).
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", "dist", ".", cwd=checkout
    )
    assert built.returncode == 0, built.stderr
    return checkout


@pytest.fixture(scope="module")
def installed(built_checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv, outside the checkout, with only the wheel installed into it; its bin folder."""
    (wheel,) = (built_checkout / "dist").glob("*.whl")
    target = tmp_path_factory.mktemp("fresh-venv")
    venv.create(target, with_pip=True)  # ensurepip: offline
    python = target / "bin" / "python"
    # The wheel alone, with the fresh venv's own pip; its dependencies (boto3, typer, rich) are made visible
    # from this venv's site-packages, which hold neither of the CLI's own packages (those are editable here).
    install = run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=target)
    assert install.returncode == 0, install.stderr
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=target).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return target / "bin"


def outside_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH, nothing of the checkout on the path."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "COLUMNS": "200", **extra}


def test_the_installed_wheel_imports_its_shared_code_from_itself(installed: Path, tmp_path: Path) -> None:
    probe = run(
        installed / "python",
        "-c",
        "import job_tracker.kinds, batch_job_tracker_cli.shared as s; print(job_tracker.kinds.__file__); "
        "print(','.join(s.JOB_KINDS))",
        cwd=tmp_path,
        env=outside_env(),
    )
    assert probe.returncode == 0, probe.stderr
    where, kinds = probe.stdout.split()
    assert not Path(where).resolve().is_relative_to(REPO_ROOT), where
    assert "SPEAKER_ENROLLMENT" in kinds.split(",")


def test_the_old_package_name_is_the_same_modules(installed: Path, tmp_path: Path) -> None:
    probe = run(
        installed / "python",
        "-c",
        "import batch_job_tracker_cli.shared as new, voiceid_tracker_cli.shared as old; print(old is new)",
        cwd=tmp_path,
        env=outside_env(),
    )
    assert (probe.returncode, probe.stdout) == (0, "True\n"), probe.stderr
    helped = run(installed / "python", "-m", "voiceid_tracker_cli", "--help", cwd=tmp_path, env=outside_env())
    assert helped.returncode == 0, helped.stderr
    assert "failures-by-code" in helped.stdout


def test_the_old_script_name_still_runs(installed: Path, tmp_path: Path) -> None:
    helped = run(installed / "voiceid-tracker", "--help", cwd=tmp_path, env=outside_env())
    assert helped.returncode == 0, helped.stderr
    assert "failures-by-code" in helped.stdout


def test_help_and_local_work_outside_the_checkout(installed: Path, local: LocalEnvironment, tmp_path: Path) -> None:
    script = [installed / "batch-job-tracker"]
    helped = run(*script, "--help", cwd=tmp_path, env=outside_env())
    assert helped.returncode == 0, helped.stderr
    for command in ("jobs", "show", "failures", "failures-by-code", "erase", "executions", "watch"):
        assert command in helped.stdout, command
    # No outputs.json here or above: the message says how to point at one.
    lost = run(*script, "--local", "jobs", cwd=tmp_path, env=outside_env())
    assert lost.returncode == 1 and "start the local cloud with `make local`" in lost.stderr, lost.stderr
    # Found from the working folder, as in a checkout where `make local` runs...
    checkout = tmp_path / "checkout"
    (checkout / ".local-cloud").mkdir(parents=True)
    shutil.copy(local.outputs_path, checkout / ".local-cloud" / "outputs.json")
    (checkout / "sub").mkdir()
    listed = run(*script, "--local", "jobs", "--format", "json", cwd=checkout / "sub", env=outside_env())
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("[")
    # ... or named, by the variable or by its name before Bedrock.
    for variable in ("BATCH_JOB_TRACKER_LOCAL_OUTPUTS", "VOICEID_TRACKER_LOCAL_OUTPUTS"):
        named = run(
            *script, "--local", "executions", "--since", "1h", cwd=tmp_path,
            env=outside_env(**{variable: str(local.outputs_path)}),
        )  # fmt: skip
        assert named.returncode == 0, (variable, named.stderr)
        assert "tracker execution(s), newest first" in named.stdout


def test_the_documented_build_leaves_the_checkout_lint_clean_and_make_clean_removes_it(built_checkout: Path) -> None:
    # What the build leaves: a second job_tracker under build/lib, which mypy found beside lambdas/ (a
    # "Duplicate module" error that stopped `make lint`, and so `make test`), and the wheel in dist/.
    assert (built_checkout / "build" / "lib" / "job_tracker" / "__init__.py").is_file()
    assert list((built_checkout / "dist").glob("*.whl"))
    # mypy's cache from the checkout's own lint, hard-linked: mypy replaces a cache file, never rewrites it, so
    # the checkout's copy is left as it was, and only what differs is checked again.
    if (REPO_ROOT / ".mypy_cache").is_dir():
        shutil.copytree(REPO_ROOT / ".mypy_cache", built_checkout / ".mypy_cache", copy_function=os.link)
    tools = Path(sys.executable).parent
    lint: list[tuple[str | Path, ...]] = [(tools / "ruff", "check", "."), (tools / "ruff", "format", "--check", ".")]
    for command in [*lint, (tools / "mypy", ".")]:
        linted = run(*command, cwd=built_checkout)
        assert linted.returncode == 0, linted.stdout + linted.stderr
    # git leaves them out of the status (asked of the checkout's own .gitignore; the copy is no repository).
    ignored = run("git", "check-ignore", "build/lib/job_tracker/__init__.py", "dist/x.whl", cwd=REPO_ROOT)
    assert ignored.stdout.split() == ["build/lib/job_tracker/__init__.py", "dist/x.whl"], ignored.stderr
    cleaned = run("make", "clean", cwd=built_checkout)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not (built_checkout / "build").exists() and not (built_checkout / "dist").exists()
