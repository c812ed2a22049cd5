"""The test run leaves no local cloud process behind: what the root conftest checks once every test and worker
is done.

The run's first process names the run in its environment (`LOCAL_CLOUD_TEST_RUN`); every process the run
starts inherits it (pytest-xdist's workers, DynamoDB Local, moto server, `python -m local_cloud.demo`, ...).
A process of the local cloud (`LOCAL_CLOUD_COMMANDS`) that still carries it once the run is over is one the
run left behind, and nothing of another run or another user on the same machine is. Other children that live
as long as their parent (the jsii kernel `aws_cdk` runs in node) are not the local cloud's and not counted.
The Lambda sandboxes get an environment of their own (nothing is inherited); those whose function's code, their
working folder, is in the run's temporary folder are found by it (the e2e stack's and the local cloud tests'
functions; a few tests run functions from tests/*/fixtures/, which this does not see, and which die with their
worker like every sandbox).
"""

from __future__ import annotations

import os
from pathlib import Path

RUN_VARIABLE = "LOCAL_CLOUD_TEST_RUN"
SANDBOX_SCRIPT = "local_cloud/lambda_runtime/worker_main.py"
# Found in the command line of DynamoDB Local, moto server, a sandbox, and `python -m local_cloud[.demo]`.
LOCAL_CLOUD_COMMANDS = ("DynamoDBLocal.jar", "local_cloud/_moto_main.py", SANDBOX_SCRIPT, "-m local_cloud")


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _command(entry: Path) -> str:
    return (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()


def leftover_processes(
    run: str, temp_root: Path | None = None, commands: tuple[str, ...] = LOCAL_CLOUD_COMMANDS
) -> list[tuple[int, str]]:
    """(pid, command line) of every live process of `commands` whose environment names `run`, and of every
    Lambda sandbox working in `temp_root`; processes of other users, which cannot be read, are not ours."""
    marker = f"{RUN_VARIABLE}={run}".encode()
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid() or not alive(int(entry.name)):
            continue
        try:
            command = _command(entry)
            if not any(name in command for name in commands):
                continue
            ours = marker in (entry / "environ").read_bytes().split(b"\0")
            if not ours and temp_root is not None and SANDBOX_SCRIPT in command:
                ours = Path(os.readlink(entry / "cwd")).is_relative_to(temp_root)
        except OSError:
            continue
        if ours:
            found.append((int(entry.name), command))
    return found
