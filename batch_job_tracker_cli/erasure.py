"""Erasing a person from the record: every failure item that names them, found through the
`FailuresBySubject` index (never a Scan) and deleted by key, and the retry JSONL files that hold their records.

Which attribute names a person is the job kinds' data (`JobKind.subject_attribute`: CustomerSpeakerId for
speaker enrollments, RecordId for a kind whose records are customers', Key for S3 Batch Operations tasks, whose
object keys may name one); the index is keyed on it at record time, so a new kind is covered by its description
alone. Which retry files may hold the value is data too (`RETRY_FILES_BY_SUBJECT`): Bedrock's retry JSONL, or,
for an object key, the CSV manifests `retry` wrote for S3 Batch Operations jobs. An item whose attribute could
not be read (a speaker enrollment whose input manifest the tracker may not read) is keyed in the index's
unread partition of that attribute instead: its ErrorMessage can still name the person (Voice ID's 409 does),
so those items are read and searched for the value. Deleting a key or an object that is already gone succeeds,
so running an erasure again deletes nothing more and reports so.

What is erased stays erased: before deleting anything, `erase` adds the value's hash to the erasure register
(`job_tracker.erasure_register`), which the record step and the retry dispatcher apply, so a re-record, a sweep
or an automatic retry never writes the items again. The automatic retries' items that carry the value (a
record's lineage and its pooled item, `RETRY_ITEMS_BY_SUBJECT`) are found and deleted with the failure items.
"""

from __future__ import annotations

import csv
import json
import posixpath
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.records import _batch_get, plain
from batch_job_tracker_cli.retry import S3Uri
from batch_job_tracker_cli.shared import JOB_KINDS, schema
from job_tracker.adapters.dynamodb import BatchWriter
from job_tracker.adapters.retry_store import (
    LINEAGE_PREFIX,
    POOL_PARTITION_PREFIX,
    POOL_SORT_PREFIX,
    POOLS_PARTITION,
)
from job_tracker.adapters.s3 import S3ObjectReader
from job_tracker.bedrock_retry_lines import INPUT_SUFFIX, SOURCE_JOB_METADATA
from job_tracker.erasure_register import register_item
from job_tracker.errors import OutputFileMissing, TrackerError
from job_tracker.jsonl import lines
from job_tracker.models import S3Location

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# The characters an id is made of (CustomerSpeakerId: letters, digits, `_`, `-`): a value is named where it
# stands between others, so cust-4 is not found inside cust-42.
_ID_CHARACTER = "A-Za-z0-9_-"


@dataclass(frozen=True)
class ErasedItem:
    partition_key: str
    sort_key: str

    @property
    def _job(self) -> tuple[str, str]:
        # A pooled record's item lies in its pool's partition, its job in its sort key: <DomainId>#<JobId>#<RecordId>.
        if self.partition_key.startswith(POOL_PARTITION_PREFIX):
            domain_id, job_id, _ = self.sort_key.split("#", 2)
            return domain_id, job_id
        return schema.job_of_partition_key(self.partition_key)

    @property
    def job_id(self) -> str:
        return self._job[1]

    @property
    def domain_id(self) -> str:
        return self._job[0]

    @property
    def request_id(self) -> str:
        return self.sort_key.split("#", 1)[1] if "#" in self.sort_key else self.sort_key

    def to_dict(self) -> dict[str, str]:
        return {"DomainId": self.domain_id, "JobId": self.job_id, "Item": self.sort_key}


def subject_attributes() -> dict[str, list[str]]:
    """Each attribute some job kind declares as naming a person, with the kinds that declare it."""
    found: dict[str, list[str]] = {}
    for kind in JOB_KINDS.values():
        if kind.subject_attribute:
            found.setdefault(kind.subject_attribute, []).append(kind.name)
    return found


def _subject_partition(client: DynamoDBClient, table: str, partition: str) -> list[ErasedItem]:
    """The keys of every item in one FailuresBySubject partition (every page)."""
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": schema.SUBJECT_INDEX,
        "KeyConditionExpression": "#subject = :subject",
        "ExpressionAttributeNames": {"#subject": schema.SUBJECT_INDEX_PARTITION_KEY},
        "ExpressionAttributeValues": {":subject": {"S": partition}},
    }
    keys: list[ErasedItem] = []
    while True:
        response = client.query(**request)
        for item in map(plain, response.get("Items", [])):
            keys.append(ErasedItem(str(item[schema.PARTITION_KEY]), str(item[schema.SORT_KEY])))
        if "LastEvaluatedKey" not in response:
            return keys
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def items_naming(client: DynamoDBClient, table: str, attribute: str, value: str) -> list[ErasedItem]:
    """The keys of every item whose `attribute` is `value`."""
    return _subject_partition(client, table, schema.subject_index_key(attribute, value))


def names(text: str, value: str) -> bool:
    """Whether `text` names `value`: as it is, or as JSON escapes it, standing between non-id characters."""
    spellings = {value, json.dumps(value)[1:-1]}
    return any(
        re.search(f"(?<![{_ID_CHARACTER}]){re.escape(spelling)}(?![{_ID_CHARACTER}])", text) for spelling in spellings
    )


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


_INDEX_KEYS = frozenset(
    {
        schema.PARTITION_KEY,
        schema.SORT_KEY,
        schema.ERROR_CODE_INDEX_PARTITION_KEY,
        schema.ERROR_CODE_INDEX_SORT_KEY,
        schema.SUBJECT_INDEX_PARTITION_KEY,
    }
)


def unread_items_naming(client: DynamoDBClient, table: str, attribute: str, value: str) -> tuple[list[ErasedItem], int]:
    """The items whose `attribute` could not be read (the index's unread partitions of it, every shard) that
    name `value` in any other attribute, e.g. an ErrorMessage; and how many such items were read."""
    keys = [
        key
        for shard in range(schema.ERROR_CODE_SHARDS)
        for key in _subject_partition(client, table, schema.unread_subject_index_key(attribute, shard))
    ]
    if not keys:
        return [], 0
    requested = [{schema.PARTITION_KEY: {"S": key.partition_key}, schema.SORT_KEY: {"S": key.sort_key}} for key in keys]
    found: list[ErasedItem] = []
    for item in _batch_get(client, table, requested, "the failure items whose subject could not be read"):
        texts = (text for name, inner in item.items() if name not in _INDEX_KEYS for text in _strings(inner))
        if any(names(text, value) for text in texts):
            found.append(ErasedItem(str(item[schema.PARTITION_KEY]), str(item[schema.SORT_KEY])))
    return found, len(keys)


def _names_in_lines(reader: S3ObjectReader, location: S3Location, value: str) -> bool:
    return any(
        names(line.decode("utf-8", "replace"), value) for line in lines(reader.chunks(location), source=location.uri)
    )


def _lists_object_key(reader: S3ObjectReader, location: S3Location, value: str) -> bool:
    """Whether a CSV manifest has a row whose key, decoded as S3 Batch Operations decodes it, is `value`
    (a key's line ends are URL-encoded, so a row is a line)."""
    for line in lines(reader.chunks(location), source=location.uri):
        for row in csv.reader([line.decode("utf-8", "replace")]):
            if len(row) >= 2 and urllib.parse.unquote_plus(row[1]) == value:
                return True
    return False


@dataclass(frozen=True)
class RetryFileFormat:
    """The retry files that may hold a subject's value: how they end and how a value is found in them."""

    suffix: str
    holds: Callable[[S3ObjectReader, S3Location, str], bool]
    written_by_retry_only: bool = False
    """Only files `retry` wrote (they carry SOURCE_JOB_METADATA): their folder also holds people's own files
    (an S3 Batch Operations retry manifest lies beside the job's own manifest by default)."""
    in_job_input_folders: bool = False
    """Also searched in the input folders of the jobs whose items name the value (`retry`'s default folder)."""
    retry_name: re.Pattern[str] | None = None
    """The name `retry` gives its files of this format: a file so named is `retry`'s even without
    SOURCE_JOB_METADATA (Voice ID retry manifests carry none)."""

    def written_by_retry(self, key: str) -> bool:
        return self.retry_name is not None and self.retry_name.search(key) is not None


RETRY_JSONL = RetryFileFormat(INPUT_SUFFIX, _names_in_lines)
S3BATCH_RETRY_MANIFEST = RetryFileFormat(
    ".csv", _lists_object_key, written_by_retry_only=True, in_job_input_folders=True
)
# `retry`'s Voice ID manifests, `<input name>-retry-<12 hex>.json` (retry.retry_manifest_uri), indented one field a
# line: a SpeakerId (a CustomerSpeakerId) is found on its line as a whole id. The operator's own manifests beside
# them are never read.
VOICEID_RETRY_MANIFEST = RetryFileFormat(
    ".json",
    _names_in_lines,
    written_by_retry_only=True,
    in_job_input_folders=True,
    retry_name=re.compile(r"-retry-[0-9a-f]{12}\.json$"),
)
# The retry files searched for each subject attribute; any other attribute: the Bedrock retry JSONL.
RETRY_FILES_BY_SUBJECT = {"Key": S3BATCH_RETRY_MANIFEST, "CustomerSpeakerId": VOICEID_RETRY_MANIFEST}


def retry_file_format(attribute: str) -> RetryFileFormat:
    return RETRY_FILES_BY_SUBJECT.get(attribute, RETRY_JSONL)


def retry_files_naming(
    client: S3Client,
    folders: Sequence[S3Uri],
    value: str,
    job_id: str | None,
    file_format: RetryFileFormat = RETRY_JSONL,
) -> list[str]:
    """The retry files under `folders` that hold `value` (of job `job_id` only, when given and the file says its
    source job: `SOURCE_JOB_METADATA`). Each file is streamed line by line. A folder whose bucket does not
    exist, or a file gone since it was listed, holds nothing; CliError when one cannot be read."""
    reader = S3ObjectReader(client, chunk_bytes=1024 * 1024)
    found: list[str] = []
    try:
        for folder in dict.fromkeys(folders):
            try:
                keys = [
                    key
                    for key in reader.keys(S3Location(folder.bucket, folder.key))
                    if key.endswith(file_format.suffix)
                ]
            except OutputFileMissing:
                continue
            for key in keys:
                location = S3Location(folder.bucket, key)
                try:
                    needs_metadata = file_format.written_by_retry_only and not file_format.written_by_retry(key)
                    if _of_job(client, location, job_id, needs_metadata) and file_format.holds(reader, location, value):
                        found.append(location.uri)
                except OutputFileMissing:
                    continue
    except TrackerError as error:
        raise CliError(f"cannot search the retry files: {error}") from error
    return found


def _of_job(client: S3Client, location: S3Location, job_id: str | None, written_by_retry: bool = False) -> bool:
    """Whether the file holds records of `job_id` (any file when None): a file written before the retry kept
    its source job in the object's metadata is searched anyway, unless only files `retry` wrote are."""
    if job_id is None and not written_by_retry:
        return True
    try:
        metadata = client.head_object(Bucket=location.bucket, Key=location.key).get("Metadata", {})
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise OutputFileMissing(f"{location.uri} does not exist") from error
        raise CliError(f"cannot read the metadata of the retry file {location.uri}: {error}") from error
    source = metadata.get(SOURCE_JOB_METADATA)
    if written_by_retry and source is None:
        return False
    # The automatic retries' files hold records of several jobs: their ids comma-separated.
    return job_id is None or source is None or job_id in source.split(",")


def job_input_folders(client: DynamoDBClient, table: str, items: Iterable[ErasedItem]) -> list[S3Uri]:
    """The folders of the input manifests (the summaries' InputUri) of the items' jobs."""
    keys = [
        {schema.PARTITION_KEY: {"S": partition}, schema.SORT_KEY: {"S": schema.SUMMARY_SORT_KEY}}
        for partition in dict.fromkeys(item.partition_key for item in items)
    ]
    folders: list[S3Uri] = []
    for summary in _batch_get(client, table, keys, "the summaries of the jobs naming it") if keys else []:
        uri = summary.get("InputUri")
        if isinstance(uri, str) and uri.startswith("s3://"):
            manifest = S3Uri.parse(uri)
            folders.append(S3Uri(manifest.bucket, posixpath.dirname(manifest.key)))
    return list(dict.fromkeys(folders))


@dataclass(frozen=True)
class RetryItems:
    """The automatic retries' items that may carry a subject's value as `attribute`: a record's lineage
    (`RETRY#<value>` in its job's partition) and its pooled item (in a pool's partition). Those the retry
    dispatcher writes now are keyed in FailuresBySubject; these lookups find those written before."""

    attribute: str


# The subject attributes the automatic retries' items carry (Bedrock's records: RecordId).
RETRY_ITEMS_BY_SUBJECT = {"RecordId": RetryItems("RecordId")}


def _query_keys(client: DynamoDBClient, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item a Query returns (every page), as plain values."""
    items: list[dict[str, Any]] = []
    while True:
        response = client.query(**request)
        items.extend(map(plain, response.get("Items", [])))
        if "LastEvaluatedKey" not in response:
            return items
        request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}


def retry_items_naming(
    client: DynamoDBClient, table: str, retry_items: RetryItems, value: str, job_partitions: Iterable[str]
) -> list[ErasedItem]:
    """The pooled items whose `retry_items.attribute` is `value`, in every pool (a Query of the pools, then of
    each pool's partition, filtered), and the lineage items of `value` in the partitions of `job_partitions`
    and of the pooled items' jobs."""
    pools = _query_keys(
        client,
        {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": {":pk": {"S": POOLS_PARTITION}, ":prefix": {"S": POOL_SORT_PREFIX}},
            "ProjectionExpression": "#sk",
            "ConsistentRead": True,
        },
    )
    found: list[ErasedItem] = []
    for pool in pools:
        pool_key = str(pool[schema.SORT_KEY]).removeprefix(POOL_SORT_PREFIX)
        members = _query_keys(
            client,
            {
                "TableName": table,
                "KeyConditionExpression": "#pk = :pk",
                "FilterExpression": "#subject = :value",
                "ExpressionAttributeNames": {
                    "#pk": schema.PARTITION_KEY,
                    "#sk": schema.SORT_KEY,
                    "#subject": retry_items.attribute,
                },
                "ExpressionAttributeValues": {
                    ":pk": {"S": f"{POOL_PARTITION_PREFIX}{pool_key}"},
                    ":value": {"S": value},
                },
                "ProjectionExpression": "#pk, #sk",
                "ConsistentRead": True,
            },
        )
        found.extend(ErasedItem(str(item[schema.PARTITION_KEY]), str(item[schema.SORT_KEY])) for item in members)
    partitions = dict.fromkeys(
        [*job_partitions, *(schema.job_partition_key(item.domain_id, item.job_id) for item in found)]
    )
    lineage_keys = [
        {schema.PARTITION_KEY: {"S": partition}, schema.SORT_KEY: {"S": f"{LINEAGE_PREFIX}{value}"}}
        for partition in partitions
    ]
    for item in _batch_get(client, table, lineage_keys, "the retried records naming it") if lineage_keys else []:
        found.append(ErasedItem(str(item[schema.PARTITION_KEY]), str(item[schema.SORT_KEY])))
    return found


def _retry_jobs_of(
    client: DynamoDBClient, table: str, value: str, job_id: str, retried: Sequence[ErasedItem]
) -> set[str]:
    """The jobs that ran record `value` of job `job_id` again (automatic retries: each attempt's `RunBy` and the
    lineage's `RetriedBy`), following each retry job's own lineage in turn. An erasure limited to one job
    reaches them too: a retry job has an id of its own, and its record step would write the record again."""
    lineage = [item for item in retried if item.sort_key == f"{LINEAGE_PREFIX}{value}"]
    keys = [
        {schema.PARTITION_KEY: {"S": item.partition_key}, schema.SORT_KEY: {"S": item.sort_key}}
        for item in lineage
        if item.job_id == job_id
    ]
    runs: set[str] = set()
    for item in _batch_get(client, table, keys, "the retried record's lineage") if keys else []:
        attempts = item.get("Attempts") or []
        runs.update(str(run) for run in [item.get("RetriedBy"), *(a.get("RunBy") for a in attempts)] if run)
    runs.discard(job_id)
    return runs


# The `erase` flag of each subject attribute, kept in the register (which flag erased a value, not whose it is).
ERASE_FLAGS = {"CustomerSpeakerId": "--customer-speaker-id", "RecordId": "--record-id", "Key": "--object-key"}


def register_erasure(
    client: DynamoDBClient, table: str, attribute: str, value: str, job_id: str | None, *, now: datetime | None = None
) -> bool:
    """Add the value's hash to the erasure register (job_tracker.erasure_register), so that the record step and
    the retry dispatcher never write it again; True when it was new, False when it was registered before (the
    first erasure's time is kept)."""
    item = register_item(
        attribute,
        value,
        job_id=job_id,
        erased_by=ERASE_FLAGS.get(attribute, attribute),
        erased_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
    )
    try:
        client.put_item(
            TableName=table,
            Item={name: {"S": inner} for name, inner in item.items() if inner is not None},
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise CliError(f"cannot add the erasure to the register in table {table}: {error}") from error
    return True


def delete_retry_files(client: S3Client, uris: Iterable[str]) -> list[str]:
    """Delete the files; returns those S3 refused to delete."""
    refused: list[str] = []
    for uri in uris:
        location = S3Location.parse(uri)
        try:
            client.delete_object(Bucket=location.bucket, Key=location.key)
        except ClientError:
            refused.append(uri)
    return refused


def delete_items(client: DynamoDBClient, table: str, items: Iterable[ErasedItem], *, max_attempts: int = 8) -> None:
    """Delete the items by key through the record step's BatchWriter (25 a batch, unprocessed ones sent
    again with jittered backoff); CliError when some are still left."""
    writer = BatchWriter(client, table, max_attempts=max_attempts)
    try:
        for item in dict.fromkeys(items):
            writer.delete(item.partition_key, item.sort_key)
        writer.flush()
    except TrackerError as error:
        raise CliError(f"{error}. Run the same erase again: it deletes only what is left") from error


@dataclass
class Erasure:
    """What an erasure deleted, and what it searched."""

    items: list[ErasedItem] = field(default_factory=list)
    unread_items_read: int = 0
    """Items whose subject attribute could not be read, read to find the value in them."""
    retry_files: list[str] = field(default_factory=list)
    retry_folders: list[str] = field(default_factory=list)
    newly_registered: bool = False
    """Whether this erasure added the value to the erasure register (False: an earlier erasure had)."""

    def to_dict(self, attribute: str) -> dict[str, Any]:
        return {
            "Attribute": attribute,
            "Registered": "added" if self.newly_registered else "already registered",
            "Deleted": [item.to_dict() for item in self.items],
            "UnreadSubjectItemsRead": self.unread_items_read,
            "RetryFilesDeleted": self.retry_files,
            "RetryFoldersSearched": self.retry_folders,
        }


def erase(
    client: DynamoDBClient,
    table: str,
    attribute: str,
    value: str,
    *,
    job_id: str | None = None,
    s3: S3Client | None = None,
    retry_folders: Sequence[S3Uri] = (),
    delete_command: Callable[[str], str] = lambda uri: f"aws s3 rm {uri}",
) -> Erasure:
    """Delete every item naming `value` as `attribute`, or naming it elsewhere when its `attribute` could not be
    read, and every retry file under `retry_folders` (and, for a format kept beside the jobs' input, under the
    input folders of the jobs whose items name it) that holds it (of job `job_id` only, when given); returns
    what was deleted (nothing on a re-run). The files go before the items: a re-run after a failure finds them
    again, whatever is left of the items. CliError listing the command for each file S3 kept."""
    if not value.strip():
        raise CliError(f"the {attribute} to erase is empty")
    # Registered first: a record step that starts while the items are being deleted already leaves them out.
    newly_registered = register_erasure(client, table, attribute, value, job_id)
    named = items_naming(client, table, attribute, value)
    unread, read = unread_items_naming(client, table, attribute, value)
    retry_items = RETRY_ITEMS_BY_SUBJECT.get(attribute)
    retried = (
        retry_items_naming(client, table, retry_items, value, (item.partition_key for item in named))
        if retry_items is not None
        else []
    )
    jobs = None if job_id is None else {job_id, *_retry_jobs_of(client, table, value, job_id, retried)}
    for retry_job in sorted(jobs or ()):
        if retry_job != job_id:
            # The record ran again in a retry job of its own id: erased there too, so that job's record step
            # leaves it out as well.
            register_erasure(client, table, attribute, value, retry_job)
    found = [item for item in dict.fromkeys([*named, *unread, *retried]) if jobs is None or item.job_id in jobs]
    file_format = retry_file_format(attribute)
    folders = [*retry_folders]
    if s3 is not None and file_format.in_job_input_folders:
        folders.extend(job_input_folders(client, table, found))
    files = retry_files_naming(s3, folders, value, job_id, file_format) if s3 is not None and folders else []
    refused = delete_retry_files(s3, files) if s3 is not None else []
    delete_items(client, table, found)
    if refused:
        commands = "\n".join(f"  {delete_command(uri)}" for uri in refused)
        raise CliError(
            f"deleted {len(found)} item(s), but S3 refused to delete {len(refused)} retry file(s) holding "
            f"{attribute} {value}; delete them with:\n{commands}"
        )
    return Erasure(
        items=found,
        unread_items_read=read,
        retry_files=files,
        retry_folders=[str(folder) for folder in dict.fromkeys(folders)],
        newly_registered=newly_registered,
    )
