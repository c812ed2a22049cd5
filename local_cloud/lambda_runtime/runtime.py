"""Lambda Invoke without Docker: a pool of sandboxes (worker processes) per registered function."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from local_cloud.identity import role_access_key
from local_cloud.lambda_runtime.config import LambdaFunctionConfig
from local_cloud.lambda_runtime.packages import build_runtime_packages_dir
from local_cloud.lambda_runtime.sandbox import LogSink, Sandbox, SandboxFailedError, log_to_logging

# Fake credentials: the local services do not verify signatures, but boto3 refuses to sign without any. A
# function with an execution role gets an access key id that names the role instead (role_access_key).
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIALOCALCLOUD000000",
    "AWS_SECRET_ACCESS_KEY": "local-cloud-secret",
    "AWS_SESSION_TOKEN": "local-cloud-session",
}
# "arn:aws:lambda:us-east-1:123456789012:function:name[:qualifier]" or "name[:qualifier]".
_FUNCTION_ARN = re.compile(r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:(?P<name>[^:]+)(:(?P<qualifier>[^:]+))?$")


class FunctionNotFoundError(LookupError):
    """Invoke of a function the runtime does not know (AWS: ResourceNotFoundException, HTTP 404)."""


class InvalidPayloadError(ValueError):
    """The request payload is not JSON (AWS: InvalidRequestContentException, HTTP 400)."""


@dataclass(frozen=True)
class InvokeResult:
    """What Lambda's Invoke API returns: the payload and, for errors, ``X-Amz-Function-Error``."""

    payload: bytes
    function_error: str | None  # "Unhandled" for errors, None for success
    executed_version: str = "$LATEST"
    request_id: str = ""


def parse_function_name(name_or_arn: str) -> tuple[str, str | None]:
    """Split a FunctionName parameter (name, name:qualifier or ARN) into (name, qualifier)."""
    match = _FUNCTION_ARN.match(name_or_arn)
    if match:
        return match["name"], match["qualifier"]
    name, _, qualifier = name_or_arn.partition(":")
    return name, qualifier or None


class _FunctionPool:
    """Idle sandboxes of one function. A busy function scales out with another sandbox, as in AWS."""

    def __init__(self, config: LambdaFunctionConfig) -> None:
        self.config = config
        self.idle: list[Sandbox] = []
        self.all: set[Sandbox] = set()
        self.lock = threading.Lock()


class LambdaRuntime:
    """Runs registered functions in isolated worker processes.

    ``state_dir`` holds the runtime-packages directory (boto3 & co) given to every worker.
    ``endpoint_url`` (the gateway) becomes ``AWS_ENDPOINT_URL`` so the functions' boto3 reaches the local
    cloud; ``extra_environment`` adds more, e.g. ``AWS_ENDPOINT_URL_VOICE_ID`` for the Voice ID emulator.
    """

    def __init__(
        self,
        *,
        state_dir: Path,
        endpoint_url: str | None = None,
        extra_environment: Mapping[str, str] | None = None,
        log_sink: LogSink = log_to_logging,
        functions: Iterable[LambdaFunctionConfig] = (),
    ) -> None:
        self.runtime_packages_dir = build_runtime_packages_dir(state_dir / "runtime-packages")
        self.endpoint_url = endpoint_url
        self._extra_environment = dict(extra_environment or {})
        self._log_sink = log_sink
        self._pools: dict[str, _FunctionPool] = {}
        self._lock = threading.Lock()
        for config in functions:
            self.register(config)

    def register(self, config: LambdaFunctionConfig) -> None:
        if not (config.code_dir / ".").is_dir():
            raise FileNotFoundError(f"code directory of function {config.name} not found: {config.code_dir}")
        for layer in config.layer_dirs:
            if not (layer / ".").is_dir():
                raise FileNotFoundError(f"layer directory of function {config.name} not found: {layer}")
        with self._lock:
            self._pools[config.name] = _FunctionPool(config)

    def get_config(self, name_or_arn: str) -> LambdaFunctionConfig:
        name, _qualifier = parse_function_name(name_or_arn)
        with self._lock:
            pool = self._pools.get(name)
        if pool is None:
            raise FunctionNotFoundError(name)
        return pool.config

    def set_environment(self, name: str, value: str) -> None:
        """Add a variable for every sandbox started from now on (e.g. an endpoint known only after start)."""
        with self._lock:
            self._extra_environment[name] = value

    def sandbox_environment(self, config: LambdaFunctionConfig) -> dict[str, str]:
        """The worker's complete environment (nothing is inherited from the local cloud's process)."""
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            # Keep the developer's ~/.aws profiles and credentials out of the function.
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        environment.update(config.environment)
        # Reserved variables AWS sets itself; the function's own Environment cannot override them.
        environment.update(
            {
                "AWS_REGION": config.region,
                "AWS_DEFAULT_REGION": config.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(config.timeout_seconds)),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "LAMBDA_TASK_ROOT": str(config.code_dir),
                "LAMBDA_RUNTIME_DIR": str(self.runtime_packages_dir),
                "_HANDLER": config.handler,
                **_FAKE_CREDENTIALS,
            }
        )
        if config.role_arn:
            # As Lambda names the session of a function's role: after the function.
            environment["AWS_ACCESS_KEY_ID"] = role_access_key(config.role_arn, config.name)
        if self.endpoint_url:
            environment["AWS_ENDPOINT_URL"] = self.endpoint_url
        environment.update(self._extra_environment)
        return environment

    def invoke(self, name_or_arn: str, payload: bytes) -> InvokeResult:
        """Synchronous (RequestResponse) invocation, as Lambda's Invoke API."""
        name, _qualifier = parse_function_name(name_or_arn)
        with self._lock:
            pool = self._pools.get(name)
        if pool is None:
            raise FunctionNotFoundError(name)
        payload = payload or b"{}"
        try:
            json.loads(payload)
        except ValueError as error:
            raise InvalidPayloadError(f"Could not parse request body into json: {error}") from None
        request_id = str(uuid.uuid4())
        sandbox = self._acquire(pool)
        try:
            outcome = sandbox.invoke(request_id, payload)
        except SandboxFailedError as failure:
            return InvokeResult(json.dumps(failure.payload).encode(), "Unhandled", request_id=request_id)
        finally:
            self._release(pool, sandbox)
        return InvokeResult(outcome.payload, "Unhandled" if outcome.is_error else None, request_id=request_id)

    def _acquire(self, pool: _FunctionPool) -> Sandbox:
        with pool.lock:
            if pool.idle:
                return pool.idle.pop()  # most recently used first: warm state is where tests expect it
        sandbox = Sandbox(
            pool.config,
            runtime_packages_dir=self.runtime_packages_dir,
            environment=self.sandbox_environment(pool.config),
            log_sink=self._log_sink,
        )
        with pool.lock:
            pool.all.add(sandbox)
        return sandbox

    def _release(self, pool: _FunctionPool, sandbox: Sandbox) -> None:
        with pool.lock:
            if sandbox.healthy:
                pool.idle.append(sandbox)
            else:
                pool.all.discard(sandbox)

    def close(self) -> None:
        """Kill every sandbox of every function."""
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            with pool.lock:
                sandboxes = list(pool.all)
                pool.all.clear()
                pool.idle.clear()
            for sandbox in sandboxes:
                sandbox.close()
