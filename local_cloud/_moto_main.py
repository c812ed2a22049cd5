"""Entry point of the moto server child process (run by path, so it imports only moto and the stdlib).

Usage: python _moto_main.py <host> <port>
"""

import base64
import json
import logging
import sys
import uuid
from typing import Any

# The same encoding as local_cloud.identity.role_access_key (this file imports only moto and the standard
# library); tests/local_cloud/test_iam_identity.py keeps the two in step.
ROLE_ACCESS_KEY_PREFIX = "LOCALROLE"
STEP_FUNCTIONS_SESSION = "StepFunctions"
TASK_TOKEN_STATE_MACHINE = "StateMachineArn"  # noqa: S105 - a JSON member name, not a secret


def role_access_key(role_arn: str, session_name: str) -> str:
    encoded = base64.b32encode(f"{role_arn}\n{session_name}".encode()).decode()
    return ROLE_ACCESS_KEY_PREFIX + encoded.rstrip("=")


def task_token(state_machine_arn: str) -> str:
    """A task token that says which state machine it belongs to (read by local_cloud.iam_requests)."""
    text = json.dumps({TASK_TOKEN_STATE_MACHINE: state_machine_arn, "Nonce": str(uuid.uuid4())})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def fill_aws_sdk_integration_gaps() -> None:
    """Make moto's `arn:aws:states:::aws-sdk:*` tasks follow AWS's documented conventions.

    AWS takes aws-sdk task parameters in PascalCase even where the service API is camelCase (Step
    Functions' own `ExecutionArn` for `executionArn`), answers in PascalCase, and names a service error
    `<Service>.<ErrorCode>Exception`. moto 5.2.5's port of LocalStack's interpreter keeps the helpers for this
    but does not call them for aws-sdk tasks, so a PascalCase parameter crashes botocore's serializer and
    every service error becomes `<Service>.<Service>Exception`. These two overrides wire the helpers in,
    as LocalStack's interpreter does.
    """
    from botocore.exceptions import ClientError
    from botocore.model import OperationModel
    from botocore.session import Session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    models = Session()

    def operation(task: StateTaskServiceAwsSdk) -> OperationModel:
        service = models.get_service_model(task._get_boto_service_name())
        by_lower_name = {name.lower(): name for name in service.operation_names}
        return service.operation_model(by_lower_name[task.resource.api_action.lower()])

    def normalise_parameters(task: StateTaskServiceAwsSdk, parameters: dict[str, Any], *_: object) -> None:
        task._to_boto_request(parameters, operation(task).input_shape)  # type: ignore[arg-type]

    def normalise_response(task: StateTaskServiceAwsSdk, response: Any, *_: object) -> None:
        task._from_boto_response(response, operation(task).output_shape)  # type: ignore[arg-type]

    def exception_name(service_name: str, error: Exception) -> str:
        code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
        return (
            code if code.startswith(f"{service_name}.") else f"{service_name}.{code.removesuffix('Exception')}Exception"
        )

    # setattr: these replace methods on a class of moto's, which the type checker rightly dislikes.
    setattr(StateTaskServiceAwsSdk, "_normalise_parameters", normalise_parameters)  # noqa: B010
    setattr(StateTaskServiceAwsSdk, "_normalise_response", normalise_response)  # noqa: B010
    setattr(StateTaskServiceAwsSdk, "_normalise_exception_name", staticmethod(exception_name))  # noqa: B010


def keep_stopped_executions_aborted() -> None:
    """A stopped execution stays ABORTED, as on AWS, even if it was waiting on a task token.

    moto 5.2.5 interrupts a `.waitForTaskToken` wait when the execution is stopped; the interrupted task
    then reports an error, and `Environment.set_error` overwrites the stopped state, so StopExecution of
    a tracker parked on its wake-up token ended FAILED instead of ABORTED.
    """
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    set_error = Environment.set_error

    def set_error_unless_stopped(self: Environment, error: object) -> None:
        if isinstance(self.program_state(), ProgramStopped):
            return
        set_error(self, error)  # type: ignore[arg-type]

    setattr(Environment, "set_error", set_error_unless_stopped)  # noqa: B010


def sign_task_calls_as_the_execution_role() -> None:
    """Sign every call a task makes with credentials that name the role it runs as.

    moto's interpreter hands `boto_client_for` the task's `StateCredentials` (the execution's role ARN, or
    the task's own `Credentials.RoleArn`) and then signs with the fixed access key `ak` whatever they say.
    This replacement is moto 5.2.5's function with one change, the access key: it names that role
    (`role_access_key`), so the gateway holds the state machine's Lambda, DynamoDB, Step Functions and
    EventBridge calls to that role's policies, as AWS does.
    """
    import boto3
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        endpoint = {} if botocore_stubber.enabled else {"endpoint_url": f"http://localhost:{moto_server_port()}"}
        make_client: Any = boto3.client
        return make_client(
            aws_access_key_id=role_access_key(role_arn, STEP_FUNCTIONS_SESSION) if role_arn else "ak",
            region_name=region,
            service_name=service,
            aws_secret_access_key="sk",  # noqa: S106 - moto's own fake secret
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
            **endpoint,
        )

    setattr(boto_client, "boto_client_for", boto_client_for)  # noqa: B010
    # Each integration module imported the function by name: point those names at the replacement too.
    for module in list(sys.modules.values()):
        if module is not boto_client and getattr(module, "boto_client_for", None) is original:
            setattr(module, "boto_client_for", boto_client_for)  # noqa: B010


def name_the_state_machine_in_task_tokens() -> None:
    """Task tokens say which state machine they belong to.

    SendTaskSuccess is authorized on the state machine the token belongs to; AWS knows it from the (opaque)
    token, moto 5.2.5's tokens are bare UUIDs. The token is only ever compared whole, so its content is free.
    """
    from moto.stepfunctions.parser.asl.eval.states import ContextObject, TaskData

    def update_task_token(self: ContextObject) -> str:
        new_token = task_token(self.context_object_data["StateMachine"]["Id"])
        self.context_object_data["Task"] = TaskData(Token=new_token)
        return new_token

    setattr(ContextObject, "update_task_token", update_task_token)  # noqa: B010


def close_completed_task_tokens() -> None:
    """A task token is spent once its task has ended, as on AWS.

    AWS answers SendTaskSuccess for a task that already ended (completed, failed, timed out) with
    TaskTimedOut ("the task associated with the token has already been closed"). moto 5.2.5 keeps a
    completed callback in its pool and accepts the same token again without error, so a waker could not
    tell a live wait from one that already ended, which is the very race the tracker's wake requests settle.
    (Its own TaskTimedOut path cannot be reached: it tests the wrapping exception's type, not the wrapped,
    and its exception class has no error type for the response.)
    """
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager

    class TaskTimedOut(AWSError):
        TYPE = "TaskTimedOut"
        STATUS = 400

    notify = CallbackPoolManager.notify

    def notify_once(self: CallbackPoolManager, callback_id: str, outcome: Any) -> bool:
        endpoint = self.get(callback_id)
        if endpoint is not None and endpoint.get_outcome() is not None:
            raise TaskTimedOut("Task Timed Out: 'Provided task does not exist anymore'")
        return notify(self, callback_id, outcome)

    setattr(CallbackPoolManager, "notify", notify_once)  # noqa: B010


def name_lambda_service_errors_like_aws() -> None:
    """A Lambda task (a function ARN as its Resource) names Lambda's own errors `Lambda.<Code>`, as on AWS.

    moto 5.2.5 reports every error of the Invoke call itself (a 500 ServiceException, a 429
    TooManyRequestsException) as `Exception`, so a state machine's retry of `Lambda.ServiceException` never
    matched and the tracker stopped. The `arn:aws:states:::lambda:invoke` integration already names them so.
    """
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    from_error = StateTaskLambda._from_error
    event_details: Any = EventDetails  # a TypedDict that moto fills with one member at a time

    def from_error_named(self: StateTaskLambda, env: Any, ex: Exception) -> FailureEvent:
        if not isinstance(ex, ClientError):
            return from_error(self, env, ex)
        error = f"Lambda.{ex.response['Error']['Code']}"
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=event_details(
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(
                    error=error, cause=ex.response["Error"].get("Message", "")
                )
            ),
        )

    setattr(StateTaskLambda, "_from_error", from_error_named)  # noqa: B010


def main() -> None:
    host, port = sys.argv[1], sys.argv[2]
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s moto %(levelname)s %(name)s: %(message)s")
    # The Step Functions interpreter logs every state transition and swallowed error at INFO/WARNING.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.ERROR)
    # One line per request from werkzeug drowns everything else.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from moto import server

    fill_aws_sdk_integration_gaps()
    keep_stopped_executions_aborted()
    sign_task_calls_as_the_execution_role()
    name_the_state_machine_in_task_tokens()
    close_completed_task_tokens()
    name_lambda_service_errors_like_aws()

    server.main(["-H", host, "-p", port])


if __name__ == "__main__":
    main()
