"""S3BatchEmulator: state, job engine, faults, events and the HTTP server wired together, and its admin API."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Unpack

import boto3
from botocore.config import Config

from emulator_core.clock import ManualPacingError
from emulator_core.emulator import Emulator, EmulatorAdmin, EmulatorOptions
from emulator_core.http import AdminError
from s3batch_emulator import events, protocol
from s3batch_emulator.faults import DEFAULT_TPS, S3BatchFaults, check_outcome
from s3batch_emulator.jobs import JobEngine, Pacing
from s3batch_emulator.server import S3BatchHTTPServer, dispatch
from s3batch_emulator.service import S3BatchService
from s3batch_emulator.store import QUOTA_FIELDS, AccountState, ForcedOutcome, Job, Quotas
from s3batch_emulator.tasks import RoleClients

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

# Admin path segment -> the status a job can be forced to end in.
_OUTCOME_ROUTES = {"fail": "Failed", "cancel": "Cancelled", "complete": "Complete"}


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


class Admin(EmulatorAdmin):
    """Faults on demand and job control; the same operations back `/_s3batch/admin/` (see README)."""

    default_tps = DEFAULT_TPS
    _emulator: S3BatchEmulator
    faults: S3BatchFaults

    def __init__(self, emulator: S3BatchEmulator) -> None:
        super().__init__(emulator)

    def _is_operation(self, name: str) -> bool:
        return name in protocol.OPERATIONS

    def set_task_failures(self, body: dict[str, Any]) -> None:
        """Force task failures (see S3BatchFaults.set_task_failures for the body)."""
        self.faults.set_task_failures(body)

    def force_outcome(self, job_id: str, status: str, after_tasks: int = 0, message: str | None = None) -> None:
        """End an active job with `status` (Failed, Cancelled or Complete) once `after_tasks` of its tasks ran
        (its remaining tasks never run). KeyError for an unknown job, ValueError for an ended job or bad value."""
        checked = check_outcome(status, after_tasks)
        with self._emulator.state.lock:
            job = self._emulator.job_for_admin(job_id, active=True)
            job.forced = ForcedOutcome(*checked, message)
        self._emulator.engine.wake()

    def force_next_jobs(self, status: str, after_tasks: int = 0, count: int = 1, message: str | None = None) -> None:
        self.faults.force_next_jobs(status, after_tasks, count, message)

    def set_quotas(self, **values: int) -> Quotas:
        """Change quotas by field name (max_active_jobs, max_tasks_per_job, max_tags_per_job,
        report_rows_per_file, lambda_attempts, suspended_days_before_failure). ValueError for a bad value."""
        with self._emulator.state.lock:
            self._emulator.quotas = dataclasses.replace(self._emulator.quotas, **values)
        self._emulator.engine.wake()
        return self._emulator.quotas

    def reset_quotas(self) -> None:
        with self._emulator.state.lock:
            self._emulator.quotas = self._emulator.initial_quotas
        self._emulator.engine.wake()

    def set_pacing(self, stage_seconds: float, tasks_per_second: float, simulate_tasks: bool | None = None) -> None:
        """Background pacing at run time. ManualPacingError on a manual-pacing emulator; ValueError for a bad
        value."""
        engine = self._emulator.engine
        if engine.pacing.manual:
            raise ManualPacingError("this emulator uses manual pacing; step jobs with step_job/advance instead")
        stage = _non_negative("stageSeconds", stage_seconds)
        rate = _non_negative("tasksPerSecond", tasks_per_second)
        simulate = engine.pacing.simulate_tasks if simulate_tasks is None else bool(simulate_tasks)
        engine.set_pacing(Pacing.real_time(stage, rate, simulate_tasks=simulate))

    def reset_pacing(self) -> None:
        initial = self._emulator.initial_pacing
        self.set_pacing(initial.stage_seconds, initial.tasks_per_second, initial.simulate_tasks)

    def reset_faults(self) -> None:
        """Clear every fault (throttling back to its start-up setting); pacing and quotas are kept."""
        self.faults.reset()

    def state(self) -> dict[str, Any]:
        return {**super().state(), "quotas": self._emulator.quotas.to_api()}

    def _post(  # noqa: PLR0912, PLR0915 - a flat routing table
        self, parts: list[str], path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        head = parts[0] if parts else ""
        emulator = self._emulator
        try:
            if parts == ["task-failures"]:
                self.set_task_failures(body)
            elif parts == ["task-failures", "clear"]:
                self.faults.clear_task_failures()
            elif head == "jobs" and len(parts) == 3 and parts[2] in _OUTCOME_ROUTES:
                self.force_outcome(parts[1], _OUTCOME_ROUTES[parts[2]], body.get("afterTasks", 0), body.get("message"))
            elif head == "jobs" and len(parts) == 3 and parts[2] == "step":
                return {"moved": emulator.step_job(parts[1])}
            elif parts == ["next-jobs"]:
                self.force_next_jobs(
                    body.get("status", ""), body.get("afterTasks", 0), body.get("count", 1), body.get("message")
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
            elif parts == ["quotas"]:
                unknown = sorted(set(body) - set(QUOTA_FIELDS))
                if unknown:
                    raise AdminError(400, f"unknown quota fields {unknown}; known: {', '.join(QUOTA_FIELDS)}")
                self.set_quotas(**{QUOTA_FIELDS[key]: value for key, value in body.items()})
            elif parts == ["quotas", "reset"]:
                self.reset_quotas()
            elif parts == ["pacing"]:
                missing = [key for key in ("stageSeconds", "tasksPerSecond") if key not in body]
                if missing:
                    raise AdminError(
                        400, f'{" and ".join(missing)} required, e.g. {{"stageSeconds": 0, "tasksPerSecond": 0}}'
                    )
                self.set_pacing(body["stageSeconds"], body["tasksPerSecond"], body.get("simulateTasks"))
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
        except (ValueError, TypeError) as exc:
            status = 409 if "is already" in str(exc) else 400
            raise AdminError(status, str(exc)) from exc
        return self.state()


class S3BatchEmulator(Emulator[Job, Pacing]):
    """A local Amazon S3 Batch Operations (the S3 Control job APIs) whose tasks really run; a context manager.

    Tasks act on S3 (`s3_endpoint_url`, or `s3_client_for_role(role_arn)` to act as the job's role) and invoke
    Lambda functions (`lambda_endpoint_url`, or `lambda_client_for_role(role_arn)`)."""

    service_name = "S3 Batch Operations"
    thread_name = "s3batch-http"
    event_source = events.EVENT_SOURCE
    state: AccountState
    engine: JobEngine
    faults: S3BatchFaults
    admin: Admin

    def __init__(
        self,
        *,
        s3_client_for_role: Callable[[str], S3Client] | None = None,
        lambda_client_for_role: Callable[[str], LambdaClient] | None = None,
        lambda_endpoint_url: str | None = None,
        throttling: bool = False,
        tps: float = DEFAULT_TPS,
        pacing: Pacing | None = None,
        quotas: Quotas | None = None,
        event_loss_random: random.Random | None = None,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        super().__init__(
            faults=S3BatchFaults(throttling=throttling, tps=tps, random_source=event_loss_random),
            s3_client_for_role=s3_client_for_role,
            **options,
        )
        self.initial_pacing = pacing or Pacing.instant()
        self.quotas = quotas or Quotas()
        self.initial_quotas = self.quotas
        self._lambda_client_for_role = lambda_client_for_role
        self._lambda_endpoint_url = lambda_endpoint_url
        self._lambda_clients: dict[str, LambdaClient] = {}
        self._lambda_lock = threading.Lock()
        self.state = AccountState()
        self.engine = JobEngine(
            state=self.state,
            clients_for_role=self._clients,
            publisher=self.publisher,
            faults=self.faults,
            clock=self.clock,
            quotas=lambda: self.quotas,
            pacing=self.initial_pacing,
            region=self.region,
            account_id=self.account_id,
        )
        self.service = S3BatchService(
            state=self.state,
            engine=self.engine,
            faults=self.faults,
            clock=self.clock,
            quotas=lambda: self.quotas,
            region=self.region,
            account_id=self.account_id,
        )
        self.admin = Admin(self)

    def _make_server(self) -> S3BatchHTTPServer:
        protocol.routes()
        return S3BatchHTTPServer((self.host, self.port), self)

    def _clients(self, role_arn: str) -> RoleClients:
        return RoleClients(s3=self._s3(role_arn).client, lambda_client=self._lambda(role_arn))

    def _lambda(self, role_arn: str) -> LambdaClient | None:
        key = role_arn if self._lambda_client_for_role is not None else ""
        with self._lambda_lock:
            client = self._lambda_clients.get(key)
            if client is None:
                if self._lambda_client_for_role is not None:
                    client = self._lambda_client_for_role(role_arn)
                elif self._lambda_endpoint_url:
                    client = boto3.client(
                        "lambda",
                        endpoint_url=self._lambda_endpoint_url,
                        region_name=self.region,
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local-emulator"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local-emulator"),
                        config=Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=120),
                    )
                else:
                    return None
                self._lambda_clients[key] = client
            return client

    # --- API ---------------------------------------------------------------------------------------------------

    def dispatch(
        self, method: str, path: str, query: dict[str, list[str]], *, headers: dict[str, str], body: bytes
    ) -> bytes:
        """One REST-XML request; raises S3BatchError with its HTTP status."""
        return dispatch(self, method, path, query, headers=headers, body=body)

    @property
    def sdk_endpoint_url(self) -> str:
        """What an SDK's `endpoint_url` is for this emulator: `http://localhost:<port>`, to which the SDKs add
        the `<account>.` prefix; pair it with `proxy_url` where `*.localhost` does not resolve (protocol.py)."""
        return f"http://localhost:{self.port}"

    @property
    def proxy_url(self) -> str:
        """The emulator itself, as the HTTP proxy an SDK sends its prefixed requests through."""
        return self.endpoint_url

    def run_until_done(self, job_id: str | None = None) -> None:
        """Step a job (by id or ARN; KeyError for an unknown one) or every active job until it has ended or
        cannot move (Suspended until confirmed, waiting for a slot)."""
        self.engine.run_until_done(None if job_id is None else self.job(job_id).job_id)
