"""Who makes a call: the role and session an access key id names.

A call of the stack carries the role that makes it in its access key id (SigV4 ``Credential=<akid>/...``):
:func:`role_access_key` encodes a role ARN and a session name, :func:`role_session` decodes it. Each Lambda
sandbox gets such a key for its function's ``Role`` (session: the function name, as Lambda names it), and
moto's Step Functions interpreter signs each task's calls with one for the execution's role
(``_moto_main.py``, session :data:`STEP_FUNCTIONS_SESSION`). Keys are base32 (``A-Z2-7``) after a fixed
prefix, because DynamoDB Local accepts only letters and digits in an access key id. Standard library only:
the Lambda runtime imports it, and must not pull in moto.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

ROLE_ACCESS_KEY_PREFIX = "LOCALROLE"
STEP_FUNCTIONS_SESSION = "StepFunctions"
_SESSION_SEPARATOR = "\n"
_ROLE_ARN = re.compile(r"^arn:(?P<partition>[^:]+):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[^/]+)$")


@dataclass(frozen=True)
class RoleSession:
    """A role's session, as a call made with its credentials is seen (``assumed-role/<role>/<session>``)."""

    role_arn: str
    session_name: str

    @property
    def role_name(self) -> str:
        match = _ROLE_ARN.match(self.role_arn)
        return match["name"] if match else self.role_arn.rsplit("/", 1)[-1]

    @property
    def account_id(self) -> str:
        match = _ROLE_ARN.match(self.role_arn)
        return match["account"] if match else ""

    @property
    def assumed_role_arn(self) -> str:
        """What AWS names the caller in an AccessDenied message."""
        partition = match["partition"] if (match := _ROLE_ARN.match(self.role_arn)) else "aws"
        return f"arn:{partition}:sts::{self.account_id}:assumed-role/{self.role_name}/{self.session_name}"


def role_access_key(role_arn: str, session_name: str) -> str:
    """The access key id that names ``role_arn`` (and the session) in every call signed with it.

    ``_moto_main.py`` encodes the same way (it cannot import this module); a test keeps the two in step.
    """
    encoded = base64.b32encode(f"{role_arn}{_SESSION_SEPARATOR}{session_name}".encode()).decode()
    return ROLE_ACCESS_KEY_PREFIX + encoded.rstrip("=")


def role_session(access_key_id: str) -> RoleSession | None:
    """The role session an access key id names, or None for any other key (a user's)."""
    if not access_key_id.startswith(ROLE_ACCESS_KEY_PREFIX):
        return None
    encoded = access_key_id[len(ROLE_ACCESS_KEY_PREFIX) :]
    try:
        decoded = base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode()
    except (binascii.Error, ValueError):
        return None
    role_arn, separator, session_name = decoded.partition(_SESSION_SEPARATOR)
    if not separator or not _ROLE_ARN.match(role_arn):
        return None
    return RoleSession(role_arn=role_arn, session_name=session_name)
