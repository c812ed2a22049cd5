"""All local cloud services wired together behind one gateway endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from local_cloud._process import stop_all
from local_cloud.dynamodb_local import DynamoDBLocal
from local_cloud.eventbridge import EventRouter, LambdaDispatcher, StepFunctionsDispatcher
from local_cloud.faults import FaultInjector, FaultsAdmin
from local_cloud.gateway import Gateway, GatewayBackends
from local_cloud.iam import IamEnforcer
from local_cloud.iam_requests import RequestAuthorizer, Scope
from local_cloud.identity import role_access_key
from local_cloud.lambda_runtime import LambdaRuntime, LogFileSink, LogSink, log_to_logging
from local_cloud.lambda_runtime.config import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from local_cloud.moto_server import MotoServer
from local_cloud.scheduler import Clock, SchedulerRunner

FAKE_ACCESS_KEY_ID = "local"
FAKE_SECRET_ACCESS_KEY = "local"  # noqa: S105 - the local services accept any credentials


class LocalCloud:
    """DynamoDB Local + moto server + Lambda runtime + EventBridge router behind :class:`Gateway`, and
    :attr:`scheduler`, the runner that fires the deployed EventBridge Scheduler schedules.

    ``state_dir`` receives logs (``logs/``: dynamodb-local.log, moto.log, lambda.log) and the Lambda
    runtime-packages directory. ``endpoint_url`` is the one URL clients use for every service. Function
    output goes to ``logs/lambda.log`` and then to ``log_sink`` (default: the ``local_cloud.lambda``
    logger), each line prefixed with the function name. ``scheduler_clock`` is the scheduler's time
    (default: real time; :class:`~local_cloud.scheduler.ScaledClock` speeds it up).

    :attr:`iam` holds the policies the gateway enforces on the stack's roles; it starts empty (nothing
    restricted) until a deployment loads a template's policies into it (``LocalEnvironment``).
    """

    def __init__(
        self,
        *,
        state_dir: Path,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        lambda_environment: Mapping[str, str] | None = None,
        log_sink: LogSink = log_to_logging,
        scheduler_clock: Clock | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.region = region
        self.account_id = account_id
        self._lambda_environment = dict(lambda_environment or {})
        self.gateway = Gateway()
        self.dynamodb = DynamoDBLocal(log_path=state_dir / "logs" / "dynamodb-local.log")
        # moto's Step Functions interpreter sends its Lambda/DynamoDB/Events calls to MOTO_PORT: the gateway.
        self.moto = MotoServer(interpreter_port=self.gateway.port, log_path=state_dir / "logs" / "moto.log")
        self.lambdas = LambdaRuntime(
            state_dir=state_dir,
            endpoint_url=self.gateway.endpoint_url,
            extra_environment=self._lambda_environment,
            log_sink=LogFileSink(state_dir / "logs" / "lambda.log", forward=log_sink),
        )
        self.events = EventRouter(region=region, account_id=account_id)
        self.iam = IamEnforcer()
        self.authorizer = RequestAuthorizer(self.iam, Scope(region=region, account_id=account_id))
        # Fault rules (docs/faults.md): managed over HTTP at <endpoint_url>/_local/faults, like AWS is never.
        self.faults = FaultInjector()
        # Dead-letter messages go through the gateway to moto's SQS, like any other client's.
        self.scheduler = SchedulerRunner(
            invoker=self.lambdas, sqs_client=lambda: self.client("sqs"), clock=scheduler_clock
        )

    @property
    def endpoint_url(self) -> str:
        return self.gateway.endpoint_url

    @property
    def faults_admin(self) -> FaultsAdmin:
        """The fault rules' admin API, over HTTP as anyone reaches it."""
        return FaultsAdmin(self.endpoint_url)

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` pointed at the gateway (typed clients: annotate at the caller)."""
        return self._client(service, FAKE_ACCESS_KEY_ID, **kwargs)

    def client_as(self, service: str, role_arn: str, session_name: str, **kwargs: Any) -> Any:
        """The same, signed as a session of ``role_arn`` (:func:`~local_cloud.identity.role_access_key`), so the
        gateway holds its calls to that role's policies: what a service (a Bedrock or S3 Batch Operations job)
        does with the role it was given."""
        return self._client(service, role_access_key(role_arn, session_name), **kwargs)

    def _client(self, service: str, access_key_id: str, **kwargs: Any) -> Any:
        # boto3-stubs only types calls with a literal service name; this helper is generic on purpose.
        make_client: Any = boto3.client
        return make_client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
            **kwargs,
        )

    def start(self) -> LocalCloud:
        try:
            self.dynamodb.start()
            self.moto.start()
            sfn = boto3.client(
                "stepfunctions",
                endpoint_url=self.moto.endpoint_url,
                region_name=self.region,
                aws_access_key_id=FAKE_ACCESS_KEY_ID,
                aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
            )
            self.events.dispatchers.update(
                {"states": StepFunctionsDispatcher(sfn), "lambda": LambdaDispatcher(self.lambdas)}
            )
            self.gateway.start(
                GatewayBackends(
                    moto_url=self.moto.endpoint_url,
                    dynamodb_url=self.dynamodb.endpoint_url,
                    lambda_invoker=self.lambdas,
                    events=self.events,
                    authorizer=self.authorizer,
                    faults=self.faults,
                )
            )
            self.scheduler.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # The scheduler first: no fire may start while the engines go away. Every part is stopped even if one
        # before it fails to: an engine left running would hold its port and memory after this process.
        stop_all((self.scheduler.stop, self.gateway.stop, self.lambdas.close, self.moto.stop, self.dynamodb.stop))

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
