"""VoiceIdEmulator: wires state, job engine, faults, events and the HTTP server together."""

from __future__ import annotations

import math
import random
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from voiceid_emulator import model
from voiceid_emulator.clock import Clock, ManualPacingError, Pacing, SystemClock
from voiceid_emulator.errors import SMITHY_HTTP_STATUS, VoiceIdError
from voiceid_emulator.events import EventCallback, EventPublisher
from voiceid_emulator.faults import DOCUMENTED_TPS, FaultController
from voiceid_emulator.jobs import JobEngine, JobEngineConfig
from voiceid_emulator.s3io import S3Store, make_s3_client
from voiceid_emulator.server import AdminError, VoiceIdHTTPServer, dispatch
from voiceid_emulator.service import SUPPORTED_OPERATIONS, VoiceIdService
from voiceid_emulator.store import TERMINAL_STATUSES, AccountState, Job, Quotas

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_MIN_SPEECH_SECONDS = 2.0
_CUSTOMER_SPEAKER_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,255}")


class Admin:
    """Faults on demand and job control; the same operations back the HTTP admin endpoint."""

    def __init__(self, emulator: VoiceIdEmulator) -> None:
        self._emulator = emulator
        self.faults = emulator.faults

    def set_throttling(self, enabled: bool, tps: float = DOCUMENTED_TPS) -> None:
        self.faults.set_throttling(enabled, tps)

    def inject_internal_errors(self, count: int, operations: list[str] | None = None) -> None:
        unknown = [op for op in operations or [] if model.operation_model(op) is None]
        if unknown:
            raise ValueError(f"unknown Voice ID operations: {unknown}")
        self.faults.inject_internal_errors(count, operations)

    def set_latency(self, seconds: float) -> None:
        self.faults.set_latency(seconds)

    def force_job_failure(self, job_id: str, status_code: int = 500, message: str | None = None) -> None:
        """Fail an active job at its next step (at once, for a background-paced job)."""
        state = self._emulator.state
        with state.lock:
            job = state.find_job(job_id)
            if job is None:
                raise KeyError(f"no job {job_id}")
            if not job.active:
                raise ValueError(f"job {job_id} is already {job.status}")
            self.faults.force_job_failure(job_id, status_code, message)
            job.next_due = 0.0
        self._emulator.engine.wake()

    def fail_next_jobs(self, count: int = 1, status_code: int = 500, message: str | None = None) -> None:
        """Mark the next `count` jobs started (of either kind) to fail at their first step."""
        text = message or "The job was failed on demand through the Voice ID emulator's admin API"
        self._emulator.service.fail_next_jobs(count, status_code, text)

    def set_event_loss(self, fraction: float, seed: int | None = None) -> None:
        """Lose this fraction (0 to 1) of the EventBridge events published from now on: 1.0 drops every event,
        0 restores delivery. A dropped event is built and listed in `emulator.dropped_events` but never reaches
        the callback or PutEvents. `seed` reseeds the random source for a repeatable subset.
        ValueError for a fraction outside [0, 1] or not a number, or a seed that is not an integer."""
        self.faults.set_event_loss(fraction, seed)

    def backdate_job(self, job_id: str, seconds: float) -> None:
        """Make a job look `seconds` older: CreatedAt, and EndedAt if it has ended, move back by `seconds`
        (cumulative over calls), in Describe* and List* alike. Pacing is unaffected: an active job still
        takes its next step when it would have. KeyError for an unknown job, ValueError for negative (or
        non-numeric, non-finite) seconds."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise ValueError(f"seconds must be a finite number, got {seconds!r}")
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0 (a job can only be moved into the past), got {seconds!r}")
        state = self._emulator.state
        with state.lock:
            job = state.find_job(job_id)
            if job is None:
                raise KeyError(f"no job {job_id}")
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
        with self._emulator.state.lock:
            self._emulator.service._pending_failures.clear()

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

    def state(self) -> dict[str, Any]:
        return {
            **self.faults.state(),
            "droppedEvents": self._emulator.publisher.dropped_count(),
            "pacing": {
                "manual": self._emulator.pacing.manual,
                "submittedSeconds": self._emulator.pacing.submitted_seconds,
                "secondsPerRequest": self._emulator.pacing.seconds_per_request,
            },
        }

    def handle_http(  # noqa: PLR0911, PLR0912 - a flat routing table
        self, method: str, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Route `/_voiceid/admin/<path>`; see README for the table of paths."""
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        route = (method, parts[0] if parts else "")
        emulator = self._emulator
        if route == ("GET", "state"):
            return self.state()
        if route == ("GET", "events"):
            return {"events": emulator.events}
        if route == ("GET", "dropped-events"):
            return {"droppedEvents": emulator.dropped_events}
        if method != "POST":
            raise AdminError(404, f"No admin route {method} /{path}")
        if route[1] == "throttling":
            self.set_throttling(bool(body["enabled"]), float(body.get("tps", DOCUMENTED_TPS)))
        elif route[1] == "internal-errors":
            self.inject_internal_errors(int(body["count"]), body.get("operations"))
        elif route[1] == "latency":
            self.set_latency(float(body["seconds"]))
        elif route[1] == "event-loss":
            if "fraction" not in body:
                raise AdminError(400, 'fraction is required, e.g. {"fraction": 1.0} to drop every event')
            try:
                self.set_event_loss(body["fraction"], body.get("seed"))
            except ValueError as exc:
                raise AdminError(400, str(exc)) from exc
        elif route[1] == "reset":
            self.reset_faults()
        elif route[1] == "pacing":
            self._pacing_http(parts[1:], body)
        elif route[1] == "fail-next-jobs":
            self.fail_next_jobs(int(body.get("count", 1)), int(body.get("statusCode", 500)), body.get("message"))
        elif route[1] == "jobs" and len(parts) == 3 and parts[2] == "fail":
            try:
                self.force_job_failure(parts[1], int(body.get("statusCode", 500)), body.get("message"))
            except KeyError as exc:
                raise AdminError(404, str(exc)) from exc
            except ValueError as exc:
                raise AdminError(409, str(exc)) from exc
        elif route[1] == "jobs" and len(parts) == 3 and parts[2] == "backdate":
            return self._backdate_http(parts[1], body)
        elif route[1] == "jobs" and len(parts) == 3 and parts[2] == "step":
            return {"moved": emulator.step_job(parts[1])}
        elif route[1] == "advance":
            return {"moved": emulator.advance()}
        elif route[1] == "run":
            emulator.run_until_done(body.get("jobId"))
        elif route[1] == "speakers" and len(parts) == 2 and parts[1] == "opt-out":
            self._opt_out_http(body)
        else:
            raise AdminError(404, f"No admin route {method} /{path}")
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


class VoiceIdEmulator:
    """A local Voice ID service for the batch-job APIs. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        s3_endpoint_url: str | None = None,
        s3_client: S3Client | None = None,
        events_endpoint_url: str | None = None,
        event_bus: str = "default",
        events_client: EventBridgeClient | None = None,
        event_callback: EventCallback | None = None,
        throttling: bool = True,
        tps: float = DOCUMENTED_TPS,
        clock: Clock | None = None,
        pacing: Pacing | None = None,
        min_speech_seconds: float = DEFAULT_MIN_SPEECH_SECONDS,
        quotas: Quotas | None = None,
        event_loss_random: random.Random | None = None,
    ) -> None:
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("the Voice ID emulator only binds to the loopback interface")
        self.host = host
        self.port = port
        self.region = region
        self.account_id = account_id
        self.clock: Clock = clock or SystemClock()
        self.initial_pacing = pacing or Pacing.instant()
        self.quotas = quotas or Quotas()
        self.state = AccountState()
        self.faults = FaultController(throttling=throttling, tps=tps, random_source=event_loss_random)
        self.publisher = EventPublisher(
            region,
            account_id,
            callback=event_callback,
            endpoint_url=events_endpoint_url,
            event_bus=event_bus,
            events_client=events_client,
            drop_event=self.faults.should_drop_event,
        )
        self._s3_endpoint_url = s3_endpoint_url
        self._s3_client = s3_client
        self._s3_store: S3Store | None = None
        self._s3_lock = threading.Lock()
        self.engine = JobEngine(
            state=self.state,
            s3=self._s3,
            publisher=self.publisher,
            faults=self.faults,
            clock=self.clock,
            config=JobEngineConfig(self.quotas, min_speech_seconds, self.initial_pacing),
        )
        self.service = VoiceIdService(
            state=self.state,
            engine=self.engine,
            faults=self.faults,
            clock=self.clock,
            quotas=self.quotas,
            region=region,
            account_id=account_id,
        )
        self.admin = Admin(self)
        self._server: VoiceIdHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def pacing(self) -> Pacing:
        """The current pacing: the one given at construction unless changed by `admin.set_pacing`."""
        return self.engine.config.pacing

    # --- lifecycle -----------------------------------------------------------------------------------------

    def _s3(self) -> S3Store:
        # Built lazily so a test can construct the emulator before its S3 server is up.
        with self._s3_lock:
            if self._s3_store is None:
                client = self._s3_client or make_s3_client(self._s3_endpoint_url, self.region)
                self._s3_store = S3Store(client)
            return self._s3_store

    def start(self) -> VoiceIdEmulator:
        if self._server is not None:
            return self
        model.service_model()  # load the model before the first request so it is not slowed by it
        self._server = VoiceIdHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="voiceid-http",
            daemon=True,
        )
        self._thread.start()
        self.engine.start_worker()
        return self

    def stop(self) -> None:
        self.engine.stop_worker()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> VoiceIdEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

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

    # --- pacing --------------------------------------------------------------------------------------------

    def step_job(self, job_id: str) -> bool:
        """One step of one job (manual pacing); False when the job is unknown or already finished."""
        return self.engine.step(job_id)

    def advance(self) -> int:
        """One step for every active job; returns how many moved."""
        return self.engine.advance()

    def run_until_done(self, job_id: str | None = None) -> None:
        """Step a job (or every active job) to a terminal status, synchronously."""
        self.engine.run_until_done(job_id)

    def job(self, job_id: str) -> Job:
        with self.state.lock:
            job = self.state.find_job(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def wait_for_job(self, job_id: str, timeout: float = 30.0) -> str:
        """Block until a background-paced job is terminal and its end event handed to delivery (Voice ID
        sets the status, then sends the event); return its status."""
        deadline = time.monotonic() + timeout
        while True:
            with self.state.lock:
                job = self.job(job_id)
                status, event_sent = job.status, job.end_event_handed_over
            if status in TERMINAL_STATUSES and event_sent:
                return status
            if self.pacing.manual:
                raise RuntimeError("manual pacing: call run_until_done() or step_job() instead of waiting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {status} after {timeout} s")
            time.sleep(0.01)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event handed to delivery, in order, whatever the target and whether or not delivery then
        succeeded; events lost to the event-loss fault are not here but in `dropped_events`."""
        return self.publisher.snapshot()

    @property
    def dropped_events(self) -> list[dict[str, Any]]:
        """Every event the event-loss fault dropped (built, never delivered), in order."""
        return self.publisher.dropped_snapshot()
