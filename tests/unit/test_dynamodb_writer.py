"""BatchWriter: chunks of at most 25 distinct keys, and UnprocessedItems retried with backoff."""

from __future__ import annotations

import random
from typing import Any

import pytest

from job_tracker.adapters.dynamodb import MAX_BATCH_ITEMS, BatchWriter
from job_tracker.errors import RecordingIncomplete
from tests.unit.conftest import TABLE


class RecordingClient:
    """Wraps a real (moto) client, recording each batch and optionally holding items back as unprocessed."""

    def __init__(self, client: Any, hold_back: list[int] | None = None) -> None:
        self._client = client
        self._hold_back = list(hold_back or [])
        self.batch_sizes: list[int] = []

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        requests = RequestItems[TABLE]
        self.batch_sizes.append(len(requests))
        keys = [str(r.get("PutRequest", r.get("DeleteRequest"))) for r in requests]
        assert len(set(keys)) == len(keys), "a batch touched one key twice"
        held = self._hold_back.pop(0) if self._hold_back else 0
        sent, unprocessed = requests[held:], requests[:held]
        if sent:
            self._client.batch_write_item(RequestItems={TABLE: sent})
        return {"UnprocessedItems": {TABLE: unprocessed} if unprocessed else {}}


def item(n: int) -> dict[str, Any]:
    return {"pk": "JOB#d#j", "sk": f"FAILURE#{n}", "ErrorCode": 400}


def count_items(dynamodb: Any) -> int:
    return int(dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"])


def test_sends_batches_of_at_most_25(dynamodb: Any) -> None:
    client = RecordingClient(dynamodb)
    writer = BatchWriter(client, TABLE)  # type: ignore[arg-type]
    for n in range(61):
        writer.put(item(n))
    writer.flush()
    assert client.batch_sizes == [25, 25, 11]
    assert max(client.batch_sizes) == MAX_BATCH_ITEMS
    assert count_items(dynamodb) == 61


def test_a_repeated_key_starts_a_new_batch(dynamodb: Any) -> None:
    client = RecordingClient(dynamodb)
    writer = BatchWriter(client, TABLE)  # type: ignore[arg-type]
    for n in [1, 2, 3, 2, 4]:
        writer.put(item(n))
    writer.flush()
    assert client.batch_sizes == [3, 2]
    assert count_items(dynamodb) == 4


def test_unprocessed_items_are_retried_with_growing_capped_delays(dynamodb: Any) -> None:
    client = RecordingClient(dynamodb, hold_back=[10, 4, 1])
    delays: list[float] = []
    writer = BatchWriter(
        client,  # type: ignore[arg-type]
        TABLE,
        base_delay_seconds=0.1,
        max_delay_seconds=0.3,
        sleep=delays.append,
        rng=random.Random(3),
    )
    for n in range(25):
        writer.put(item(n))
    writer.flush()
    assert client.batch_sizes == [25, 10, 4, 1]
    assert writer.retries == 3
    assert len(delays) == 3
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(delays, [0.1, 0.2, 0.3], strict=True))
    assert count_items(dynamodb) == 25


def test_gives_up_with_a_retryable_error_when_items_stay_unprocessed(dynamodb: Any) -> None:
    client = RecordingClient(dynamodb, hold_back=[3] * 10)
    writer = BatchWriter(client, TABLE, max_attempts=4, sleep=lambda _: None)  # type: ignore[arg-type]
    for n in range(5):
        writer.put(item(n))
    with pytest.raises(RecordingIncomplete, match="3 write\\(s\\) to failures unprocessed after 4 attempts"):
        writer.flush()
    assert client.batch_sizes == [5, 3, 3, 3]


def test_deletes_go_through_the_same_batches(dynamodb: Any) -> None:
    writer = BatchWriter(dynamodb, TABLE)
    for n in range(30):
        writer.put(item(n))
    writer.flush()
    for n in range(0, 30, 2):
        writer.delete("JOB#d#j", f"FAILURE#{n}")
    writer.flush()
    assert count_items(dynamodb) == 15
