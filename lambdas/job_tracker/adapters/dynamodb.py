"""DynamoDB: the failures table. Writes go through BatchWriteItem in chunks of 25 distinct keys."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from job_tracker import table_schema as schema
from job_tracker.adapters.transient import transient_as_retryable
from job_tracker.erasure_register import ErasedSubjects, load_erased_subjects
from job_tracker.errors import AccessDenied, RecordingIncomplete
from job_tracker.sweep import JobLock
from job_tracker.waking import HolderWait

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import WriteRequestOutputTypeDef, WriteRequestTypeDef

    from job_tracker.models import JobDescription, JobRef

# BatchWriteItem's own limit: 25 requests, no two on the same key.
MAX_BATCH_ITEMS = 25
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BASE_DELAY_SECONDS = 0.05
DEFAULT_MAX_DELAY_SECONDS = 5.0

Item = dict[str, Any]
_serializer = TypeSerializer()


def _to_attribute_values(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items() if value is not None}


def _item_key(ref: JobRef, sort_key: str) -> dict[str, Any]:
    """The key of one of a job's items (its summary, its lock), in DynamoDB's attribute values."""
    return _to_attribute_values({schema.PARTITION_KEY: ref.partition_key, schema.SORT_KEY: sort_key})


@contextmanager
def _translated_errors(operation: str, table: str) -> Iterator[None]:
    """DynamoDB's AccessDeniedException as the tracker's AccessDenied, naming the call and the table, and a
    transient failure (throttling, 5xx, a dropped connection) as TransientServiceError.

    The state machine catches AccessDenied and ends in "Tracking failed" with this message as the Cause,
    and retries TransientServiceError; a raw ClientError would instead stop the tracker with botocore's
    wording. Other errors pass unchanged.
    """
    try:
        with transient_as_retryable("DynamoDB", operation, f"table {table}"):
            yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "AccessDeniedException":
            raise
        message = error.response.get("Error", {}).get("Message", "")
        raise AccessDenied(
            f"DynamoDB denied dynamodb:{operation} on table {table}; this function's role needs it: {message}"
        ) from error


class FailureStore(Protocol):
    def mark_recording(self, job: JobDescription) -> str | None:
        """Flag the summary RECORDING; returns the RecordState it had (None: no summary yet)."""
        ...

    def mark_record_failed(self, job: JobDescription, problem: str) -> None: ...
    def mark_record_interrupted(self, job: JobDescription, problem: str) -> None:
        """Keep the summary RECORDING, naming why this attempt stopped (its retry resumes it)."""
        ...

    def writer(self) -> BatchWriter: ...
    def failure_sort_keys(self, ref: JobRef) -> set[str]: ...
    def erased_subjects(self, attribute: str | None) -> ErasedSubjects:
        """The erasure register of `attribute` (job_tracker.erasure_register)."""
        ...

    def put_summary(self, item: Item) -> None: ...


class BatchWriter:
    """Buffers put and delete requests and sends them 25 at a time.

    UnprocessedItems are sent again with capped exponential backoff and full jitter. If some remain after
    the last attempt, RecordingIncomplete is raised: every write here is an idempotent put or delete, so
    the state machine can retry the whole step safely.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay_seconds: float = DEFAULT_BASE_DELAY_SECONDS,
        max_delay_seconds: float = DEFAULT_MAX_DELAY_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        common_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self._client = client
        self._common = dict(common_attributes or {})
        self._table = table_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay_seconds
        self._max_delay = max_delay_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._pending: list[WriteRequestTypeDef] = []
        self._pending_keys: set[tuple[str, str]] = set()
        self.batches_sent = 0
        self.retries = 0

    def put(self, item: Item) -> None:
        item = {**item, **self._common}
        self._add(
            (item[schema.PARTITION_KEY], item[schema.SORT_KEY]),
            {"PutRequest": {"Item": _to_attribute_values(item)}},
        )

    def delete(self, partition_key: str, sort_key: str) -> None:
        key = {schema.PARTITION_KEY: partition_key, schema.SORT_KEY: sort_key}
        self._add((partition_key, sort_key), {"DeleteRequest": {"Key": _to_attribute_values(key)}})

    def _add(self, key: tuple[str, str], request: WriteRequestTypeDef) -> None:
        # DynamoDB rejects a whole batch that touches one key twice, so a repeat starts a new batch.
        if key in self._pending_keys:
            self.flush()
        self._pending.append(request)
        self._pending_keys.add(key)
        if len(self._pending) == MAX_BATCH_ITEMS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        requests: list[WriteRequestTypeDef] | list[WriteRequestOutputTypeDef] = self._pending
        self._pending, self._pending_keys = [], set()
        for attempt in range(1, self._max_attempts + 1):
            with _translated_errors("BatchWriteItem", self._table):
                response = self._client.batch_write_item(RequestItems={self._table: requests})
            self.batches_sent += 1
            requests = response.get("UnprocessedItems", {}).get(self._table, [])
            if not requests:
                return
            if attempt < self._max_attempts:
                self.retries += 1
                ceiling = min(self._max_delay, self._base_delay * 2 ** (attempt - 1))
                self._sleep(self._rng.uniform(0, ceiling))
        raise RecordingIncomplete(
            f"DynamoDB left {len(requests)} write(s) to {self._table} unprocessed after "
            f"{self._max_attempts} attempts; the step can be retried safely"
        )


class DynamoDbFailureStore:
    """Writes a job's record. With `retention_days` above 0, every failure and summary item it writes carries
    ExpiresAt, `retention_days` after the write, for the table's TTL (0: kept until erased)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retention_days: int = 0,
        clock: Callable[[], float] = time.time,
        **writer_options: Any,
    ) -> None:
        self._client = client
        self._table = table_name
        self._retention_days = retention_days
        self._clock = clock
        self._writer_options = writer_options

    def _expiry(self) -> dict[str, int]:
        expires = schema.expires_at(self._clock(), self._retention_days)
        return {} if expires is None else {schema.EXPIRES_AT: expires}

    def _set_record_state(self, job: JobDescription, state: str, problem: str | None) -> str | None:
        ref = job.ref
        # Enough for the summary to be listed (JobsByDomain) and read while the record is not complete.
        expression = (
            "SET RecordState = :state, RecordType = :type, DomainId = :domain, JobId = :job, JobKind = :kind, "
            "JobStatus = :status, TrackerJobStatus = :tracker_status, JobCreatedAt = :created, gsi2pk = :jobs_pk, "
            "gsi2sk = :jobs_sk"
        )
        statuses = job.status_attributes
        index = schema.jobs_index_keys(ref.domain_id, job.created_at, ref.job_id)
        values: dict[str, Any] = {
            ":state": state,
            ":type": schema.RECORD_TYPE_SUMMARY,
            ":domain": ref.domain_id,
            ":job": ref.job_id,
            ":kind": job.kind.name,
            ":status": statuses["JobStatus"],
            ":tracker_status": statuses["TrackerJobStatus"],
            ":created": job.created_at or "",
            ":jobs_pk": index[schema.JOBS_INDEX_PARTITION_KEY],
            ":jobs_sk": index[schema.JOBS_INDEX_SORT_KEY],
        }
        expiry = self._expiry()
        if expiry:
            expression += ", ExpiresAt = :expires"
            values[":expires"] = expiry[schema.EXPIRES_AT]
        removed = [] if expiry else [schema.EXPIRES_AT]
        if problem is None:
            removed.append("RecordProblem")
        else:
            expression += ", RecordProblem = :problem"
            values[":problem"] = problem
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        with _translated_errors("UpdateItem", self._table):
            old = self._client.update_item(
                TableName=self._table,
                Key=_item_key(ref, schema.SUMMARY_SORT_KEY),
                UpdateExpression=expression,
                ExpressionAttributeValues=_to_attribute_values(values),
                # ALL_OLD, not UPDATED_OLD: an engine may leave out an attribute set to the value it had
                # (RECORDING again, on the retry of an interrupted record), and resuming depends on it.
                ReturnValues="ALL_OLD",
            ).get("Attributes", {})
        return old.get("RecordState", {}).get("S")

    def mark_recording(self, job: JobDescription) -> str | None:
        """Flag the summary as in progress before any failure is written, so that a crash part-way
        never leaves a summary that claims a complete record. Returns the state it had."""
        return self._set_record_state(job, schema.RECORD_STATE_RECORDING, None)

    def mark_record_failed(self, job: JobDescription, problem: str) -> None:
        self._set_record_state(job, schema.RECORD_STATE_FAILED, problem)

    def mark_record_interrupted(self, job: JobDescription, problem: str) -> None:
        self._set_record_state(job, schema.RECORD_STATE_RECORDING, problem)

    def writer(self) -> BatchWriter:
        return BatchWriter(self._client, self._table, common_attributes=self._expiry(), **self._writer_options)

    def failure_sort_keys(self, ref: JobRef) -> set[str]:
        """Sort keys of the failure items already stored for the job."""
        keys: set[str] = set()
        paginator = self._client.get_paginator("query")
        with _translated_errors("Query", self._table):
            for page in paginator.paginate(
                TableName=self._table,
                KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames={"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
                ExpressionAttributeValues=_to_attribute_values(
                    {":pk": ref.partition_key, ":prefix": schema.FAILURE_SORT_KEY_PREFIX}
                ),
                ProjectionExpression="#sk",
                ConsistentRead=True,
            ):
                keys.update(item[schema.SORT_KEY]["S"] for item in page.get("Items", []))
        return keys

    def erased_subjects(self, attribute: str | None) -> ErasedSubjects:
        """The subjects `erase` erased as `attribute`: one paged Query of the register's partition."""
        with _translated_errors("Query", self._table):
            return load_erased_subjects(self._client, self._table, attribute)

    def put_summary(self, item: Item) -> None:
        with _translated_errors("PutItem", self._table):
            self._client.put_item(TableName=self._table, Item=_to_attribute_values({**item, **self._expiry()}))


def _read_lock(
    client: DynamoDBClient, table: str, ref: JobRef, attributes: tuple[str, ...]
) -> dict[str, str | None] | None:
    """The job's LOCK item, read consistently: each of `attributes` as its string value (None when the item
    lacks it); None when there is no lock item."""
    with _translated_errors("GetItem", table):
        item = client.get_item(
            TableName=table,
            Key=_item_key(ref, schema.LOCK_SORT_KEY),
            ProjectionExpression=", ".join(attributes),
            ConsistentRead=True,
        ).get("Item")
    if not item:
        return None
    return {name: item.get(name, {}).get("S") for name in attributes}


class DynamoDbLockReader:
    """Reads a job's LOCK item (written by the state machine), consistently: the sweep decides on it."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read_lock(self, ref: JobRef) -> JobLock | None:
        lock = _read_lock(self._client, self._table, ref, ("LockState", "ExecutionArn", "ReleasedAt"))
        if lock is None:
            return None
        return JobLock(
            state=lock["LockState"] or "",
            execution_arn=lock["ExecutionArn"],
            released_at=lock["ReleasedAt"],
        )


class DynamoDbWakeRequests:
    """The wake-up's view of the job's LOCK item: the holder's latest wait token, and the wake request the
    holder's next wait checks (infra/constructs/state_machine.py, "Wait for job or wake-up")."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read(self, ref: JobRef) -> HolderWait | None:
        lock = _read_lock(self._client, self._table, ref, ("LockState", "ExecutionArn", "WakeToken"))
        if lock is None:
            return None
        return HolderWait(
            lock_state=lock["LockState"] or "",
            execution_arn=lock["ExecutionArn"],
            wake_token=lock["WakeToken"],
        )

    def request(self, ref: JobRef, holder: str, seen_token: str | None, requested_by: str) -> bool:
        values: dict[str, Any] = {":holder": holder, ":tracking": schema.LOCK_TRACKING, ":by": requested_by}
        condition = "ExecutionArn = :holder AND LockState = :tracking AND "
        if seen_token is None:
            condition += "attribute_not_exists(WakeToken)"
        else:
            condition += "WakeToken = :seen"
            values[":seen"] = seen_token
        try:
            with _translated_errors("UpdateItem", self._table):
                self._client.update_item(
                    TableName=self._table,
                    Key=_item_key(ref, schema.LOCK_SORT_KEY),
                    UpdateExpression="SET WakeRequestedBy = :by",
                    ConditionExpression=condition,
                    ExpressionAttributeValues=_to_attribute_values(values),
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
