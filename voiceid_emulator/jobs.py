"""Batch job lifecycle and processing: manifest checks, per-request outcomes, the `.out` file and events."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator_core.events import EventPublisher
from emulator_core.jobs import SteppingEngine
from voiceid_emulator.audio import MAX_AUDIO_BYTES, AudioFormatError, ChannelAnalysis, analyze_channel, decode
from voiceid_emulator.clock import Clock, Pacing
from voiceid_emulator.events import (
    STATUS_FAILED,
    STATUS_SUBMITTED,
    STATUS_SUCCEEDED,
    error_type_for,
)
from voiceid_emulator.faults import FaultController
from voiceid_emulator.s3io import S3AccessError, S3Store, output_location
from voiceid_emulator.store import (
    AccountState,
    Domain,
    Fraudster,
    Job,
    JobKind,
    Quotas,
    Speaker,
    new_entity_id,
)

LOG = logging.getLogger(__name__)

MANIFEST_VERSION = "1.0"
MAX_AUDIO_SPECIFICATIONS = 10
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
DEFAULT_RISK_THRESHOLD = 50
# Used with fullmatch: `$` would also accept a trailing newline.
_S3_URI = re.compile(r"s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?")
_CUSTOMER_SPEAKER_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]*")
# With 0 s per request, the worker takes up to this many steps of one job per pass before looking at the other
# jobs again (and at stop requests), so one big job cannot starve the others.
MAX_STEPS_PER_PASS = 500


class ManifestError(Exception):
    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class RequestFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AudioOutcome:
    """What one S3 audio object gives a job: per channel, its analysis or the (code, message) of the failure."""

    channels: dict[int, ChannelAnalysis | tuple[int, str]]

    def channel(self, channel: int) -> ChannelAnalysis:
        outcome = self.channels[channel]
        if isinstance(outcome, ChannelAnalysis):
            return outcome
        raise RequestFailure(*outcome)


def similarity(a: frozenset[str], b: frozenset[str]) -> int:
    """Deterministic voiceprint similarity: the share of identical audio fingerprints (100 = same audio)."""
    if not a or not b:
        return 0
    return round(100 * len(a & b) / len(a | b))


def parse_manifest(  # noqa: PLR0912 - one check per documented manifest rule
    raw: bytes, kind: JobKind, max_requests: int
) -> list[dict[str, Any]]:
    """Check a manifest against the documented schema (voiceid-facts §1.1/§1.3); any violation fails the whole job."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"The input manifest is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestError("The input manifest must be a JSON object")
    version = doc.get("Version")
    if version != MANIFEST_VERSION:
        raise ManifestError(f"Unsupported manifest Version {version!r}; the only supported version is '1.0'")
    requests = doc.get(kind.requests_member)
    if not isinstance(requests, list) or not requests:
        raise ManifestError(f"The input manifest must contain a non-empty {kind.requests_member} list")
    if len(requests) > max_requests:
        raise ManifestError(
            f"The input manifest has {len(requests)} requests; a {kind.label} accepts at most {max_requests}",
            status_code=402,
        )
    seen: set[str] = set()
    for index, request in enumerate(requests):
        where = f"{kind.requests_member}[{index}]"
        if not isinstance(request, dict):
            raise ManifestError(f"{where} must be an object")
        request_id = request.get("RequestId")
        if not isinstance(request_id, str) or not request_id:
            raise ManifestError(f"{where}.RequestId is required and must be a non-empty string")
        if request_id in seen:
            raise ManifestError(f"Duplicate RequestId {request_id!r}; RequestIds must be unique in the manifest")
        seen.add(request_id)
        if kind is JobKind.SPEAKER_ENROLLMENT:
            speaker_id = request.get("SpeakerId")
            if (
                not isinstance(speaker_id, str)
                or not _CUSTOMER_SPEAKER_ID.fullmatch(speaker_id)
                or len(speaker_id) > 256
            ):
                raise ManifestError(f"{where}.SpeakerId must be a CustomerSpeakerId (1-256 of [a-zA-Z0-9_-])")
        specs = request.get("AudioSpecifications")
        if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_AUDIO_SPECIFICATIONS:
            raise ManifestError(f"{where}.AudioSpecifications must list 1 to {MAX_AUDIO_SPECIFICATIONS} audio files")
        for spec_index, spec in enumerate(specs):
            spec_where = f"{where}.AudioSpecifications[{spec_index}]"
            if not isinstance(spec, dict):
                raise ManifestError(f"{spec_where} must be an object")
            uri = spec.get("S3Uri")
            if not isinstance(uri, str) or not _S3_URI.fullmatch(uri):
                raise ManifestError(f"{spec_where}.S3Uri must be an s3:// URI")
            channel = spec.get("ChannelId")
            if isinstance(channel, bool) or channel not in (0, 1):
                raise ManifestError(f"{spec_where}.ChannelId must be 0 or 1")
    return requests


@dataclass
class JobEngineConfig:
    quotas: Quotas
    min_speech_seconds: float


class JobEngine(SteppingEngine[Job, Pacing]):
    """Moves jobs forward one step at a time, either from a background worker or from explicit calls."""

    worker_name = "voiceid-job-worker"

    def __init__(
        self,
        *,
        state: AccountState,
        s3: Callable[[], S3Store],
        publisher: EventPublisher,
        faults: FaultController,
        clock: Clock,
        config: JobEngineConfig,
        pacing: Pacing,
    ) -> None:
        super().__init__(state=state, pacing=pacing)
        self.state: AccountState = state
        self._s3 = s3
        self.publisher = publisher
        self.faults = faults
        self.clock = clock
        self.config = config
        # Per active job: S3 URI -> what that audio object gave. Each object is read and analysed once per job
        # (an emulator shortcut, see README); dropped when the job ends.
        self._audio: dict[str, dict[str, AudioOutcome]] = {}

    # --- events --------------------------------------------------------------------------------------------

    def event_detail(self, job: Job, status: str) -> dict[str, Any]:
        params = job.params
        data: dict[str, Any] = {
            "dataAccessRoleArn": params["DataAccessRoleArn"],
            "inputDataConfig": {"s3Uri": params["InputDataConfig"]["S3Uri"]},
            "outputDataConfig": _camel(params["OutputDataConfig"]),
        }
        config_member = job.kind.config_member
        if config_member in params:
            data[config_member[0].lower() + config_member[1:]] = _camel(params[config_member])
        detail: dict[str, Any] = {
            "sourceId": new_entity_id()[3:],
            "domainId": job.domain_id,
            "action": job.kind.event_action,
            "status": status,
            "batchJobId": job.job_id,
            "data": data,
        }
        if status == STATUS_FAILED and job.failure is not None:
            detail["errorInfo"] = {
                "errorMessage": job.failure["Message"],
                "errorType": error_type_for(int(job.failure["StatusCode"])),
                "errorCode": job.failure["StatusCode"],
            }
        return detail

    def publish(self, job: Job, status: str, domain_arn: str) -> None:
        with self.state.lock:
            detail = self.event_detail(job, status)
        self.publisher.publish(job.kind.detail_type, [domain_arn], detail)

    def job_submitted(self, job: Job, domain_arn: str) -> None:
        self.publish(job, STATUS_SUBMITTED, domain_arn)
        self.wake()

    # --- pacing --------------------------------------------------------------------------------------------

    def set_pacing(self, pacing: Pacing) -> None:
        """Switch background pacing. Jobs started afterwards use it, and so does the step every active job is
        waiting for: it falls due at (the job's previous step, or its start while SUBMITTED) + the new interval.
        A job with a pending forced failure stays due at once."""
        with self._step_lock, self.state.lock:
            self._switch_pacing(pacing)
            for job in self.state.active_jobs():
                if self.faults.forced_failure(job.job_id) is not None:
                    continue
                interval = pacing.submitted_seconds if job.status == "SUBMITTED" else pacing.seconds_per_request
                job.next_due = job.paced_from + interval
        self.wake()

    # --- stepping ------------------------------------------------------------------------------------------

    def step(self, job_id: str) -> bool:
        """Take one step of a job; return False if it was already finished (or unknown)."""
        with self._step_lock:
            return self._step(job_id)

    def _step(self, job_id: str) -> bool:
        with self.state.lock:
            job = self.state.find_job(job_id)
            if job is None or not job.active:
                return False
            domain = self.state.domains[job.domain_id]
            status = job.status
        forced = self.faults.forced_failure(job_id)
        if forced is not None:
            self._fail(job, domain, forced.status_code, forced.message)
            return True
        try:
            if status == "SUBMITTED":
                self._start(job, domain)
            else:
                self._process_next(job, domain)
        except Exception as exc:
            # An emulator bug must end the job like a service fault would, not leave it stuck IN_PROGRESS.
            LOG.exception("Unexpected error while processing job %s", job_id)
            self._fail(job, domain, 500, f"Internal failure: {exc}")
        return True

    def _start(self, job: Job, domain: Domain) -> None:
        max_requests = (
            self.config.quotas.requests_per_fraudster_job
            if job.kind is JobKind.FRAUDSTER_REGISTRATION
            else self.config.quotas.requests_per_speaker_job
        )
        uri = job.params["InputDataConfig"]["S3Uri"]
        try:
            raw = self._s3().read(uri, max_bytes=MAX_MANIFEST_BYTES)
            requests = parse_manifest(raw, job.kind, max_requests)
        except S3AccessError as exc:
            self._fail(job, domain, exc.status_code, f"Unable to read the input manifest. {exc}")
            return
        except ManifestError as exc:
            self._fail(job, domain, exc.status_code, str(exc))
            return
        with self.state.lock:
            job.requests = requests
            job.status = "IN_PROGRESS"
            job.percent_complete = 0
            self._schedule_next(job, self.pacing.seconds_per_request)

    def _schedule_next(self, job: Job, interval: float) -> None:
        now = self.clock.now()
        job.paced_from = now
        job.next_due = now + interval

    def _process_next(self, job: Job, domain: Domain) -> None:
        with self.state.lock:
            request = job.requests[job.next_request]
        try:
            analyses = self._load_audio(job.job_id, request)
            with self.state.lock:
                success = self._decide(job, domain, request, analyses)
                job.successes.append(success)
        except RequestFailure as failure:
            with self.state.lock:
                job.errors.append(
                    {
                        "RequestId": request["RequestId"],
                        "ErrorCode": failure.code,
                        "ErrorMessage": failure.message,
                    }
                )
        with self.state.lock:
            job.next_request += 1
            total = len(job.requests)
            job.percent_complete = min(99, job.next_request * 100 // total)
            self._schedule_next(job, self.pacing.seconds_per_request)
            finished = job.next_request >= total
        if finished:
            self._finish(job, domain)

    def _load_audio(self, job_id: str, request: dict[str, Any]) -> list[ChannelAnalysis]:
        analyses: list[ChannelAnalysis] = []
        cache = self._audio.setdefault(job_id, {})
        for spec in request["AudioSpecifications"]:
            uri = spec["S3Uri"]
            outcome = cache.get(uri)
            if outcome is None:
                outcome = cache[uri] = self._read_audio(uri)
            analyses.append(outcome.channel(int(spec["ChannelId"])))
        speech = sum(a.speech_seconds for a in analyses)
        if speech < self.config.min_speech_seconds:
            raise RequestFailure(
                400,
                f"The audio does not have enough speech: {speech:.2f} seconds found, "
                f"at least {self.config.min_speech_seconds:.2f} seconds required",
            )
        return analyses

    def _read_audio(self, uri: str) -> AudioOutcome:
        """Read one audio object and analyse each channel a request may name (0 and 1)."""
        try:
            data = self._s3().read(uri, max_bytes=MAX_AUDIO_BYTES)
        except S3AccessError as exc:
            failure = (exc.status_code, f"Unable to read the audio file. {exc}")
            return AudioOutcome({0: failure, 1: failure})
        try:
            decoded = decode(data)
        except AudioFormatError as exc:
            failure = (400, f"{uri}: {exc}")
            return AudioOutcome({0: failure, 1: failure})
        channels: dict[int, ChannelAnalysis | tuple[int, str]] = {}
        for channel in (0, 1):
            try:
                channels[channel] = analyze_channel(decoded, channel)
            except AudioFormatError as exc:
                channels[channel] = (400, f"{uri}: {exc}")
        return AudioOutcome(channels)

    def _decide(
        self, job: Job, domain: Domain, request: dict[str, Any], analyses: list[ChannelAnalysis]
    ) -> dict[str, Any]:
        fingerprints = frozenset(a.fingerprint for a in analyses)
        if job.kind is JobKind.FRAUDSTER_REGISTRATION:
            return self._register_fraudster(job, domain, request["RequestId"], fingerprints)
        return self._enroll_speaker(job, domain, request, fingerprints)

    def _register_fraudster(
        self, job: Job, domain: Domain, request_id: str, fingerprints: frozenset[str]
    ) -> dict[str, Any]:
        config = job.params.get("RegistrationConfig", {})
        watchlist_id = (config.get("WatchlistIds") or [domain.default_watchlist_id])[0]
        if config.get("DuplicateRegistrationAction", "SKIP") == "SKIP":
            threshold = config.get("FraudsterSimilarityThreshold", 0)
            best: tuple[int, Fraudster] | None = None
            for fraudster in domain.fraudsters.values():
                score = similarity(fingerprints, fraudster.fingerprints)
                if score > 0 and score >= threshold and (best is None or score > best[0]):
                    best = (score, fraudster)
            if best is not None:
                return {
                    "RequestId": request_id,
                    "GeneratedFraudsterId": best[1].fraudster_id,
                    "RegistrationStatus": "DUPLICATE_SKIPPED",
                    "FraudsterSimilarityScore": best[0],
                }
        limit = self.config.quotas.fraudsters_per_watchlist
        if domain.fraudsters_in(watchlist_id) >= limit:
            raise RequestFailure(402, f"Fraudster limit exceeded: watchlist {watchlist_id} has {limit} fraudsters")
        fraudster = Fraudster(new_entity_id(), domain.domain_id, {watchlist_id}, fingerprints, self.clock.now())
        domain.fraudsters[fraudster.fraudster_id] = fraudster
        return {
            "RequestId": request_id,
            "GeneratedFraudsterId": fraudster.fraudster_id,
            "RegistrationStatus": "NEW_REGISTRATION",
        }

    def _enroll_speaker(
        self, job: Job, domain: Domain, request: dict[str, Any], fingerprints: frozenset[str]
    ) -> dict[str, Any]:
        config = job.params.get("EnrollmentConfig", {})
        customer_id = request["SpeakerId"]
        existing = domain.speakers.get(customer_id)
        if existing is not None and existing.opted_out:
            raise RequestFailure(409, f"You cannot request an enrollment for an opted out speaker ({customer_id})")
        fraud = config.get("FraudDetectionConfig", {})
        if fraud.get("FraudDetectionAction", "FAIL") == "FAIL":
            watchlist_id = (fraud.get("WatchlistIds") or [domain.default_watchlist_id])[0]
            threshold = fraud.get("RiskThreshold", DEFAULT_RISK_THRESHOLD)
            for fraudster in domain.fraudsters.values():
                risk = similarity(fingerprints, fraudster.fingerprints)
                if watchlist_id in fraudster.watchlist_ids and risk > 0 and risk >= threshold:
                    raise RequestFailure(
                        400,
                        f"Fraud verification checks failed for speaker {customer_id}: the voice matches "
                        f"fraudster {fraudster.fraudster_id} in watchlist {watchlist_id} (risk score {risk})",
                    )
        result = {"RequestId": request["RequestId"], "CustomerSpeakerId": customer_id}
        if existing is not None:
            if config.get("ExistingEnrollmentAction", "SKIP") == "SKIP":
                return {
                    **result,
                    "GeneratedSpeakerId": existing.generated_id,
                    "EnrollmentStatus": "DUPLICATE_SKIPPED",
                }
            existing.fingerprints = fingerprints
            return {
                **result,
                "GeneratedSpeakerId": existing.generated_id,
                "EnrollmentStatus": "ENROLLMENT_OVERWRITE",
            }
        if len(domain.speakers) >= self.config.quotas.speakers_per_domain:
            raise RequestFailure(402, f"Speaker limit exceeded: domain has {len(domain.speakers)} speakers")
        speaker = Speaker(new_entity_id(), customer_id, domain.domain_id, fingerprints)
        domain.speakers[customer_id] = speaker
        return {**result, "GeneratedSpeakerId": speaker.generated_id, "EnrollmentStatus": "NEW_ENROLLMENT"}

    def _finish(self, job: Job, domain: Domain) -> None:
        with self.state.lock:
            output = {
                "Version": MANIFEST_VERSION,
                "Errors": job.errors,
                job.kind.successes_member: job.successes,
            }
            params = job.params
        location = output_location(params["OutputDataConfig"]["S3Uri"], job.job_id, params["InputDataConfig"]["S3Uri"])
        try:
            self._s3().write_output(
                location, json.dumps(output, indent=2).encode(), params["OutputDataConfig"].get("KmsKeyId")
            )
        except S3AccessError as exc:
            self._fail(job, domain, exc.status_code, f"Unable to write the job output file. {exc}")
            return
        with self.state.lock:
            job.status = "COMPLETED_WITH_ERRORS" if job.errors else "COMPLETED"
            job.percent_complete = 100
            job.ended_at = self.clock.now()
        self._audio.pop(job.job_id, None)
        self.publish(job, STATUS_SUCCEEDED, domain.arn)
        with self.state.lock:
            job.end_event_handed_over = True

    def _fail(self, job: Job, domain: Domain, status_code: int, message: str) -> None:
        with self.state.lock:
            job.status = "FAILED"
            job.failure = {"StatusCode": status_code, "Message": message}
            job.ended_at = self.clock.now()
        self._audio.pop(job.job_id, None)
        LOG.info("Job %s failed: %s %s", job.job_id, status_code, message)
        self.publish(job, STATUS_FAILED, domain.arn)
        with self.state.lock:
            job.end_event_handed_over = True

    # --- background worker ---------------------------------------------------------------------------------

    def _run_due_steps(self) -> bool:
        moved = False
        with self._step_lock:
            with self.state.lock:
                now = self.clock.now()
                due = [job.job_id for job in self.state.active_jobs() if job.next_due <= now]
            for job_id in due:
                # A step that leaves the job due again (0 s per request) is followed at once by the next one.
                for _ in range(MAX_STEPS_PER_PASS):
                    if self._stop.is_set() or not self._step(job_id):
                        break
                    moved = True
                    with self.state.lock:
                        job = self.state.find_job(job_id)
                        if job is None or not job.active or job.next_due > self.clock.now():
                            break
        return moved


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {key[0].lower() + key[1:]: _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value
