"""Speaker enrollment jobs (docs/voiceid-facts.md §1.3, §1.4, §2.2, §3.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from job_tracker.ids import CUSTOMER_SPEAKER_ID, GENERATED_ID
from job_tracker.kinds.base import JobKind, OutcomeCount, SuccessSchema
from job_tracker.kinds.services import VOICE_ID


def _check_enrollment(entry: Mapping[str, Any]) -> str | None:
    speaker_id = entry.get("GeneratedSpeakerId")
    if not isinstance(speaker_id, str) or not GENERATED_ID.fullmatch(speaker_id):
        return "a GeneratedSpeakerId not of the form id#<22 letters or digits>"
    customer_id = entry.get("CustomerSpeakerId")
    if not isinstance(customer_id, str) or not CUSTOMER_SPEAKER_ID.fullmatch(customer_id):
        return "a CustomerSpeakerId not of 1-256 letters, digits, '_' or '-'"
    return None


SPEAKER_ENROLLMENT = JobKind(
    name="SPEAKER_ENROLLMENT",
    noun="speaker enrollment",
    api_noun="SpeakerEnrollmentJob",
    # The EventBridge reference spells it VoiceId; the admin guide's schema page VoiceID. Match both.
    event_detail_types=("VoiceId Batch Speaker Enrollment Action", "VoiceID Batch Speaker Enrollment Action"),
    manifest_member="SpeakerEnrollmentRequests",
    successes=SuccessSchema(
        member="SuccessfulEnrollments", status_field="EnrollmentStatus", check_entry=_check_enrollment
    ),
    counts=(
        OutcomeCount(frozenset({"NEW_ENROLLMENT"}), "NewEnrollmentCount", "NewEnrollments"),
        OutcomeCount(frozenset({"ENROLLMENT_OVERWRITE"}), "OverwrittenEnrollmentCount", "OverwrittenEnrollments"),
        OutcomeCount(frozenset({"DUPLICATE_SKIPPED"}), "DuplicateSkippedRequestCount", "DuplicateSkippedRequests"),
    ),
    succeeded_count_attributes=("NewEnrollmentCount", "OverwrittenEnrollmentCount"),
    max_requests_per_job=10_000,
    service=VOICE_ID,
    output_format="voiceid-out",
    start_config_member="EnrollmentConfig",
    # The .out's Errors entries carry only RequestId, ErrorCode and ErrorMessage; the speaker an operator
    # must retry comes from the input manifest (its SpeakerId is the CustomerSpeakerId).
    failure_fields_from_manifest={"CustomerSpeakerId": "SpeakerId"},
    # The customer's own id for the speaker: erasing a customer finds their items by it.
    subject_attribute="CustomerSpeakerId",
)
