"""The whole suite: it must leave no process of the local cloud behind (tests/process_check.py says how one of
this run's is told from any other). Checked once every test, fixture and pytest-xdist worker is done, so it sees what a
teardown that failed, a local cloud that was never stopped or a worker that died left running."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Generator

import pytest

from tests.process_check import RUN_VARIABLE, leftover_processes

# Processes stopped at the very end (a worker's last cloud, SIGTERM then its grace) have this long to go.
LEFTOVER_GRACE_SECONDS = 20.0


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if not _is_worker(config):  # the workers, started later, inherit it
        os.environ[RUN_VARIABLE] = uuid.uuid4().hex


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    # After every other implementation: pytest-xdist's stops the workers in its own.
    yield
    if _is_worker(session.config) or RUN_VARIABLE not in os.environ:
        return
    # The run's temporary folder (the workers' are inside it), where the sandboxes' function code is. pytest
    # keeps its factory on the config (pytest-xdist reads it there too).
    temp_root = getattr(session.config, "_tmp_path_factory").getbasetemp()  # noqa: B009
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while (leftovers := leftover_processes(os.environ[RUN_VARIABLE], temp_root)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not leftovers:
        return
    for pid, _ in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # this run's own, never outliving it
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("!", f"the test run left {len(leftovers)} process(es) running; killed now", red=True)
        for pid, command in leftovers:
            reporter.write_line(f"{pid} {command[:200]}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
