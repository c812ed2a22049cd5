"""Lambda Invoke without Docker; see :class:`LambdaRuntime`."""

from local_cloud.lambda_runtime.config import LambdaFunctionConfig
from local_cloud.lambda_runtime.runtime import (
    FunctionNotFoundError,
    InvalidPayloadError,
    InvokeResult,
    LambdaRuntime,
    parse_function_name,
)
from local_cloud.lambda_runtime.sandbox import LogFileSink, LogSink, log_to_logging

__all__ = [
    "FunctionNotFoundError",
    "InvalidPayloadError",
    "InvokeResult",
    "LambdaFunctionConfig",
    "LambdaRuntime",
    "LogFileSink",
    "LogSink",
    "log_to_logging",
    "parse_function_name",
]
