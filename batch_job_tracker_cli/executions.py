"""The tracker's Step Functions executions: finding a job's, and starting one as the console does."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batch_job_tracker_cli.shared import DEFAULT_JOB_KIND, JobKind

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# DescribeExecution calls in flight while reading executions' inputs (boto3 clients are thread-safe).
DESCRIBE_THREADS = 8


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str
    status: str
    started: datetime
    stopped: datetime | None
    input: dict[str, Any]
    output: Any
    error: str | None
    cause: str | None

    @property
    def outcome(self) -> str:
        """What the execution did, in a few words."""
        output = self.output if isinstance(self.output, dict) else {}
        if self.status == "RUNNING":
            return "following the job"
        if self.status == "SUCCEEDED":
            if "FailedRequests" in output:
                return f"recorded the job ({output.get('JobStatus')}, {output['FailedRequests']} failed)"
            if output.get("Outcome") == "ALREADY_TRACKED":
                return "job already tracked"
            return str(output.get("Outcome") or "succeeded")
        if self.error:
            return f"{self.error}: {self.cause}" if self.cause else self.error
        return self.status.lower().replace("_", " ")

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> Execution:
        execution_input = _json(described.get("input"))
        return cls(
            arn=str(described["executionArn"]),
            name=str(described.get("name", "")),
            status=str(described.get("status", "")),
            started=described["startDate"],
            stopped=described.get("stopDate"),
            input=execution_input if isinstance(execution_input, dict) else {},
            output=_json(described.get("output")),
            error=described.get("error"),
            cause=described.get("cause"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ExecutionArn": self.arn,
            "Name": self.name,
            "Status": self.status,
            "StartDate": self.started.astimezone(UTC).isoformat(),
            "StopDate": self.stopped.astimezone(UTC).isoformat() if self.stopped else None,
            "Input": self.input,
            "Outcome": self.outcome,
        }


def lock_holders(lock: dict[str, Any] | None) -> list[str]:
    """The executions that took the job's lock, oldest first: the lock's ExecutionArns (each execution that
    acquired or took it over appends itself), and its current holder (locks written before ExecutionArns
    existed name only that one)."""
    lock = lock or {}
    listed = lock.get("ExecutionArns")
    arns = [arn for arn in listed if isinstance(arn, str)] if isinstance(listed, list) else []
    holder = lock.get("ExecutionArn")
    if isinstance(holder, str) and holder not in arns:
        arns.append(holder)
    return list(dict.fromkeys(arns))


def job_executions(client: SFNClient, lock: dict[str, Any] | None) -> list[Execution]:
    """The tracker executions that held the job's lock, oldest first: one DescribeExecution each, however
    long the state machine's history is (executions that found the lock taken and stopped are not listed:
    they did nothing). Executions expired from Step Functions' 90-day history are left out."""
    described = _described(client, lock_holders(lock))
    return sorted(described, key=lambda execution: execution.started)


def execution_input(domain_id: str, job_id: str, kind: JobKind, *, rerecord: bool = False) -> dict[str, Any]:
    """What the console takes: `{"DomainId", "JobId"}`, `JobKind` for any kind but the default."""
    payload: dict[str, Any] = {"DomainId": domain_id, "JobId": job_id}
    if kind.name != DEFAULT_JOB_KIND.name:
        payload["JobKind"] = kind.name
    if rerecord:
        payload["Rerecord"] = True
    return payload


def start_tracker(client: SFNClient, state_machine_arn: str, payload: dict[str, Any]) -> str:
    """Start an execution for the job; returns its ARN. Named `cli-<JobId>-<random>` (at most 80 chars)."""
    name = f"cli-{payload['JobId']}-{uuid.uuid4().hex[:8]}"[:80]
    started = client.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
    return started["executionArn"]


def kind_of_execution(client: SFNClient, execution_arn: str) -> str | None:
    """The JobKind in an execution's input (None when it names none: the default kind)."""
    described = client.describe_execution(executionArn=execution_arn)
    payload = _json(described.get("input"))
    kind = payload.get("JobKind") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else None


EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")


def recent_executions(
    client: SFNClient, state_machine_arn: str, *, status: str | None, since: datetime, limit: int
) -> list[Execution]:
    """The state machine's executions started since `since` (with `status`), newest first, at most `limit`,
    each described (its input names the job; a failure's error and cause). ListExecutions returns newest
    first, so listing stops at the first one older than `since`."""
    arns: list[str] = []
    request: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": min(1000, limit)}
    if status:
        request["statusFilter"] = status
    while len(arns) < limit:
        page = client.list_executions(**request)
        for summary in page["executions"]:
            if summary["startDate"] < since:
                return _described(client, arns)
            arns.append(summary["executionArn"])
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return _described(client, arns[:limit])


def _described(client: SFNClient, arns: list[str]) -> list[Execution]:
    def describe(arn: str) -> Execution | None:
        try:
            return Execution.from_description(dict(client.describe_execution(executionArn=arn)))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None  # expired since it was listed
            raise

    with ThreadPoolExecutor(max_workers=DESCRIBE_THREADS) as pool:
        return [execution for execution in pool.map(describe, arns) if execution is not None]


def tracker_status(client: SFNClient, execution_arn: object) -> str | None:
    """An execution's status, with its error when it failed (`FAILED: AccessDenied`); None for no ARN,
    `EXPIRED` when Step Functions no longer has it."""
    if not isinstance(execution_arn, str):
        return None
    try:
        described = client.describe_execution(executionArn=execution_arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            return "EXPIRED"
        raise
    error_name = described.get("error")
    return f"{described['status']}: {error_name}" if error_name else str(described["status"])
