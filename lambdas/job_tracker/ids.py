"""Identifier formats: Voice ID's, from its service model (docs/voiceid-facts.md §3.3), and S3 URIs."""

import re

from job_tracker.errors import InvalidJobRequest

VOICE_ID_RESOURCE_ID = re.compile(r"[a-zA-Z0-9]{22}")
"""DomainId, JobId, WatchlistId."""
VOICE_ID_RESOURCE_ID_SHAPE = f"22 letters or digits (^{VOICE_ID_RESOURCE_ID.pattern}$)"
"""VOICE_ID_RESOURCE_ID in words, for error messages."""
GENERATED_ID = re.compile(r"id#[a-zA-Z0-9]{22}")
"""GeneratedFraudsterId and GeneratedSpeakerId."""
CUSTOMER_SPEAKER_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,255}")
S3_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9])(?:/(?P<key>.*))?")
"""`s3://<bucket>[/<key>]`, a bucket name as S3 names them (3 to 63 lowercase letters, digits, `.` and `-`); the
key, or key prefix, may be empty."""
# Long enough to show what was sent, short enough that a 5,000-character id does not flood a Cause.
_SHOWN_CHARACTERS = 60


def shown(value: object) -> str:
    """`repr(value)`, cut to a readable length for error messages."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARACTERS else f"{text[:_SHOWN_CHARACTERS]}... ({len(text)} characters)"


def require_resource_id(field: str, value: object) -> str:
    """Return `value` if it is a 22-character Voice ID identifier, else raise InvalidJobRequest."""
    if not isinstance(value, str) or not VOICE_ID_RESOURCE_ID.fullmatch(value):
        raise InvalidJobRequest(f"{field} must be {VOICE_ID_RESOURCE_ID_SHAPE}, got {shown(value)}")
    return value
