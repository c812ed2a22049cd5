"""Entry point of the moto server child process (run by path, so it imports only moto and the stdlib).

Usage: python _moto_main.py <host> <port>
"""

import logging
import sys


def fill_aws_sdk_integration_gaps() -> None:
    """Make moto's `arn:aws:states:::aws-sdk:*` tasks follow AWS's documented conventions.

    AWS takes aws-sdk task parameters in PascalCase even where the service API is camelCase (Step
    Functions' own `ExecutionArn` for `executionArn`), answers in PascalCase, and names a service error
    `<Service>.<ErrorCode>Exception`. moto 5.2.5's port of LocalStack's interpreter keeps the helpers for this
    but does not call them for aws-sdk tasks, so a PascalCase parameter crashes botocore's serializer and
    every service error becomes `<Service>.<Service>Exception`. These two overrides wire the helpers in,
    as LocalStack's interpreter does.
    """
    from typing import Any

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

    server.main(["-H", host, "-p", port])


if __name__ == "__main__":
    main()
