"""Identifier formats from the Voice ID service model (`DomainId`, `JobId`: `^[a-zA-Z0-9]{22}$`)."""

import re

from job_tracker.errors import InvalidJobRequest

VOICE_ID_RESOURCE_ID = re.compile(r"[a-zA-Z0-9]{22}")
GENERATED_FRAUDSTER_ID = re.compile(r"id#[a-zA-Z0-9]{22}")


def require_resource_id(field: str, value: object) -> str:
    """Return `value` if it is a 22-character Voice ID identifier, else raise InvalidJobRequest."""
    if not isinstance(value, str) or not VOICE_ID_RESOURCE_ID.fullmatch(value):
        raise InvalidJobRequest(f"{field} must be 22 letters or digits (^[a-zA-Z0-9]{{22}}$), got {value!r}")
    return value
