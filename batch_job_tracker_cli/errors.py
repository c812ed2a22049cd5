"""Expected errors: each is printed as one line (no traceback) and ends the command with a non-zero exit."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "AuthorizationError",
        "KMS.AccessDeniedException",
    }
)
BAD_CREDENTIALS_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    }
)


class CliError(Exception):
    """Something the operator can act on; its message is the whole explanation."""

    exit_code = 1


def _explain_client_error(error: ClientError) -> str:
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    message = str(details.get("Message", "")).strip()
    if code in ACCESS_DENIED_CODES:
        return (
            f"access denied: {error.operation_name} was refused ({message or code}); check the role or profile in use"
        )
    if code in BAD_CREDENTIALS_CODES:
        return f"AWS rejected the credentials ({code}: {message}); refresh them or pick another profile"
    return f"{error.operation_name} failed: {code}" + (f": {message}" if message else "")


_SETUP_PROBLEMS: tuple[tuple[type[BotoCoreError] | tuple[type[BotoCoreError], ...], str], ...] = (
    (
        (NoCredentialsError, PartialCredentialsError),
        "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
    ),
    (NoRegionError, "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or a profile's region)"),
    (ProfileNotFound, "{error}: check AWS_PROFILE"),
)


def explain_aws_error(error: BotoCoreError | ClientError, hint: str = "") -> str:
    """One line for what AWS (or reaching it) said. `hint` is added where the cause may be the target
    (e.g. a local cloud that is no longer running)."""
    if isinstance(error, ClientError):
        return _explain_client_error(error)
    for types, message in _SETUP_PROBLEMS:
        if isinstance(error, types):
            return message.format(error=error)
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        return f"cannot reach {error.kwargs.get('endpoint_url', 'the endpoint')}{hint}"
    return f"{error}{hint}"
