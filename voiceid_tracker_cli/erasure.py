"""Erasing a person from the record: every failure item that names them, found through the
`FailuresBySubject` index (never a Scan) and deleted by key.

Which attribute names a person is the job kinds' data (`JobKind.subject_attribute`: CustomerSpeakerId for
speaker enrollments, RecordId for a kind whose records are customers'); the index is keyed on it at record
time, so a new kind is covered by its description alone. Deleting a key that is already gone succeeds, so
running an erasure again deletes nothing more and reports so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from job_tracker.adapters.dynamodb import BatchWriter
from job_tracker.errors import TrackerError
from voiceid_tracker_cli.errors import CliError
from voiceid_tracker_cli.records import plain
from voiceid_tracker_cli.shared import JOB_KINDS, schema

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class ErasedItem:
    partition_key: str
    sort_key: str

    @property
    def job_id(self) -> str:
        return schema.job_of_partition_key(self.partition_key)[1]

    @property
    def domain_id(self) -> str:
        return schema.job_of_partition_key(self.partition_key)[0]

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


def items_naming(client: DynamoDBClient, table: str, attribute: str, value: str) -> list[ErasedItem]:
    """The keys of every item whose `attribute` is `value` (every page of the index)."""
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": schema.SUBJECT_INDEX,
        "KeyConditionExpression": "#subject = :subject",
        "ExpressionAttributeNames": {"#subject": schema.SUBJECT_INDEX_PARTITION_KEY},
        "ExpressionAttributeValues": {":subject": {"S": schema.subject_index_key(attribute, value)}},
    }
    keys: list[ErasedItem] = []
    while True:
        response = client.query(**request)
        for item in map(plain, response.get("Items", [])):
            keys.append(ErasedItem(str(item[schema.PARTITION_KEY]), str(item[schema.SORT_KEY])))
        if "LastEvaluatedKey" not in response:
            return keys
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


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


def erase(
    client: DynamoDBClient, table: str, attribute: str, value: str, *, job_id: str | None = None
) -> list[ErasedItem]:
    """Delete every item naming `value` as `attribute` (of job `job_id` only, when given); returns what was
    deleted (empty on a re-run)."""
    if not value.strip():
        raise CliError(f"the {attribute} to erase is empty")
    found = [item for item in items_naming(client, table, attribute, value) if job_id in (None, item.job_id)]
    delete_items(client, table, found)
    return found
