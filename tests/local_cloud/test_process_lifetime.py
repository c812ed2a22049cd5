"""No process left behind: the local cloud's engines (DynamoDB Local, moto server) and its Lambda sandboxes die
with the process that runs the cloud, however it ends, `kill -9` included (docs/local-cloud.md, "Processes")."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from local_cloud._process import start_child, stop_all, stop_process_group
from tests.process_check import alive, leftover_processes

REPO_ROOT = Path(__file__).resolve().parents[2]

# A local cloud in a process of its own. It is started from a thread that then ends, as a thread pool would
# start it, and a Lambda sandbox is started by a gateway request thread and kept busy; the engines must still
# answer once those threads are gone. Then it says "ready" and waits to be killed.
CLOUD_SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from local_cloud.cloud import LocalCloud
    from local_cloud.lambda_runtime import LambdaFunctionConfig

    state_dir, asset, marker = (Path(arg) for arg in sys.argv[1:4])
    cloud = LocalCloud(state_dir=state_dir, log_sink=lambda *_: None)
    with ThreadPoolExecutor(max_workers=1) as pool:  # its thread is gone once the with block ends
        pool.submit(cloud.start).result()
    cloud.lambdas.register(
        LambdaFunctionConfig(
            name="busy", handler="app.handler", code_dir=asset, timeout_seconds=600, environment={"MARKER": str(marker)}
        )
    )
    invoking = threading.Thread(target=lambda: cloud.client("lambda").invoke(FunctionName="busy"), daemon=True)
    invoking.start()
    cloud.client("dynamodb").list_tables()  # DynamoDB Local, through the gateway
    cloud.client("sqs").list_queues()  # moto
    while not marker.exists():
        threading.Event().wait(0.1)
    print("ready", flush=True)
    threading.Event().wait()
    """
)
BUSY_HANDLER = textwrap.dedent(
    """
    import os, pathlib, time

    def handler(event, context):
        pathlib.Path(os.environ["MARKER"]).write_text("busy")
        time.sleep(600)
    """
)


def children_of(pid: int) -> dict[int, str]:
    """The live child processes of `pid`, each with its command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and alive(int(entry.name)):
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found[int(entry.name)] = command
    return found


def wait_for_line(process: subprocess.Popen[str], deadline_seconds: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], deadline_seconds)
    return process.stdout.readline() if ready else ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_a_killed_local_cloud_takes_its_engines_and_busy_sandboxes_with_it(tmp_path: Path) -> None:
    asset, marker = tmp_path / "asset", tmp_path / "busy"
    asset.mkdir()
    (asset / "app.py").write_text(BUSY_HANDLER)
    errors = tmp_path / "stderr.log"
    with errors.open("w") as stderr:
        cloud = subprocess.Popen(
            [sys.executable, "-c", CLOUD_SCRIPT, str(tmp_path / "state"), str(asset), str(marker)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    engines: dict[int, str] = {}
    try:
        line = wait_for_line(cloud, deadline_seconds=180)
        engines = children_of(cloud.pid)
        assert line == "ready\n", errors.read_text()[-4000:]
        commands = " ".join(engines.values())
        for engine in ("DynamoDBLocal.jar", "_moto_main.py", "worker_main.py"):
            assert engine in commands, (engine, engines)
        cloud.kill()  # kill -9: no clean-up of its own runs
        cloud.wait()
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in engines) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [engines[pid] for pid in engines if alive(pid)] == []
    finally:
        cloud.kill()
        cloud.wait()
        for pid in engines:  # left by a failure above: never outlive the test
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_a_child_outlives_the_thread_that_started_it() -> None:
    # The kernel's parent-death signal follows the thread that forked the child: a child started from a
    # request thread would die with it. start_child forks from one thread that lives as long as the process.
    started: list[subprocess.Popen[bytes]] = []
    native_ids: list[int | None] = []

    def start() -> None:
        native_ids.append(threading.get_native_id())
        started.append(
            start_child(
                [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.readline()); sys.stdout.flush()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
        )

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    (child,) = started
    try:
        deadline = time.monotonic() + 10  # join() returns before the kernel has let the thread go
        while Path(f"/proc/self/task/{native_ids[0]}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/self/task/{native_ids[0]}").exists()
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(b"still here\n")
        child.stdin.flush()
        assert child.stdout.readline() == b"still here\n"
    finally:
        stop_process_group(child, grace=1.0)


def test_stopping_goes_on_past_a_part_that_fails_to_stop() -> None:
    stopped: list[str] = []

    def failing() -> None:
        stopped.append("gateway")
        raise RuntimeError("gateway did not stop")

    with pytest.raises(RuntimeError, match="gateway did not stop"):
        stop_all((lambda: stopped.append("scheduler"), failing, lambda: stopped.append("moto")))
    assert stopped == ["scheduler", "gateway", "moto"]


def test_the_suites_leftover_check_finds_a_local_cloud_process_of_this_run_and_only_while_it_lives() -> None:
    token, engine = "test-leftover-check", "an-engine-of-the-local-cloud"
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", engine],
        env={**os.environ, "LOCAL_CLOUD_TEST_RUN": token},
    )
    try:
        assert process.pid in {pid for pid, _ in leftover_processes(token, commands=(engine,))}
        assert process.pid not in {pid for pid, _ in leftover_processes("another-run", commands=(engine,))}
        assert process.pid not in {pid for pid, _ in leftover_processes(token)}  # not one of the local cloud's
    finally:
        process.kill()
        process.wait()
    assert process.pid not in {pid for pid, _ in leftover_processes(token, commands=(engine,))}
