"""In-memory state of one emulated account: domains, watchlists, fraudsters, speakers and batch jobs."""

from __future__ import annotations

import secrets
import string
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

_ALNUM = string.ascii_letters + string.digits

ACTIVE_STATUSES = frozenset({"SUBMITTED", "IN_PROGRESS"})
TERMINAL_STATUSES = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"})


def new_resource_id() -> str:
    """A 22-character alphanumeric id, the format of DomainId, WatchlistId and JobId."""
    return "".join(secrets.choice(_ALNUM) for _ in range(22))


def new_entity_id() -> str:
    """`id#` + 22 alphanumerics, the format of GeneratedFraudsterId and GeneratedSpeakerId."""
    return "id#" + new_resource_id()


@dataclass(frozen=True)
class Quotas:
    """Service quotas (voiceid-facts §3.1); tests may lower them to reach a limit cheaply."""

    domains_per_account: int = 3
    watchlists_per_domain: int = 3
    fraudsters_per_watchlist: int = 500
    speakers_per_domain: int = 100_000
    requests_per_fraudster_job: int = 500
    requests_per_speaker_job: int = 10_000
    active_jobs_per_domain_per_kind: int = 1


class JobKind(Enum):
    FRAUDSTER_REGISTRATION = "fraudster"
    SPEAKER_ENROLLMENT = "speaker"

    @property
    def detail_type(self) -> str:
        if self is JobKind.FRAUDSTER_REGISTRATION:
            return "VoiceId Batch Fraudster Registration Action"
        return "VoiceId Batch Speaker Enrollment Action"

    @property
    def event_action(self) -> str:
        return "BATCH_REGISTRATION_REQUEST" if self is JobKind.FRAUDSTER_REGISTRATION else "BATCH_ENROLLMENT_REQUEST"

    @property
    def config_member(self) -> str:
        return "RegistrationConfig" if self is JobKind.FRAUDSTER_REGISTRATION else "EnrollmentConfig"

    @property
    def requests_member(self) -> str:
        if self is JobKind.FRAUDSTER_REGISTRATION:
            return "FraudsterRegistrationRequests"
        return "SpeakerEnrollmentRequests"

    @property
    def successes_member(self) -> str:
        return "SuccessfulRegistrations" if self is JobKind.FRAUDSTER_REGISTRATION else "SuccessfulEnrollments"

    @property
    def label(self) -> str:
        if self is JobKind.FRAUDSTER_REGISTRATION:
            return "fraudster registration job"
        return "speaker enrollment job"


@dataclass
class Watchlist:
    watchlist_id: str
    domain_id: str
    name: str
    description: str | None
    default: bool
    created_at: float
    updated_at: float

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "CreatedAt": self.created_at,
            "DefaultWatchlist": self.default,
            "DomainId": self.domain_id,
            "Name": self.name,
            "UpdatedAt": self.updated_at,
            "WatchlistId": self.watchlist_id,
        }
        if self.description is not None:
            out["Description"] = self.description
        return out


@dataclass
class Fraudster:
    fraudster_id: str
    domain_id: str
    watchlist_ids: set[str]
    fingerprints: frozenset[str]
    created_at: float


@dataclass
class Speaker:
    generated_id: str
    customer_id: str
    domain_id: str
    fingerprints: frozenset[str]
    opted_out: bool = False


@dataclass
class Job:
    kind: JobKind
    job_id: str
    domain_id: str
    params: dict[str, Any]  # the Start request without ClientToken, with config defaults filled in
    created_at: float
    status: str = "SUBMITTED"
    percent_complete: int = 0
    ended_at: float | None = None
    failure: dict[str, Any] | None = None
    next_due: float = 0.0  # clock time of the next background-paced step
    paced_from: float = 0.0  # clock time of the previous step (or of the start): next_due = paced_from + interval
    requests: list[dict[str, Any]] = field(default_factory=list)
    next_request: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    successes: list[dict[str, Any]] = field(default_factory=list)
    end_event_handed_over: bool = False
    """The job's end event was handed to delivery (or dropped by the event-loss fault): what
    `wait_for_job` waits for, so a caller never races the event it is about to look for."""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "CreatedAt": self.created_at,
            "DomainId": self.domain_id,
            "JobId": self.job_id,
            "JobProgress": {"PercentComplete": self.percent_complete},
            "JobStatus": self.status,
        }
        if "JobName" in self.params:
            out["JobName"] = self.params["JobName"]
        if self.ended_at is not None:
            out["EndedAt"] = self.ended_at
        if self.failure is not None:
            out["FailureDetails"] = dict(self.failure)
        return out

    def describe(self) -> dict[str, Any]:
        out = self.summary()
        for member in ("DataAccessRoleArn", "InputDataConfig", "OutputDataConfig", self.kind.config_member):
            if member in self.params:
                out[member] = self.params[member]
        return out


@dataclass
class Domain:
    domain_id: str
    arn: str
    name: str
    description: str | None
    kms_key_id: str
    created_at: float
    updated_at: float
    default_watchlist_id: str
    tags: list[dict[str, str]] = field(default_factory=list)
    watchlists: dict[str, Watchlist] = field(default_factory=dict)
    fraudsters: dict[str, Fraudster] = field(default_factory=dict)
    speakers: dict[str, Speaker] = field(default_factory=dict)  # keyed by CustomerSpeakerId
    jobs: dict[str, Job] = field(default_factory=dict)  # insertion order = creation order

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Arn": self.arn,
            "CreatedAt": self.created_at,
            "DomainId": self.domain_id,
            "DomainStatus": "ACTIVE",
            "Name": self.name,
            "ServerSideEncryptionConfiguration": {"KmsKeyId": self.kms_key_id},
            "UpdatedAt": self.updated_at,
            "WatchlistDetails": {"DefaultWatchlistId": self.default_watchlist_id},
        }
        if self.description is not None:
            out["Description"] = self.description
        return out

    def fraudsters_in(self, watchlist_id: str) -> int:
        return sum(1 for f in self.fraudsters.values() if watchlist_id in f.watchlist_ids)


class AccountState:
    """All state, guarded by one re-entrant lock (the emulator is small; contention is not a concern)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.domains: dict[str, Domain] = {}
        # (operation, ClientToken) -> (request params without the token, resource id)
        self.client_tokens: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}

    def find_job(self, job_id: str) -> Job | None:
        for domain in self.domains.values():
            job = domain.jobs.get(job_id)
            if job is not None:
                return job
        return None

    def active_jobs(self) -> list[Job]:
        return [job for d in self.domains.values() for job in d.jobs.values() if job.active]
