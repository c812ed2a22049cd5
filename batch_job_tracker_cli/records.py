"""The failures table, read through its documented access patterns only (never a Scan).

- a job's summary and lock: GetItem (one BatchGetItem) on `JOB#<DomainId>#<JobId>` / `SUMMARY`, `LOCK`;
- a domain's jobs, newest first: Query of the `JobsByDomain` index;
- a job's failed requests: Query `pk = JOB#... AND begins_with(sk, "FAILURE#")`, every page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.shared import JOB_KINDS, SERVICES, JobKind, schema
from job_tracker.kinds.base import TRACKER_STATUSES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_deserializer = TypeDeserializer()
_serializer = TypeSerializer()


def require_resource_id(what: str, value: str) -> str:
    """A job id (or, for --domain, a scope id) of any followed service: Voice ID's 22 letters or digits, or
    Bedrock's 12 lowercase letters or digits (its domain: the 12-digit account)."""
    ids = [service.scope_id if what == "--domain" else service.job_id for service in SERVICES.values()]
    if not any(pattern.fullmatch(value) for pattern in ids):
        # Bedrock and S3 Batch Operations share a scope's shape (the account): each shape said once.
        shapes = dict.fromkeys(
            service.scope_id_shape if what == "--domain" else service.job_id_shape for service in SERVICES.values()
        )
        raise CliError(f"{what} must be {' or '.join(shapes)}, got {value!r}")
    return value


def _plain_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain_value(inner) for key, inner in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain_value(inner) for inner in value]
    return value


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (whole numbers as int)."""
    return {key: _plain_value(_deserializer.deserialize(value)) for key, value in item.items()}


def _attribute_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items()}


@dataclass(frozen=True)
class JobRecord:
    """What the table holds about one job: its summary and its lock (either may be missing)."""

    domain_id: str
    job_id: str
    summary: dict[str, Any] | None
    lock: dict[str, Any] | None

    @property
    def partition_key(self) -> str:
        return schema.job_partition_key(self.domain_id, self.job_id)

    @property
    def kind_name(self) -> str | None:
        """The kind the items name (the summary's JobKind, else the lock's), if any."""
        for item in (self.summary, self.lock):
            if item and isinstance(item.get("JobKind"), str):
                return str(item["JobKind"])
        return None

    @property
    def record_state(self) -> str | None:
        return str(self.summary["RecordState"]) if self.summary and self.summary.get("RecordState") else None

    @property
    def is_recorded(self) -> bool:
        return self.record_state == schema.RECORD_STATE_COMPLETE

    @property
    def created_at(self) -> datetime | None:
        return parse_timestamp(self.summary.get("JobCreatedAt") if self.summary else None)


def parse_timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


BATCH_GET_KEYS = 100
"""BatchGetItem's most keys per request."""


def _batch_get(
    client: DynamoDBClient, table: str, keys: Sequence[dict[str, Any]], what: str, *, max_attempts: int = 8
) -> list[dict[str, Any]]:
    """The items of `keys` (consistent reads), asking again with backoff for the keys DynamoDB left
    unprocessed; CliError naming `what` when some are still left after `max_attempts`."""
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {table: {"Keys": list(keys[start : start + BATCH_GET_KEYS]), "ConsistentRead": True}}
        for attempt in range(max_attempts):
            response = client.batch_get_item(RequestItems=request)
            items.extend(plain(item) for item in response.get("Responses", {}).get(table, []))
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                break
            time.sleep(min(2.0, 0.05 * 2**attempt))
        else:
            raise CliError(f"DynamoDB kept leaving keys of {what} unprocessed; try again")
    return items


def lookup_job(
    client: DynamoDBClient, table: str, job_id: str, domain_ids: Sequence[str], *, max_attempts: int = 8
) -> JobRecord | None:
    """The job's summary and lock, looked up in each domain (one BatchGetItem, consistent reads); None when
    no domain has either."""
    require_resource_id("JOB", job_id)
    if not domain_ids:
        raise CliError("the stack follows no job (its VoiceIdDomainIds and BedrockAccountId outputs are empty)")
    keys = [
        _attribute_values({schema.PARTITION_KEY: schema.job_partition_key(domain, job_id), schema.SORT_KEY: sort_key})
        for domain in domain_ids
        for sort_key in (schema.SUMMARY_SORT_KEY, schema.LOCK_SORT_KEY)
    ]
    items = _batch_get(client, table, keys, f"job {job_id}", max_attempts=max_attempts)
    by_domain: dict[str, dict[str, dict[str, Any]]] = {}
    for item in items:
        domain = str(item[schema.PARTITION_KEY]).split("#")[1]
        by_domain.setdefault(domain, {})[str(item[schema.SORT_KEY])] = item
    if not by_domain:
        return None
    if len(by_domain) > 1:
        raise CliError(f"job {job_id} has items in several domains ({', '.join(sorted(by_domain))})")
    ((domain, found),) = by_domain.items()
    return JobRecord(
        domain_id=domain,
        job_id=job_id,
        summary=found.get(schema.SUMMARY_SORT_KEY),
        lock=found.get(schema.LOCK_SORT_KEY),
    )


def find_job(
    client: DynamoDBClient, table: str, job_id: str, domain_ids: Sequence[str], *, track_command: str
) -> JobRecord:
    """`lookup_job`, for a job that must be known: once a tracker took its lock or recording began.
    `track_command` is the command line that starts a tracker for the job, as the operator would type it."""
    record = lookup_job(client, table, job_id, domain_ids)
    if record is None:
        raise CliError(
            f"job {job_id} is not known to the tracker (no summary or lock item in domain "
            f"{', '.join(domain_ids)}); start a tracker with `{track_command}`"
        )
    return record


_RELATIVE = re.compile(r"(\d+)\s*([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_since(text: str, now: datetime | None = None, *, option: str = "--since") -> str:
    """`--since` as the JobsByDomain sort key's lower bound: an ISO date or time (UTC unless it says
    otherwise), or a duration back from now (`7d`, `12h`, `30m`)."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.fullmatch(text.strip().lower())
    if relative:
        moment = now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError as error:
            raise CliError(
                f"{option} takes a date or time (2026-05-01, 2026-05-01T12:00) or a duration (7d, 12h, 30m), "
                f"got {text!r}"
            ) from error
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    # Voice ID's CreatedAt is stored as an ISO time in UTC (`...+00:00`); any prefix of it sorts before it.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def tracker_status_of(summary: Mapping[str, Any]) -> str | None:
    """The job's status in the tracker's words (COMPLETED_WITH_ERRORS for Bedrock's `Stopped`): the summary's
    TrackerJobStatus; a summary written before it existed, from its JobStatus. That held the tracker's word while
    recording, else the service's (for a Completed job with failed records, the tracker's word was
    COMPLETED_WITH_ERRORS, as the describe step says from the service's error count)."""
    stored = summary.get("TrackerJobStatus")
    if isinstance(stored, str) and stored:
        return stored
    status, kind = summary.get("JobStatus"), JOB_KINDS.get(str(summary.get("JobKind")))
    if not isinstance(status, str) or kind is None:
        return None
    if status in TRACKER_STATUSES:
        return status
    derived = kind.tracker_status(status)
    if derived == "COMPLETED" and (summary.get(kind.failed_count_attribute) or 0) > 0:
        return "COMPLETED_WITH_ERRORS"
    return derived


def service_statuses_for(tracker_statuses: Iterable[str]) -> set[str]:
    """Every JobStatus a summary of a job with one of `tracker_statuses` may hold: each kind's service words
    for them (a job the service calls complete may have ended with errors), and the tracker's words themselves
    (Voice ID's, and what a summary written before TrackerJobStatus existed held while recording)."""
    wanted = set(tracker_statuses)
    # Where a kind's words are not the tracker's, a job its service calls complete may have ended with errors.
    with_errors = "COMPLETED_WITH_ERRORS" in wanted
    return wanted | {
        status
        for kind in JOB_KINDS.values()
        for status in kind.service_statuses
        if kind.tracker_status(status) in wanted
        or (with_errors and kind.tracker_statuses and kind.tracker_status(status) == "COMPLETED")
    }


def list_jobs(
    client: DynamoDBClient,
    table: str,
    domain_ids: Iterable[str],
    *,
    kind: str | None = None,
    status: str | Sequence[str] | None = None,
    tracker_status: Collection[str] = (),
    since: str | None = None,
    limit: int = 100,
    with_locks: bool = False,
) -> list[dict[str, Any]]:
    """Summary items of the domains' jobs, newest first (by JobCreatedAt), from the JobsByDomain index.

    `since` bounds the index's sort key; `kind` and `status` (the service's words, one or any of several) are
    filter expressions. `tracker_status` (the tracker's words) lists the jobs whose status it is as well: the
    index does not copy TrackerJobStatus (its projection is fixed as first deployed), so the index is filtered on
    every JobStatus that may be one of them (`service_statuses_for`), and the jobs whose words differ are read
    whole to decide (`tracker_status_of`). `with_locks` also returns the lock item of a job that has no summary
    (a tracker took it and has not recorded it, or failed before recording), sorted by the time the lock was
    taken."""
    names = {"#pk": schema.JOBS_INDEX_PARTITION_KEY}
    condition = "#pk = :pk"
    values: dict[str, Any] = {}
    if since:
        names["#sk"] = schema.JOBS_INDEX_SORT_KEY
        condition += " AND #sk >= :since"
        values[":since"] = since
    filters = [] if with_locks else ["RecordType = :summary"]
    if not with_locks:
        values[":summary"] = schema.RECORD_TYPE_SUMMARY
    if kind:
        filters.append("JobKind = :kind")
        values[":kind"] = kind
    service_words = set([status] if isinstance(status, str) else status or [])
    if service_words or tracker_status:
        statuses = sorted(service_words | service_statuses_for(tracker_status))
        filters.append(f"JobStatus IN ({', '.join(f':status{n}' for n in range(len(statuses)))})")
        values.update({f":status{n}": value for n, value in enumerate(statuses)})
    found: list[dict[str, Any]] = []
    for domain in domain_ids:
        from_domain: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": table,
            "IndexName": schema.JOBS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _attribute_values({**values, ":pk": f"DOMAIN#{domain}"}),
            "ScanIndexForward": False,
        }
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < limit:
            response = client.query(**request)
            page = [plain(item) for item in response.get("Items", [])]
            if tracker_status:
                page = _with_status(client, table, page, service_words, tracker_status)
            for item in page:
                # A job with a summary and a lock is listed once, as its summary.
                job = str(item.get("JobId"))
                if job not in seen or item.get("RecordType") == schema.RECORD_TYPE_SUMMARY:
                    seen[job] = item
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        from_domain = list(seen.values())
        from_domain.sort(key=lambda item: str(item.get(schema.JOBS_INDEX_SORT_KEY, "")), reverse=True)
        found.extend(from_domain[:limit])
    found.sort(key=lambda item: str(item.get(schema.JOBS_INDEX_SORT_KEY, "")), reverse=True)
    return _with_summary_counts(client, table, found[:limit])


def _with_status(
    client: DynamoDBClient,
    table: str,
    page: list[dict[str, Any]],
    service_words: Collection[str],
    tracker_words: Collection[str],
) -> list[dict[str, Any]]:
    """The page's items whose JobStatus is one of `service_words` or whose tracker's word is one of
    `tracker_words`; the summaries of kinds whose words differ from the tracker's are read whole for it."""
    undecided = [
        item
        for item in page
        if item.get("JobStatus") not in service_words
        and item.get("RecordType") == schema.RECORD_TYPE_SUMMARY
        and JOB_KINDS.get(str(item.get("JobKind"))) is not None
        and JOB_KINDS[str(item.get("JobKind"))].tracker_statuses
    ]
    page = _whole_summaries(client, table, page, undecided)
    return [item for item in page if item.get("JobStatus") in service_words or tracker_status_of(item) in tracker_words]


def _whole_summaries(
    client: DynamoDBClient, table: str, listed: list[dict[str, Any]], partial: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """`listed`, with the `partial` ones (summaries as the JobsByDomain index copies them) read whole, in
    BatchGetItems."""
    if not partial:
        return listed
    keys = [
        _attribute_values({schema.PARTITION_KEY: item[schema.PARTITION_KEY], schema.SORT_KEY: schema.SUMMARY_SORT_KEY})
        for item in partial
    ]
    whole = {
        str(item[schema.PARTITION_KEY]): item for item in _batch_get(client, table, keys, f"{len(keys)} job summaries")
    }
    return [{**item, **whole.get(str(item.get(schema.PARTITION_KEY)), {})} for item in listed]


def _with_summary_counts(client: DynamoDBClient, table: str, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The listed summaries, each with its kind's counts: those the JobsByDomain index does not copy
    (Bedrock's, schema.JOBS_INDEX_ATTRIBUTES) are read from the summary items, in BatchGetItems (but for
    summaries already read whole)."""
    projected = set(schema.JOBS_INDEX_ATTRIBUTES)

    def lacks_counts(item: Mapping[str, Any]) -> bool:
        if item.get("RecordType") != schema.RECORD_TYPE_SUMMARY:
            return False
        kind = JOB_KINDS.get(str(item.get("JobKind")))
        counts = (kind.failed_count_attribute, *kind.summary_count_attributes) if kind else ()
        return any(name not in projected and name not in item for name in counts)

    return _whole_summaries(client, table, listed, [item for item in listed if lacks_counts(item)])


@dataclass(frozen=True)
class FailedRequest:
    request_id: str
    error_code: int | str
    """An HTTP status code, or the tracker's word for a record never processed (`UNPROCESSED`)."""
    error_message: str
    fields: dict[str, Any] = field(default_factory=dict)
    """The kind's own fields (`JobKind.failure_fields_from_manifest` keys, e.g. CustomerSpeakerId)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "RequestId": self.request_id,
            "ErrorCode": self.error_code,
            "ErrorMessage": self.error_message,
            **self.fields,
        }


def failed_requests(
    client: DynamoDBClient, table: str, record: JobRecord, kind: JobKind, codes: Iterable[int | str] | None = None
) -> list[FailedRequest]:
    """Every failed request recorded for the job (all pages), by RequestId; only `codes` when given."""
    values: dict[str, Any] = {":pk": record.partition_key, ":failure": schema.FAILURE_SORT_KEY_PREFIX}
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :failure)",
        "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
        "ConsistentRead": True,
    }
    wanted = sorted(set(codes), key=str) if codes is not None else []
    if wanted:
        placeholders = [f":code{n}" for n in range(len(wanted))]
        request["FilterExpression"] = f"ErrorCode IN ({', '.join(placeholders)})"
        values.update(zip(placeholders, wanted, strict=True))
    request["ExpressionAttributeValues"] = _attribute_values(values)
    failures: list[FailedRequest] = []
    while True:
        response = client.query(**request)
        for item in map(plain, response.get("Items", [])):
            failures.append(
                FailedRequest(
                    request_id=str(item.get("RequestId") or str(item[schema.SORT_KEY]).split("#", 1)[1]),
                    error_code=_error_code(item.get("ErrorCode", 0)),
                    error_message=str(item.get("ErrorMessage", "")),
                    fields={
                        name: item.get(name)
                        for name in (*kind.failure_fields_from_manifest, *kind.failure_detail_fields)
                    },
                )
            )
        if "LastEvaluatedKey" not in response:
            return failures
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def failures_by_code(
    client: DynamoDBClient,
    table: str,
    domain_ids: Iterable[str],
    code: int | str,
    *,
    since: str,
    until: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Failure items with ErrorCode `code` of jobs created from `since` (to `until`), across jobs, oldest
    first, from the FailuresByErrorCode index: one Query per domain and shard (a job's failures of a code
    are spread over `schema.ERROR_CODE_SHARDS` partitions), merged by the index's sort key."""
    condition = "#pk = :pk AND #sk BETWEEN :since AND :until"
    # Every sort key of a job created before `until` (an ISO time prefix) sorts below `until` + "~".
    values: dict[str, Any] = {":since": since, ":until": f"{until or '9999'}~"}
    request_base: dict[str, Any] = {
        "TableName": table,
        "IndexName": schema.ERROR_CODE_INDEX,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": {
            "#pk": schema.ERROR_CODE_INDEX_PARTITION_KEY,
            "#sk": schema.ERROR_CODE_INDEX_SORT_KEY,
        },
    }
    if kind:
        request_base["FilterExpression"] = "JobKind = :kind"
        values[":kind"] = kind
    found: list[dict[str, Any]] = []
    for domain in domain_ids:
        for shard in range(schema.ERROR_CODE_SHARDS):
            request = {
                **request_base,
                "ExpressionAttributeValues": _attribute_values(
                    {**values, ":pk": schema.error_code_index_key(domain, code, shard)}
                ),
            }
            from_shard: list[dict[str, Any]] = []
            # Each shard is read in order, so its first `limit` items are all the merge can need from it.
            while len(from_shard) < limit:
                response = client.query(**request)
                from_shard.extend(plain(item) for item in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            found.extend(from_shard[:limit])
    found.sort(key=lambda item: str(item.get(schema.ERROR_CODE_INDEX_SORT_KEY, "")))
    return found[:limit]


def _error_code(value: object) -> int | str:
    return value if isinstance(value, int | str) and not isinstance(value, bool) else str(value)


LINEAGE_SORT_KEY_PREFIX = "RETRY#"


def retried_records(
    client: DynamoDBClient, table: str, record: JobRecord, record_id: str | None = None
) -> list[dict[str, Any]]:
    """The job's records in the automatic retries (their lineage items, `RETRY#<RecordId>`), by RecordId; only
    `record_id`'s when given (docs/automatic-retries.md)."""
    prefix = f"{LINEAGE_SORT_KEY_PREFIX}{record_id}" if record_id else LINEAGE_SORT_KEY_PREFIX
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
        "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
        "ExpressionAttributeValues": _attribute_values({":pk": record.partition_key, ":prefix": prefix}),
        "ConsistentRead": True,
    }
    found: list[dict[str, Any]] = []
    while True:
        response = client.query(**request)
        found.extend(
            item
            for item in map(plain, response.get("Items", []))
            if record_id is None or item.get("RecordId") == record_id
        )
        if "LastEvaluatedKey" not in response:
            return found
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
