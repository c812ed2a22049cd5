"""EventBridge delivery for the emulators: full event envelopes, best effort, as AWS services send them.

Each emulator builds its own `detail` and names its own `source` (`aws.voiceid`, `aws.bedrock`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

LOG = logging.getLogger(__name__)

EventCallback = Callable[[dict[str, Any]], None]


class EventPublisher:
    """Builds full event envelopes and hands them to a callback or an EventBridge endpoint, never raising.

    `drop_event`, asked once per event, is the event-loss fault (FaultController.should_drop_event): an event
    it drops is built but never delivered. Two records, each in publish order:

    * `published`: every event handed to delivery (the callback, PutEvents, or neither when no target is
      configured). A delivery that then fails (a raising callback, a failed PutEvents) stays listed: the
      emulator did try to deliver it.
    * `dropped`: every event the event-loss fault withheld; none of these reached the callback or PutEvents.
    """

    def __init__(
        self,
        source: str,
        region: str,
        account_id: str,
        *,
        callback: EventCallback | None = None,
        endpoint_url: str | None = None,
        event_bus: str = "default",
        events_client: EventBridgeClient | None = None,
        drop_event: Callable[[], bool] | None = None,
    ) -> None:
        self.source = source
        self.region = region
        self.account_id = account_id
        self.callback = callback
        self.event_bus = event_bus
        self._client = events_client
        if self._client is None and endpoint_url and callback is None:
            self._client = boto3.client(
                "events",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local-emulator"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local-emulator"),
                aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
                config=Config(retries={"mode": "standard", "max_attempts": 2}),
            )
        self._drop_event = drop_event
        self._lock = threading.Lock()
        self.published: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []

    def envelope(self, detail_type: str, resources: list[str], detail: dict[str, Any]) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": self.source,
            "account": self.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": resources,
            "detail": detail,
        }

    def publish(self, detail_type: str, resources: list[str], detail: dict[str, Any]) -> dict[str, Any]:
        """Build the event and deliver it unless the event-loss fault drops it; return it either way."""
        event = self.envelope(detail_type, resources, detail)
        if self._drop_event is not None and self._drop_event():
            with self._lock:
                self.dropped.append(event)
            LOG.info("Event-loss fault: dropped %s %s event of %s", detail_type, detail.get("status"), resources)
            return event
        with self._lock:
            self.published.append(event)
        if self.callback is not None:
            try:
                self.callback(event)
            except Exception:
                LOG.exception("Event callback raised; the event is dropped (delivery is best effort)")
            return event
        if self._client is not None:
            self._put(event)
        return event

    def _put(self, event: dict[str, Any]) -> None:
        try:
            response = self._client.put_events(  # type: ignore[union-attr]
                Entries=[
                    {
                        "Source": self.source,
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "EventBusName": self.event_bus,
                        "Resources": event["resources"],
                    }
                ]
            )
        except Exception:
            LOG.exception("PutEvents to bus %s failed; the event is dropped (delivery is best effort)", self.event_bus)
            return
        if response.get("FailedEntryCount"):
            LOG.error("PutEvents rejected the event: %s", response.get("Entries"))

    def snapshot(self) -> list[dict[str, Any]]:
        """A copy of `published`: the events handed to delivery."""
        with self._lock:
            return list(self.published)

    def dropped_snapshot(self) -> list[dict[str, Any]]:
        """A copy of `dropped`: the events the event-loss fault withheld."""
        with self._lock:
            return list(self.dropped)

    def dropped_count(self) -> int:
        with self._lock:
            return len(self.dropped)
