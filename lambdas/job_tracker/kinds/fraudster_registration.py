"""Fraudster registration jobs (docs/voiceid-facts.md §1.1, §1.2, §2.2, §3.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from job_tracker.ids import GENERATED_ID
from job_tracker.kinds.base import JobKind, OutcomeCount, SuccessSchema
from job_tracker.kinds.services import VOICE_ID

DUPLICATE_SKIPPED = "DUPLICATE_SKIPPED"


def _check_registration(entry: Mapping[str, Any]) -> str | None:
    fraudster_id = entry.get("GeneratedFraudsterId")
    if not isinstance(fraudster_id, str) or not GENERATED_ID.fullmatch(fraudster_id):
        return "a GeneratedFraudsterId not of the form id#<22 letters or digits>"
    score = entry.get("FraudsterSimilarityScore")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100):
        return f"a FraudsterSimilarityScore outside 0-100: {score!r}"
    return None


FRAUDSTER_REGISTRATION = JobKind(
    name="FRAUDSTER_REGISTRATION",
    noun="fraudster registration",
    api_noun="FraudsterRegistrationJob",
    event_detail_types=("VoiceId Batch Fraudster Registration Action",),
    manifest_member="FraudsterRegistrationRequests",
    successes=SuccessSchema(
        member="SuccessfulRegistrations", status_field="RegistrationStatus", check_entry=_check_registration
    ),
    counts=(
        # The schema block says NEW_REGISTRATION while the text under it says NEW_FRAUDSTER; accept both.
        OutcomeCount(frozenset({"NEW_REGISTRATION", "NEW_FRAUDSTER"}), "RegisteredRequestCount", "RegisteredRequests"),
        OutcomeCount(frozenset({DUPLICATE_SKIPPED}), "DuplicateSkippedRequestCount", "DuplicateSkippedRequests"),
    ),
    succeeded_count_attributes=("RegisteredRequestCount",),
    max_requests_per_job=500,
    service=VOICE_ID,
    output_format="voiceid-out",
    start_config_member="RegistrationConfig",
)
