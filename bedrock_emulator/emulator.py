"""BedrockEmulator: state, job engine, faults, events and the HTTP server wired together, and its admin API."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Unpack

from bedrock_emulator import events, protocol
from bedrock_emulator.faults import DEFAULT_TPS, BedrockFaults, check_outcome
from bedrock_emulator.jobs import JobEngine, Pacing
from bedrock_emulator.runtime import RuntimeService
from bedrock_emulator.server import BedrockHTTPServer, dispatch
from bedrock_emulator.service import BedrockService
from bedrock_emulator.store import AccountState, ForcedOutcome, Job, ModelQuota, Quotas
from emulator_core.clock import ManualPacingError
from emulator_core.emulator import Emulator, EmulatorAdmin, EmulatorOptions
from emulator_core.http import AdminError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Models a local deployment offers (one per request format); any anthropic.claude* or amazon.nova* id works.
DEFAULT_MODEL_IDS = ("anthropic.claude-3-haiku-20240307-v1:0", "amazon.nova-micro-v1:0")

# Admin path segment -> the status a job can be forced to end in.
_OUTCOME_ROUTES = {"fail": "Failed", "expire": "Expired", "partially-complete": "PartiallyCompleted"}


class Admin(EmulatorAdmin):
    """Faults on demand and job control; the same operations back `/_bedrock/admin/` (see README)."""

    default_tps = DEFAULT_TPS
    _emulator: BedrockEmulator
    faults: BedrockFaults

    def __init__(self, emulator: BedrockEmulator) -> None:
        super().__init__(emulator)

    def _is_operation(self, name: str) -> bool:
        return name in protocol.ALL_OPERATIONS

    def set_record_errors(self, errors: dict[str, Any]) -> None:
        """Force records' errors by recordId, in batch jobs and on demand (see BedrockFaults.set_record_errors)."""
        self.faults.set_record_errors(errors)

    def add_record_error_rules(self, rules: list[Any]) -> None:
        """Force the errors of the records that match, by recordId, prompt text and model, `times` times or every
        time, in batch jobs and on demand (see BedrockFaults.add_record_error_rules)."""
        self.faults.add_record_error_rules(rules)

    def set_invocation_rate(self, requests_per_second: float | None, model_id: str | None = None) -> None:
        """Throttle InvokeModel and Converse per model (see BedrockFaults.set_invocation_rate)."""
        self.faults.set_invocation_rate(requests_per_second, model_id)

    def force_outcome(self, job_id: str, status: str, after_records: int = 0, message: str | None = None) -> None:
        """End an active job with `status` (Failed, Expired or PartiallyCompleted) once `after_records` of its
        records are processed (at its next step for 0). KeyError for an unknown job, ValueError for an ended job
        or a bad value."""
        checked = check_outcome(status, after_records)
        with self._emulator.state.lock:
            job = self._emulator.job_for_admin(job_id, active=True)
            job.forced = ForcedOutcome(*checked, message)
        self._emulator.engine.wake()

    def force_next_jobs(self, status: str, after_records: int = 0, count: int = 1, message: str | None = None) -> None:
        self.faults.force_next_jobs(status, after_records, count, message)

    def deny_roles(self, role_arns: list[str]) -> None:
        self.faults.deny_roles(role_arns)

    def deny_operations(self, operations: list[str]) -> None:
        self.faults.deny_operations(operations, protocol.ALL_OPERATIONS)

    def set_quota(self, model_id: str | None = None, **values: int) -> ModelQuota:
        """Change the default quota (model_id None) or one model's: min_records_per_job, max_records_per_job,
        max_unfinished_jobs. Unnamed values keep their current setting. ValueError for a bad value."""
        quotas = self._emulator.quotas
        with self._emulator.state.lock:
            current = quotas.default if model_id is None else quotas.for_model(model_id)
            updated = ModelQuota(**{**current.to_kwargs(), **values})
            if model_id is None:
                quotas.default = updated
            else:
                quotas.per_model[model_id] = updated
        return updated

    def reset_quotas(self) -> None:
        with self._emulator.state.lock:
            initial = self._emulator.initial_quotas
            self._emulator.quotas.default = initial.default
            self._emulator.quotas.per_model = dict(initial.per_model)

    def set_pacing(self, stage_seconds: float, records_per_second: float) -> None:
        """Background pacing at run time (0 records/s: as fast as possible). ManualPacingError on a
        manual-pacing emulator; ValueError for a negative or non-numeric value."""
        if self._emulator.engine.pacing.manual:
            raise ManualPacingError("this emulator uses manual pacing; step jobs with step_job/advance instead")
        values = [
            _non_negative(name, value)
            for name, value in (("stageSeconds", stage_seconds), ("recordsPerSecond", records_per_second))
        ]
        self._emulator.engine.set_pacing(Pacing.real_time(*values))

    def count_timeout_from(self, counted_from: str) -> None:
        """Count the timeoutDurationInHours of the jobs created from now on from their submission (the default)
        or from their start ("start": a job may queue up to its timeout, then run up to its timeout).
        ValueError for another value."""
        self._emulator.engine.count_timeout_from(counted_from)

    def reset_pacing(self) -> None:
        initial = self._emulator.initial_pacing
        self.set_pacing(initial.stage_seconds, initial.records_per_second)

    def reset_faults(self) -> None:
        """Clear every fault (throttling back to its start-up setting); pacing and quotas are configuration and
        are kept, and so are the faults already attached to a job."""
        self.faults.reset()

    def state(self) -> dict[str, Any]:
        return {
            **super().state(),
            "quotas": self._emulator.quotas.to_api(),
            "timeoutCountedFrom": self._emulator.engine.timeout_counted_from,
        }

    def _post(  # noqa: PLR0912, PLR0915 - a flat routing table
        self, parts: list[str], path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        head = parts[0] if parts else ""
        emulator = self._emulator
        try:
            if parts == ["record-errors"]:
                self.set_record_errors(body)
            elif parts == ["record-errors", "clear"]:
                self.faults.clear_record_errors()
            elif parts == ["record-error-rules"]:
                if "rules" not in body:
                    raise AdminError(
                        400,
                        'rules is required, e.g. {"rules": [{"promptContains": "x", "errorCode": 429, "times": 1}]}',
                    )
                self.add_record_error_rules(body["rules"])
            elif parts == ["invocation-throttling"]:
                if "requestsPerSecond" not in body:
                    raise AdminError(400, 'requestsPerSecond is required, e.g. {"requestsPerSecond": 2} (null: off)')
                self.set_invocation_rate(body["requestsPerSecond"], body.get("modelId"))
            elif head == "jobs" and len(parts) == 3 and parts[2] in _OUTCOME_ROUTES:
                self.force_outcome(
                    parts[1], _OUTCOME_ROUTES[parts[2]], body.get("afterRecords", 0), body.get("message")
                )
            elif head == "jobs" and len(parts) == 3 and parts[2] == "step":
                return {"moved": emulator.step_job(parts[1])}
            elif parts == ["next-jobs"]:
                self.force_next_jobs(
                    body.get("status", ""), body.get("afterRecords", 0), body.get("count", 1), body.get("message")
                )
            elif parts == ["advance"]:
                return {"moved": emulator.advance()}
            elif parts == ["run"]:
                emulator.run_until_done(body.get("jobId"))
            elif parts == ["throttling"]:
                self.set_throttling(bool(body["enabled"]), body.get("tps", DEFAULT_TPS))
            elif parts == ["internal-errors"]:
                self.inject_internal_errors(int(body["count"]), body.get("operations"))
            elif parts == ["latency"]:
                self.set_latency(float(body["seconds"]))
            elif parts == ["event-loss"]:
                if "fraction" not in body:
                    raise AdminError(400, 'fraction is required, e.g. {"fraction": 1.0} to drop every event')
                self.set_event_loss(body["fraction"], body.get("seed"))
            elif parts == ["denied-roles"]:
                if "roleArns" not in body:
                    raise AdminError(400, 'roleArns is required, e.g. {"roleArns": ["arn:aws:iam::...:role/x"]}')
                self.deny_roles(body["roleArns"])
            elif parts == ["denied-operations"]:
                if "operations" not in body:
                    raise AdminError(400, 'operations is required, e.g. {"operations": ["GetModelInvocationJob"]}')
                self.deny_operations(body["operations"])
            elif parts == ["quotas"]:
                self._quota_http(body)
            elif parts == ["quotas", "reset"]:
                self.reset_quotas()
            elif parts == ["pacing"]:
                missing = [key for key in ("stageSeconds", "recordsPerSecond") if key not in body]
                if missing:
                    raise AdminError(
                        400, f'{" and ".join(missing)} required, e.g. {{"stageSeconds": 0, "recordsPerSecond": 0}}'
                    )
                self.set_pacing(body["stageSeconds"], body["recordsPerSecond"])
            elif parts == ["timeout"]:
                if "countedFrom" not in body:
                    raise AdminError(400, 'countedFrom is required, e.g. {"countedFrom": "start"}')
                self.count_timeout_from(body["countedFrom"])
            elif parts == ["pacing", "reset"]:
                self.reset_pacing()
            elif parts == ["reset"]:
                self.reset_faults()
            else:
                raise AdminError(404, f"No admin route POST /{path}")
        except KeyError as exc:
            raise AdminError(404, str(exc)) from exc
        except ManualPacingError as exc:
            raise AdminError(409, str(exc)) from exc
        except ValueError as exc:
            status = 409 if "is already" in str(exc) else 400
            raise AdminError(status, str(exc)) from exc
        return self.state()

    def _quota_http(self, body: dict[str, Any]) -> None:
        names = {
            "minRecordsPerJob": "min_records_per_job",
            "maxRecordsPerJob": "max_records_per_job",
            "maxUnfinishedJobs": "max_unfinished_jobs",
        }
        unknown = sorted(set(body) - {*names, "modelId"})
        if unknown:
            raise AdminError(400, f"unknown quota fields {unknown}; known: modelId, {', '.join(names)}")
        model_id = body.get("modelId")
        if model_id is not None and not isinstance(model_id, str):
            raise AdminError(400, f"modelId must be a string, got {model_id!r}")
        self.set_quota(model_id, **{names[key]: value for key, value in body.items() if key in names})


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


class BedrockEmulator(Emulator[Job, Pacing]):
    """A local Amazon Bedrock for the batch inference (model invocation job) APIs; a context manager."""

    service_name = "Bedrock"
    thread_name = "bedrock-http"
    event_source = events.EVENT_SOURCE
    state: AccountState
    engine: JobEngine
    faults: BedrockFaults
    admin: Admin

    def __init__(
        self,
        *,
        s3_client_for_role: Callable[[str], S3Client] | None = None,
        throttling: bool = False,
        tps: float = DEFAULT_TPS,
        pacing: Pacing | None = None,
        quotas: Quotas | None = None,
        event_loss_random: random.Random | None = None,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        """`s3_client_for_role(role_arn)`: the S3 client a job uses, as its service role (the local cloud signs
        with the role so that the role's policies decide what the job may read and write); default: one client
        for every job, from `s3_client` or `s3_endpoint_url`."""
        super().__init__(
            faults=BedrockFaults(throttling=throttling, tps=tps, random_source=event_loss_random),
            s3_client_for_role=s3_client_for_role,
            **options,
        )
        self.initial_pacing = pacing or Pacing.instant()
        self.quotas = quotas or Quotas()
        self.initial_quotas = Quotas(self.quotas.default, dict(self.quotas.per_model))
        self.state = AccountState()
        self.engine = JobEngine(
            state=self.state,
            s3_for_role=self._s3,
            publisher=self.publisher,
            faults=self.faults,
            clock=self.clock,
            quotas=self.quotas,
            pacing=self.initial_pacing,
            account_id=self.account_id,
        )
        self.service = BedrockService(
            state=self.state,
            engine=self.engine,
            faults=self.faults,
            clock=self.clock,
            quotas=self.quotas,
            region=self.region,
            account_id=self.account_id,
        )
        # bedrock-runtime's InvokeModel and Converse, on the same port: both APIs sign as `bedrock`.
        self.runtime = RuntimeService(
            state=self.state,
            engine=self.engine,
            faults=self.faults,
            clock=self.clock,
            quotas=self.quotas,
            region=self.region,
            account_id=self.account_id,
        )
        self.admin = Admin(self)

    def _make_server(self) -> BedrockHTTPServer:
        protocol.routes()
        return BedrockHTTPServer((self.host, self.port), self)

    # --- API ---------------------------------------------------------------------------------------------------

    def dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> protocol.Reply:
        """One REST-JSON request (bedrock or bedrock-runtime); raises BedrockError with the model's HTTP status."""
        return dispatch(self, method, path, query, body, headers=headers or {})

    def run_until_done(self, job_id: str | None = None) -> None:
        """Step a job (by id or ARN; KeyError for an unknown one) or every active job until it has ended."""
        self.engine.run_until_done(None if job_id is None else self.job(job_id).job_id)
