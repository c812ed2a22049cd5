"""VoiceIdEmulator: wires state, job engine, faults, events and the HTTP server together."""

from __future__ import annotations

import math
import random
import re
from typing import TYPE_CHECKING, Any, Unpack

from emulator_core.emulator import Emulator, EmulatorAdmin, EmulatorOptions
from voiceid_emulator import events, model
from voiceid_emulator.clock import ManualPacingError, Pacing
from voiceid_emulator.errors import SMITHY_HTTP_STATUS, VoiceIdError
from voiceid_emulator.faults import DOCUMENTED_TPS, FaultController
from voiceid_emulator.jobs import JobEngine, JobEngineConfig
from voiceid_emulator.server import AdminError, VoiceIdHTTPServer, dispatch
from voiceid_emulator.service import SUPPORTED_OPERATIONS, VoiceIdService
from voiceid_emulator.store import AccountState, Job, Quotas

if TYPE_CHECKING:
    pass

DEFAULT_MIN_SPEECH_SECONDS = 2.0
_CUSTOMER_SPEAKER_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,255}")


class Admin(EmulatorAdmin):
    """Faults on demand and job control; the same operations back the HTTP admin endpoint."""

    default_tps = DOCUMENTED_TPS
    _emulator: VoiceIdEmulator
    faults: FaultController

    def __init__(self, emulator: VoiceIdEmulator) -> None:
        super().__init__(emulator)

    def _is_operation(self, name: str) -> bool:
        return model.operation_model(name) is not None

    def force_job_failure(self, job_id: str, status_code: int = 500, message: str | None = None) -> None:
        """Fail an active job at its next step (at once, for a background-paced job)."""
        with self._emulator.state.lock:
            job = self._emulator.job_for_admin(job_id, active=True)
            self.faults.force_job_failure(job_id, status_code, message)
            job.next_due = 0.0
        self._emulator.engine.wake()

    def fail_next_jobs(self, count: int = 1, status_code: int = 500, message: str | None = None) -> None:
        """Mark the next `count` jobs started (of either kind) to fail at their first step."""
        text = message or "The job was failed on demand through the Voice ID emulator's admin API"
        self.faults.fail_next_jobs(count, status_code, text)

    def backdate_job(self, job_id: str, seconds: float) -> None:
        """Make a job look `seconds` older: CreatedAt, and EndedAt if it has ended, move back by `seconds`
        (cumulative over calls), in Describe* and List* alike. Pacing is unaffected: an active job still
        takes its next step when it would have. KeyError for an unknown job, ValueError for negative (or
        non-numeric, non-finite) seconds."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise ValueError(f"seconds must be a finite number, got {seconds!r}")
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0 (a job can only be moved into the past), got {seconds!r}")
        with self._emulator.state.lock:
            job = self._emulator.job_for_admin(job_id)
            job.created_at -= seconds
            if job.ended_at is not None:
                job.ended_at -= seconds

    def set_pacing(self, submitted_seconds: float, seconds_per_request: float) -> None:
        """Change background pacing at run time: jobs started from now on stay SUBMITTED for
        `submitted_seconds` and take `seconds_per_request` per request, and every active job's next step is
        rescheduled to its previous step (or its start, while SUBMITTED) + the new interval, so (0, 0) makes
        every active job run to its end at once. ManualPacingError (a ValueError) on a manual-pacing emulator;
        ValueError for a negative, non-finite or non-numeric value. A rejected call changes nothing.
        Pacing is configuration, not a fault: `reset_faults()` keeps it (see `reset_pacing()`)."""
        if self._emulator.pacing.manual:
            raise ManualPacingError(
                "this emulator uses manual pacing (jobs move only on step_job/advance); "
                "pacing can only be changed on a background-paced emulator"
            )
        seconds = [
            _seconds(name, value)
            for name, value in (("submittedSeconds", submitted_seconds), ("secondsPerRequest", seconds_per_request))
        ]
        self._emulator.engine.set_pacing(Pacing.real_time(*seconds))

    def reset_pacing(self) -> None:
        """Go back to the pacing the emulator was started with (like `set_pacing` with those values)."""
        initial = self._emulator.initial_pacing
        self.set_pacing(initial.submitted_seconds, initial.seconds_per_request)

    def reset_faults(self) -> None:
        """Clear every fault: throttling back to its start-up setting, no latency, injected errors or pending
        job failures, event delivery restored (event-loss fraction 0). Pacing is configuration and is kept."""
        self.faults.reset()

    def seed_domain(self, domain_id: str, *, name: str, kms_key_id: str) -> None:
        """Create a domain with a given id, standing in for one that exists in a real account (the local
        cloud seeds the domains a deployment is configured for). Re-seeding an existing id is a no-op."""
        if not re.fullmatch(r"[a-zA-Z0-9]{22}", domain_id):
            raise ValueError(f"a Voice ID domain id is 22 letters or digits, got {domain_id!r}")
        with self._emulator.state.lock:
            if domain_id in self._emulator.state.domains:
                return
            self._emulator.service.add_domain(name=name, kms_key_id=kms_key_id, domain_id=domain_id)

    def opt_out_speaker(self, domain_id: str, customer_speaker_id: str) -> None:
        """Mark a speaker opted out, so enrolling it is a 409 (the emulator has no OptOutSpeaker API). Like
        OptOutSpeaker, a speaker that does not exist yet is created opted out. KeyError for an unknown domain,
        ValueError for an id that is not a CustomerSpeakerId."""
        from voiceid_emulator.store import Speaker, new_entity_id

        if not isinstance(customer_speaker_id, str) or not _CUSTOMER_SPEAKER_ID.fullmatch(customer_speaker_id):
            raise ValueError(
                f"customerSpeakerId must be a CustomerSpeakerId (1-256 of [a-zA-Z0-9_-], starting with a letter "
                f"or digit), got {customer_speaker_id!r}"
            )
        state = self._emulator.state
        with state.lock:
            domain = state.domains.get(domain_id)
            if domain is None:
                raise KeyError(f"no domain {domain_id}")
            speaker = domain.speakers.get(customer_speaker_id)
            if speaker is None:
                speaker = Speaker(new_entity_id(), customer_speaker_id, domain_id, frozenset())
                domain.speakers[customer_speaker_id] = speaker
            speaker.opted_out = True

    def _post(  # noqa: PLR0912 - a flat routing table
        self, parts: list[str], path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        head = parts[0] if parts else ""
        emulator = self._emulator
        if head == "throttling":
            self.set_throttling(bool(body["enabled"]), float(body.get("tps", DOCUMENTED_TPS)))
        elif head == "internal-errors":
            self.inject_internal_errors(int(body["count"]), body.get("operations"))
        elif head == "latency":
            self.set_latency(float(body["seconds"]))
        elif head == "event-loss":
            if "fraction" not in body:
                raise AdminError(400, 'fraction is required, e.g. {"fraction": 1.0} to drop every event')
            try:
                self.set_event_loss(body["fraction"], body.get("seed"))
            except ValueError as exc:
                raise AdminError(400, str(exc)) from exc
        elif head == "reset":
            self.reset_faults()
        elif head == "pacing":
            self._pacing_http(parts[1:], body)
        elif head == "fail-next-jobs":
            self.fail_next_jobs(int(body.get("count", 1)), int(body.get("statusCode", 500)), body.get("message"))
        elif head == "jobs" and len(parts) == 3 and parts[2] == "fail":
            try:
                self.force_job_failure(parts[1], int(body.get("statusCode", 500)), body.get("message"))
            except KeyError as exc:
                raise AdminError(404, str(exc)) from exc
            except ValueError as exc:
                raise AdminError(409, str(exc)) from exc
        elif head == "jobs" and len(parts) == 3 and parts[2] == "backdate":
            return self._backdate_http(parts[1], body)
        elif head == "jobs" and len(parts) == 3 and parts[2] == "step":
            return {"moved": emulator.step_job(parts[1])}
        elif head == "advance":
            return {"moved": emulator.advance()}
        elif head == "run":
            emulator.run_until_done(body.get("jobId"))
        elif head == "speakers" and len(parts) == 2 and parts[1] == "opt-out":
            self._opt_out_http(body)
        else:
            raise AdminError(404, f"No admin route POST /{path}")
        return self.state()

    def _opt_out_http(self, body: dict[str, Any]) -> None:
        missing = [key for key in ("domainId", "customerSpeakerId") if key not in body]
        if missing:
            raise AdminError(400, f"{' and '.join(missing)} required")
        try:
            self.opt_out_speaker(str(body["domainId"]), body["customerSpeakerId"])
        except KeyError as exc:
            raise AdminError(404, str(exc)) from exc
        except ValueError as exc:
            raise AdminError(400, str(exc)) from exc

    def _pacing_http(self, rest: list[str], body: dict[str, Any]) -> None:
        try:
            if rest == ["reset"]:
                self.reset_pacing()
                return
            if rest:
                raise AdminError(404, f"No admin route POST /pacing/{'/'.join(rest)}")
            missing = [key for key in ("submittedSeconds", "secondsPerRequest") if key not in body]
            if missing:
                raise AdminError(
                    400, f'{" and ".join(missing)} required, e.g. {{"submittedSeconds": 0, "secondsPerRequest": 0}}'
                )
            self.set_pacing(body["submittedSeconds"], body["secondsPerRequest"])
        except ManualPacingError as exc:
            raise AdminError(409, str(exc)) from exc
        except ValueError as exc:
            raise AdminError(400, str(exc)) from exc

    def _backdate_http(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if "seconds" not in body:
            raise AdminError(400, 'seconds is required, e.g. {"seconds": 691200} for 8 days')
        try:
            self.backdate_job(job_id, body["seconds"])
        except KeyError as exc:
            raise AdminError(404, str(exc)) from exc
        except ValueError as exc:
            raise AdminError(400, str(exc)) from exc
        with self._emulator.state.lock:
            job = self._emulator.job(job_id)
            return {"jobId": job.job_id, "createdAt": job.created_at, "endedAt": job.ended_at}


def _seconds(name: str, value: object) -> float:
    """`value` as a finite, non-negative number of seconds; ValueError naming `name` otherwise."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}") from None
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


class VoiceIdEmulator(Emulator[Job, Pacing]):
    """A local Voice ID service for the batch-job APIs. Use as a context manager or call start()/stop()."""

    service_name = "Voice ID"
    thread_name = "voiceid-http"
    event_source = events.EVENT_SOURCE
    publisher_class = events.EventPublisher
    state: AccountState
    engine: JobEngine
    faults: FaultController
    admin: Admin

    def __init__(
        self,
        *,
        throttling: bool = True,
        tps: float = DOCUMENTED_TPS,
        pacing: Pacing | None = None,
        min_speech_seconds: float = DEFAULT_MIN_SPEECH_SECONDS,
        quotas: Quotas | None = None,
        event_loss_random: random.Random | None = None,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        super().__init__(
            faults=FaultController(throttling=throttling, tps=tps, random_source=event_loss_random), **options
        )
        self.initial_pacing = pacing or Pacing.instant()
        self.quotas = quotas or Quotas()
        self.state = AccountState()
        self.engine = JobEngine(
            state=self.state,
            s3=self._s3,
            publisher=self.publisher,
            faults=self.faults,
            clock=self.clock,
            config=JobEngineConfig(self.quotas, min_speech_seconds),
            pacing=self.initial_pacing,
        )
        self.service = VoiceIdService(
            state=self.state,
            engine=self.engine,
            faults=self.faults,
            clock=self.clock,
            quotas=self.quotas,
            region=self.region,
            account_id=self.account_id,
        )
        self.admin = Admin(self)

    def _make_server(self) -> VoiceIdHTTPServer:
        model.service_model()
        return VoiceIdHTTPServer((self.host, self.port), self)

    # --- API -----------------------------------------------------------------------------------------------

    def dispatch(self, operation: str, body: bytes) -> dict[str, Any]:
        """Handle one wire request body; raises VoiceIdError with the model's HTTP status."""
        try:
            return dispatch(
                operation,
                body,
                handle=self.service.handle,
                supported=SUPPORTED_OPERATIONS,
                should_throttle=self.faults.should_throttle,
                take_internal_error=self.faults.take_internal_error,
                latency=lambda: self.faults.latency_seconds,
            )
        except VoiceIdError as error:
            if error.code in SMITHY_HTTP_STATUS:
                error.status = model.http_status_for(error.code)
            raise
