"""Erasing a person from the record: every failure item that names them, found through the
`FailuresBySubject` index (never a Scan) and deleted by key.

Which attribute names a person is the job kinds' data (`JobKind.subject_attribute`: CustomerSpeakerId for
speaker enrollments, RecordId for a kind whose records are customers'); the index is keyed on it at record
time, so a new kind is covered by its description alone. Deleting a key that is already gone succeeds, so
running an erasure again deletes nothing more and reports so.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voiceid_tracker_cli.errors import CliError
from voiceid_tracker_cli.records import plain
from voiceid_tracker_cli.shared import JOB_KINDS, schema

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# BatchWriteItem's own limit.
MAX_BATCH_ITEMS = 25


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
    """Delete the items by key, 25 a batch, sending unprocessed ones again with backoff."""
    unique = list(dict.fromkeys(items))
    for start in range(0, len(unique), MAX_BATCH_ITEMS):
        requests: list[Any] = [
            {
                "DeleteRequest": {
                    "Key": {schema.PARTITION_KEY: {"S": item.partition_key}, schema.SORT_KEY: {"S": item.sort_key}}
                }
            }
            for item in unique[start : start + MAX_BATCH_ITEMS]
        ]
        for attempt in range(max_attempts):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = list(response.get("UnprocessedItems", {}).get(table, []))
            if not requests:
                break
            time.sleep(min(2.0, 0.05 * 2**attempt))
        else:
            raise CliError(
                f"DynamoDB kept leaving {len(requests)} deletion(s) unprocessed; run the same erase again "
                "(it deletes only what is left)"
            )


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
