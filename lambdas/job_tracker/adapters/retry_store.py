"""DynamoDB: the automatic retries' items in the failures table (docs/table.md, "Automatic retries").

| item                | pk                          | sk                                   |
|---------------------|-----------------------------|--------------------------------------|
| record lineage      | JOB#<DomainId>#<JobId>      | RETRY#<RecordId>                     |
| pooled record       | RETRYPOOL#<PoolKey>         | <DomainId>#<JobId>#<RecordId>        |
| pool                | RETRYPOOLS                  | POOL#<PoolKey>                       |
| batch (job/on-demand)| RETRYBATCHES               | BATCH#<BatchId>                      |
| records retried/day | RETRYDAILY                  | <YYYY-MM-DD>                         |

Every change of a record's state is one transaction over its lineage item, its pooled item and its failure
item, each conditioned on the state it leaves: a record pooled twice, claimed by two batches or settled twice
is refused by DynamoDB, never written twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from job_tracker import table_schema as schema
from job_tracker.adapters.dynamodb import _translated_errors
from job_tracker.erasure_register import ErasedSubjects, load_erased_subjects

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]

LINEAGE_PREFIX = "RETRY#"
POOL_PARTITION_PREFIX = "RETRYPOOL#"
POOLS_PARTITION = "RETRYPOOLS"
POOL_SORT_PREFIX = "POOL#"
BATCHES_PARTITION = "RETRYBATCHES"
BATCH_SORT_PREFIX = "BATCH#"
DAILY_PARTITION = "RETRYDAILY"
RECORD_TYPE_LINEAGE = "RETRIED_RECORD"
RECORD_TYPE_POOLED = "POOLED_RECORD"
RECORD_TYPE_POOL = "RETRY_POOL"
RECORD_TYPE_BATCH = "RETRY_BATCH"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | set):
        return [_plain(inner) for inner in value]
    return value


def _to_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items() if value is not None}


def _from_item(item: Mapping[str, Any]) -> Item:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _key(partition_key: str, sort_key: str) -> dict[str, Any]:
    return _to_item({schema.PARTITION_KEY: partition_key, schema.SORT_KEY: sort_key})


def lineage_key(domain_id: str, job_id: str, record_id: str) -> tuple[str, str]:
    return schema.job_partition_key(domain_id, job_id), f"{LINEAGE_PREFIX}{record_id}"


def member_key(pool_key: str, domain_id: str, job_id: str, record_id: str) -> tuple[str, str]:
    return f"{POOL_PARTITION_PREFIX}{pool_key}", f"{domain_id}#{job_id}#{record_id}"


def failure_key(domain_id: str, job_id: str, record_id: str) -> tuple[str, str]:
    return schema.job_partition_key(domain_id, job_id), f"{schema.FAILURE_SORT_KEY_PREFIX}{record_id}"


def _cancelled(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in (
        "TransactionCanceledException",
        "ConditionalCheckFailedException",
    )


class DynamoDbRetryStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- reads ---------------------------------------------------------------------------------------------
    def _query(self, partition_key: str, prefix: str = "") -> Iterator[Item]:
        condition = "#pk = :pk" + (" AND begins_with(#sk, :prefix)" if prefix else "")
        values = {":pk": partition_key, **({":prefix": prefix} if prefix else {})}
        names = {"#pk": schema.PARTITION_KEY, **({"#sk": schema.SORT_KEY} if prefix else {})}
        paginator = self._client.get_paginator("query")
        with _translated_errors("Query", self._table):
            for page in paginator.paginate(
                TableName=self._table,
                KeyConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_item(values),
                ConsistentRead=True,
            ):
                for item in page.get("Items", []):
                    yield _from_item(item)

    def get(self, partition_key: str, sort_key: str) -> Item | None:
        with _translated_errors("GetItem", self._table):
            item = self._client.get_item(
                TableName=self._table, Key=_key(partition_key, sort_key), ConsistentRead=True
            ).get("Item")
        return _from_item(item) if item else None

    def summary(self, domain_id: str, job_id: str) -> Item | None:
        return self.get(schema.job_partition_key(domain_id, job_id), schema.SUMMARY_SORT_KEY)

    def failures(self, domain_id: str, job_id: str) -> list[Item]:
        return list(self._query(schema.job_partition_key(domain_id, job_id), schema.FAILURE_SORT_KEY_PREFIX))

    def lineage(self, domain_id: str, job_id: str) -> list[Item]:
        return list(self._query(schema.job_partition_key(domain_id, job_id), LINEAGE_PREFIX))

    def pools(self) -> list[Item]:
        return list(self._query(POOLS_PARTITION, POOL_SORT_PREFIX))

    def members(self, pool_key: str) -> list[Item]:
        return list(self._query(f"{POOL_PARTITION_PREFIX}{pool_key}"))

    def batches(self) -> list[Item]:
        return list(self._query(BATCHES_PARTITION, BATCH_SORT_PREFIX))

    def batch(self, batch_id: str) -> Item | None:
        return self.get(BATCHES_PARTITION, f"{BATCH_SORT_PREFIX}{batch_id}")

    def retried_on(self, day: str) -> int:
        item = self.get(DAILY_PARTITION, day)
        return int(item.get("RetriedRecordCount", 0)) if item else 0

    def erased_subjects(self, attribute: str | None) -> ErasedSubjects:
        """The erasure register of `attribute` (job_tracker.erasure_register): one paged Query."""
        with _translated_errors("Query", self._table):
            return load_erased_subjects(self._client, self._table, attribute)

    def forget(self, member: Item) -> None:
        """Delete an erased record's pooled item and its lineage (`erase` deleted its failure item): it is never
        sent again nor written back. Deleting what is gone already succeeds."""
        for partition_key, sort_key in (
            (member[schema.PARTITION_KEY], member[schema.SORT_KEY]),
            lineage_key(member["DomainId"], member["JobId"], member["RecordId"]),
        ):
            with _translated_errors("DeleteItem", self._table):
                self._client.delete_item(TableName=self._table, Key=_key(partition_key, sort_key))

    # --- writes --------------------------------------------------------------------------------------------
    def _transact(self, actions: list[dict[str, Any]]) -> bool:
        """One transaction; False when a condition refused it (the change was made before, or by another)."""
        try:
            with _translated_errors("TransactWriteItems", self._table):
                self._client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as error:
            if _cancelled(error):
                return False
            raise
        return True

    def _set_failure_state(self, domain_id: str, job_id: str, record_id: str, state: str) -> dict[str, Any]:
        pk, sk = failure_key(domain_id, job_id, record_id)
        return {
            "Update": {
                "TableName": self._table,
                "Key": _key(pk, sk),
                "UpdateExpression": "SET RetryState = :state",
                "ConditionExpression": "attribute_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                "ExpressionAttributeValues": _to_item({":state": state}),
            }
        }

    def pool_record(self, lineage: Item, member: Item | None) -> bool:
        """Write a record's lineage (and its pooled item, unless it is final at once), and its failure item's
        RetryState; False when the record has a lineage already (pooled before: nothing is written)."""
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _to_item({**lineage, "RecordType": RECORD_TYPE_LINEAGE}),
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                }
            }
        ]
        if member is not None:
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _to_item({**member, "RecordType": RECORD_TYPE_POOLED}),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                    }
                }
            )
        actions.append(
            self._set_failure_state(lineage["DomainId"], lineage["JobId"], lineage["RecordId"], lineage["RetryState"])
        )
        return self._transact(actions)

    def mirror_state(self, domain_id: str, job_id: str, record_id: str, state: str) -> None:
        """The failure item's RetryState as its lineage says (a re-record rewrites the failure item without it)."""
        pk, sk = failure_key(domain_id, job_id, record_id)
        try:
            with _translated_errors("UpdateItem", self._table):
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(pk, sk),
                    UpdateExpression="SET RetryState = :state",
                    ConditionExpression="attribute_exists(#pk)",
                    ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
                    ExpressionAttributeValues=_to_item({":state": state}),
                )
        except ClientError as error:
            if not _cancelled(error):
                raise

    def put_pool(self, pool: Item) -> None:
        with _translated_errors("PutItem", self._table):
            self._client.put_item(
                TableName=self._table,
                Item=_to_item(
                    {
                        **pool,
                        schema.PARTITION_KEY: POOLS_PARTITION,
                        schema.SORT_KEY: f"{POOL_SORT_PREFIX}{pool['PoolKey']}",
                        "RecordType": RECORD_TYPE_POOL,
                    }
                ),
            )

    def open_batch(self, batch: Item, day: str, cap: int) -> bool:
        """Write the batch item and count its records against `day`'s cap in one transaction; False when the
        batch exists already or the cap would be passed."""
        count = int(batch["RecordCount"])
        return self._transact(
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _to_item(
                            {
                                **batch,
                                schema.PARTITION_KEY: BATCHES_PARTITION,
                                schema.SORT_KEY: f"{BATCH_SORT_PREFIX}{batch['BatchId']}",
                                "RecordType": RECORD_TYPE_BATCH,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(DAILY_PARTITION, day),
                        "UpdateExpression": "ADD RetriedRecordCount :count",
                        "ConditionExpression": (
                            "attribute_not_exists(RetriedRecordCount) OR RetriedRecordCount <= :room"
                        ),
                        "ExpressionAttributeValues": _to_item({":count": count, ":room": cap - count}),
                    }
                },
            ]
        )

    def take_lease(self, batch_id: str, now: str, until: str) -> bool:
        """Run the batch until `until` unless another run holds it (its lease not yet past `now`): an open batch
        is never run by two dispatchers at once. ISO times of one format compare as strings."""
        try:
            with _translated_errors("UpdateItem", self._table):
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(BATCHES_PARTITION, f"{BATCH_SORT_PREFIX}{batch_id}"),
                    UpdateExpression="SET LeaseUntil = :until",
                    ConditionExpression=(
                        "attribute_exists(#pk) AND (attribute_not_exists(LeaseUntil) OR LeaseUntil < :now)"
                    ),
                    ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
                    ExpressionAttributeValues=_to_item({":until": until, ":now": now}),
                )
        except ClientError as error:
            if _cancelled(error):
                return False
            raise
        return True

    def release_lease(self, batch_id: str) -> None:
        """The run that held the batch stopped on an error: the next run may resume it at once."""
        with _translated_errors("UpdateItem", self._table):
            self._client.update_item(
                TableName=self._table,
                Key=_key(BATCHES_PARTITION, f"{BATCH_SORT_PREFIX}{batch_id}"),
                UpdateExpression="REMOVE LeaseUntil",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
            )

    def claim(self, member: Item, batch_id: str) -> bool:
        """The pooled record joins the batch, unless another batch holds it: a record never runs twice at once."""
        try:
            with _translated_errors("UpdateItem", self._table):
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(member[schema.PARTITION_KEY], member[schema.SORT_KEY]),
                    UpdateExpression="SET BatchId = :batch",
                    ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(BatchId)",
                    ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
                    ExpressionAttributeValues=_to_item({":batch": batch_id}),
                )
        except ClientError as error:
            if _cancelled(error):
                return False
            raise
        return True

    def update_batch(self, batch_id: str, **attributes: Any) -> None:
        names = {f"#{name}": name for name in attributes}
        with _translated_errors("UpdateItem", self._table):
            self._client.update_item(
                TableName=self._table,
                Key=_key(BATCHES_PARTITION, f"{BATCH_SORT_PREFIX}{batch_id}"),
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in attributes),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_to_item({f":{name}": value for name, value in attributes.items()}),
            )

    def delete_batch(self, batch_id: str) -> None:
        with _translated_errors("DeleteItem", self._table):
            self._client.delete_item(
                TableName=self._table, Key=_key(BATCHES_PARTITION, f"{BATCH_SORT_PREFIX}{batch_id}")
            )

    def mark_submitted(self, member: Item, batch_id: str, retried_by: str) -> bool:
        """The record's lineage and failure item say SUBMITTED to `retried_by`, while the batch holds it."""
        pk, sk = lineage_key(member["DomainId"], member["JobId"], member["RecordId"])
        return self._transact(
            [
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": _key(member[schema.PARTITION_KEY], member[schema.SORT_KEY]),
                        "ConditionExpression": "BatchId = :batch",
                        "ExpressionAttributeValues": _to_item({":batch": batch_id}),
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(pk, sk),
                        "UpdateExpression": "SET RetryState = :state, RetriedBy = :by, BatchId = :batch",
                        "ConditionExpression": "RetryState = :pooled",
                        "ExpressionAttributeValues": _to_item(
                            {":state": "SUBMITTED", ":by": retried_by, ":batch": batch_id, ":pooled": "POOLED"}
                        ),
                    }
                },
                self._set_failure_state(member["DomainId"], member["JobId"], member["RecordId"], "SUBMITTED"),
            ]
        )

    def settle(self, member: Item, batch_id: str, lineage_update: Item, back_to_pool: Item | None) -> bool:
        """Record one attempt's outcome: the lineage takes `lineage_update` (its RetryState and attributes, the
        attempt appended to Attempts), the failure item its RetryState, and the pooled item leaves the batch:
        back into the pool as `back_to_pool`, or deleted. Conditioned on the batch holding the record, so an
        outcome is never recorded twice."""
        pk, sk = lineage_key(member["DomainId"], member["JobId"], member["RecordId"])
        attempt = lineage_update.pop("AttemptRecord")
        names = {f"#{name}": name for name in lineage_update}
        values = {f":{name}": value for name, value in lineage_update.items()}
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in lineage_update)
        expression += ", Attempts = list_append(if_not_exists(Attempts, :empty), :attempt)"
        values.update({":empty": [], ":attempt": [attempt]})
        member_key_ = _key(member[schema.PARTITION_KEY], member[schema.SORT_KEY])
        condition = {
            "ConditionExpression": "BatchId = :batch",
            "ExpressionAttributeValues": _to_item({":batch": batch_id}),
        }
        member_action: dict[str, Any]
        if back_to_pool is None:
            member_action = {"Delete": {"TableName": self._table, "Key": member_key_, **condition}}
        else:
            member_action = {
                "Put": {
                    "TableName": self._table,
                    "Item": _to_item({**back_to_pool, "RecordType": RECORD_TYPE_POOLED}),
                    **condition,
                }
            }
        return self._transact(
            [
                member_action,
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(pk, sk),
                        "UpdateExpression": expression,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": _to_item(values),
                    }
                },
                self._set_failure_state(
                    member["DomainId"], member["JobId"], member["RecordId"], str(lineage_update["RetryState"])
                ),
            ]
        )

    def set_summary_counts(
        self, domain_id: str, job_id: str, counts: Mapping[str, Any], settled_at: str | None
    ) -> bool:
        """Write the retry counts on the job's summary; with `settled_at`, also RetrySettledAt unless it is set
        already. Returns whether this call settled the job (so that one event, not one per call, says so)."""
        names = {f"#{name}": name for name in counts}
        values: dict[str, Any] = {f":{name}": value for name, value in counts.items()}
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in counts)
        pk = schema.job_partition_key(domain_id, job_id)
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(pk, schema.SUMMARY_SORT_KEY),
            "ExpressionAttributeNames": {**names, "#pk": schema.PARTITION_KEY},
        }
        with _translated_errors("UpdateItem", self._table):
            if settled_at is None:
                try:
                    self._client.update_item(
                        **update,
                        UpdateExpression=expression + " REMOVE RetrySettledAt",
                        ConditionExpression="attribute_exists(#pk)",
                        ExpressionAttributeValues=_to_item(values),
                    )
                except ClientError as error:
                    if not _cancelled(error):  # no summary any more (expired, erased): nothing to count on
                        raise
                return False
            try:
                self._client.update_item(
                    **update,
                    UpdateExpression=expression + ", RetrySettledAt = :settled",
                    ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(RetrySettledAt)",
                    ExpressionAttributeValues=_to_item({**values, ":settled": settled_at}),
                )
            except ClientError as error:
                if not _cancelled(error):
                    raise
                # Settled before (the counts are written again), or no summary any more (nothing to count on).
                try:
                    self._client.update_item(
                        **update,
                        UpdateExpression=expression,
                        ConditionExpression="attribute_exists(#pk)",
                        ExpressionAttributeValues=_to_item(values),
                    )
                except ClientError as again:
                    if not _cancelled(again):
                        raise
                return False
        return True

    def set_summary_note(self, domain_id: str, job_id: str, name: str, value: str | None) -> None:
        """Set (or, with None, remove) one attribute of the job's summary, if the job still has one."""
        pk = schema.job_partition_key(domain_id, job_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(pk, schema.SUMMARY_SORT_KEY),
            "ConditionExpression": "attribute_exists(#pk)",
            "ExpressionAttributeNames": {"#name": name, "#pk": schema.PARTITION_KEY},
        }
        if value is None:
            request["UpdateExpression"] = "REMOVE #name"
        else:
            request["UpdateExpression"] = "SET #name = :value"
            request["ExpressionAttributeValues"] = _to_item({":value": value})
        try:
            with _translated_errors("UpdateItem", self._table):
                self._client.update_item(**request)
        except ClientError as error:
            if not _cancelled(error):  # no summary any more (expired, erased): nothing to say it on
                raise
