"""moto server (S3, KMS, Step Functions, STS, ...) as a child process on 127.0.0.1.

Why a child process rather than ``ThreadedMotoServer``: moto's Step Functions interpreter builds its
boto3 clients with ``endpoint_url=f"http://localhost:{MOTO_PORT}"`` (``moto.settings.moto_server_port``
reads the environment variable at call time). The local cloud needs those calls - Lambda Invoke, DynamoDB
and EventBridge tasks - to reach the gateway, so ``MOTO_PORT`` must be the GATEWAY's port inside moto's
process. A child process gets its own environment without changing the caller's ``os.environ``.

State machine execution is off by default in moto 5 (``default_user_config["stepfunctions"]
["execute_state_machine"]``); :meth:`MotoServer.start` switches it on through moto's documented
``POST /moto-api/config`` endpoint. Known interpreter limits: no JSONata, no ``Assign``; StartExecution
must always get an explicit ``name``.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

from local_cloud._process import LOCALHOST, ChildCommand, ServerProcess

_ENTRY_POINT = Path(__file__).resolve().parent / "_moto_main.py"


class MotoServerError(RuntimeError):
    """moto server does not start or rejects its configuration."""


class MotoServer(ServerProcess):
    """moto server on a free port of 127.0.0.1.

    ``interpreter_port`` is the port moto's Step Functions interpreter sends its own AWS calls to
    (``MOTO_PORT``); pass the gateway's port. ``None`` means moto itself.
    """

    name = "moto server"
    error = MotoServerError

    def __init__(
        self,
        *,
        interpreter_port: int | None = None,
        log_path: Path | None = None,
        execute_state_machines: bool = True,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__(log_path=log_path, startup_timeout=startup_timeout)
        self._interpreter_port = interpreter_port
        self._execute_state_machines = execute_state_machines

    def _command(self, port: int) -> ChildCommand:
        return ChildCommand(
            argv=[sys.executable, str(_ENTRY_POINT), LOCALHOST, str(port)], env=self._child_environment(port)
        )

    def _after_start(self) -> None:
        self.set_config({"stepfunctions": {"execute_state_machine": self._execute_state_machines}})

    def _child_environment(self, port: int) -> dict[str, str]:
        # Endpoint overrides meant for clients must not leak into moto, which talks to itself by MOTO_PORT.
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_ENDPOINT_URL")}
        env.update(
            MOTO_PORT=str(self._interpreter_port or port),
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - fake credentials for a local emulator
            AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
        env.pop("AWS_PROFILE", None)
        return env

    def _answers(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/config", timeout=2) as response:  # noqa: S310
            return bool(response.status < 500)

    def set_config(self, config: dict[str, object]) -> None:
        """POST to moto's ``/moto-api/config`` (keys ``batch``, ``lambda``, ``stepfunctions``)."""
        request = urllib.request.Request(  # noqa: S310 - fixed http://127.0.0.1 URL
            f"{self.endpoint_url}/moto-api/config",
            data=json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status >= 300:
                raise MotoServerError(f"moto rejected config {config}: HTTP {response.status}")

    def reset(self) -> None:
        """Drop all moto state (``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass
