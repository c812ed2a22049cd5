"""What varies between Voice ID's batch job kinds, as data: one `JobKind` per kind, in a module of its own.

Everything else (the state machine's loop, the lock, the wake-up, the sweep, recording) is shared and reads
the kind's description instead of branching on its name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class OutcomeCount:
    """One count of successful requests: which statuses it counts and where it is written."""

    statuses: frozenset[str]
    summary_attribute: str
    """The summary item's attribute, e.g. `RegisteredRequestCount`."""
    output_key: str
    """The execution output's field, e.g. `RegisteredRequests`."""


@dataclass(frozen=True)
class SuccessSchema:
    """The `.out` file's list of successful requests for this kind."""

    member: str
    """Top-level member, e.g. `SuccessfulRegistrations`."""
    status_field: str
    """The entry's status field, e.g. `RegistrationStatus`; its value picks the OutcomeCount."""
    check_entry: Callable[[Mapping[str, Any]], str | None]
    """The kind's own checks of one entry (RequestId and status are checked by the reader): the problem
    found, phrased to follow "has ...", or None."""


@dataclass(frozen=True)
class JobKind:
    name: str
    """As it appears in execution input (`JobKind`) and on items, e.g. `FRAUDSTER_REGISTRATION`."""
    noun: str
    """For messages, e.g. `fraudster registration`."""
    api_noun: str
    """Voice ID's API noun, e.g. `FraudsterRegistrationJob`: Describe<noun>, List<noun>s, Start<noun>."""
    event_detail_types: tuple[str, ...]
    """EventBridge detail-types Voice ID sends for this kind's jobs (every spelling the docs use)."""
    manifest_member: str
    """The input manifest's list of requests, e.g. `FraudsterRegistrationRequests`."""
    successes: SuccessSchema
    counts: tuple[OutcomeCount, ...]
    max_requests_per_job: int
    """Voice ID's per-job quota (docs/voiceid-facts.md §3.1)."""
    start_config_member: str
    """The Start*Job request's kind-specific configuration, e.g. `RegistrationConfig` (a retry copies it)."""
    failure_fields_from_manifest: Mapping[str, str] = field(default_factory=dict)
    """What failure items carry besides RequestId, ErrorCode and ErrorMessage: item attribute -> the input
    manifest request's field it is copied from (the `.out` Errors entries carry nothing else)."""
    subject_attribute: str | None = None
    """The failure items' attribute that names a person (a customer), if any, e.g. `CustomerSpeakerId`: the
    FailuresBySubject index is keyed on it, so that `voiceid-tracker erase` finds every item naming them."""

    @property
    def describe_api(self) -> str:
        return f"Describe{self.api_noun}"

    @property
    def list_api(self) -> str:
        return f"List{self.api_noun}s"

    @property
    def start_api(self) -> str:
        return f"Start{self.api_noun}"

    @property
    def describe_method(self) -> str:
        """The boto3 client method for the describe API."""
        return _snake(self.describe_api)

    @property
    def list_method(self) -> str:
        return _snake(self.list_api)

    @property
    def start_method(self) -> str:
        return _snake(self.start_api)

    @property
    def iam_actions(self) -> tuple[str, str]:
        """What the tracker needs on a configured domain: describe (its loop) and list (the sweep)."""
        return f"voiceid:{self.describe_api}", f"voiceid:{self.list_api}"

    def count_for(self, status: object) -> OutcomeCount | None:
        return next((count for count in self.counts if status in count.statuses), None)
