"""What both emulators are around their own service: the HTTP server's lifecycle, job stepping and waiting, the
events they sent, and the admin operations on the shared faults.

`VoiceIdEmulator` and `BedrockEmulator` build their state, job engine and service, then hand the parts this base
needs to `Emulator.__init__`; their admin APIs extend `EmulatorAdmin` with their own faults and routes.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypedDict

from emulator_core.clock import Clock, SystemClock
from emulator_core.events import EventCallback, EventPublisher
from emulator_core.faults import FaultController
from emulator_core.http import LOOPBACK_HOSTS, AdminApi, AdminError, EmulatorHTTPServer
from emulator_core.jobs import JobStore, JobT, PacingT, SteppingEngine
from emulator_core.s3io import S3Store, make_s3_client

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"


class EmulatorOptions(TypedDict, total=False):
    """What every emulator's constructor takes besides its own service's options."""

    host: str
    """Where it listens: a loopback address only (127.0.0.1, the default; localhost; ::1)."""
    port: int
    """0 (the default): a free port, then in `port` and `endpoint_url`."""
    region: str
    account_id: str
    clock: Clock | None
    """Stamps job times and decides when a background-paced step is due; a test may pass a ManualClock."""
    s3_endpoint_url: str | None
    """Where the jobs read and write S3 (when no `s3_client` is given)."""
    s3_client: S3Client | None
    events_endpoint_url: str | None
    """An EventBridge endpoint for PutEvents (when no `event_callback` or `events_client` is given)."""
    event_bus: str
    events_client: EventBridgeClient | None
    event_callback: EventCallback | None
    """Called with every event delivered, instead of PutEvents."""


class Emulator(ABC, Generic[JobT, PacingT]):
    """A local service on 127.0.0.1: use as a context manager or call start()/stop().

    A subclass names its service (`service_name`, `thread_name`), builds its HTTP server (`_make_server`), and
    sets `state`, `engine` and `admin` before it calls `start`.
    """

    service_name: ClassVar[str]
    """As the emulator's messages name it: "Voice ID", "Bedrock"."""
    thread_name: ClassVar[str]
    """The HTTP server thread's name."""
    event_source: ClassVar[str]
    """The `source` of the events it sends: "aws.voiceid", "aws.bedrock"."""
    publisher_class: ClassVar[type[EventPublisher]] = EventPublisher
    """Its own subclass lets a test patch one emulator's delivery alone."""

    state: JobStore[JobT]
    engine: SteppingEngine[JobT, PacingT]
    admin: AdminApi

    def __init__(
        self,
        *,
        faults: FaultController,
        s3_client_for_role: Callable[[str], S3Client] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        clock: Clock | None = None,
        s3_endpoint_url: str | None = None,
        s3_client: S3Client | None = None,
        events_endpoint_url: str | None = None,
        event_bus: str = "default",
        events_client: EventBridgeClient | None = None,
        event_callback: EventCallback | None = None,
    ) -> None:
        """`faults`: the emulator's own fault controller. `s3_client_for_role(role_arn)`: the S3 client a job
        uses, as its service role; default: one client for every job. The rest: see `EmulatorOptions`."""
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the {self.service_name} emulator only binds to the loopback interface")
        self.host = host
        self.port = port
        self.region = region
        self.account_id = account_id
        self.clock: Clock = clock or SystemClock()
        self.faults = faults
        self.publisher = self.publisher_class(
            self.event_source,
            region,
            account_id,
            callback=event_callback,
            endpoint_url=events_endpoint_url,
            event_bus=event_bus,
            events_client=events_client,
            drop_event=faults.should_drop_event,
        )
        self._s3_endpoint_url = s3_endpoint_url
        self._s3_client = s3_client
        self._s3_client_for_role = s3_client_for_role
        self._s3_stores: dict[str, S3Store] = {}
        self._s3_lock = threading.Lock()
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _s3(self, role_arn: str = "") -> S3Store:
        """The S3 store a job uses (as its service role, with `s3_client_for_role`). Built on first use, so that
        the emulator can be constructed before its S3 is up."""
        key = role_arn if self._s3_client_for_role is not None else ""
        with self._s3_lock:
            store = self._s3_stores.get(key)
            if store is None:
                if self._s3_client_for_role is not None:
                    client = self._s3_client_for_role(role_arn)
                else:
                    client = self._s3_client or make_s3_client(self._s3_endpoint_url, self.region)
                store = self._s3_stores[key] = S3Store(client)
            return store

    @abstractmethod
    def _make_server(self) -> EmulatorHTTPServer:
        """Load the service's model (so the first request is not slowed by it) and bind the server."""

    @property
    def pacing(self) -> PacingT:
        """The current pacing: the one given at construction unless changed through the admin API."""
        return self.engine.pacing

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = self._make_server()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        self.engine.start_worker()
        return self

    def stop(self) -> None:
        self.engine.stop_worker()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # --- jobs ----------------------------------------------------------------------------------------------

    def job(self, identifier: str) -> JobT:
        with self.state.lock:
            job = self.state.find_job(identifier)
        if job is None:
            raise KeyError(identifier)
        return job

    def job_for_admin(self, identifier: str, *, active: bool = False) -> JobT:
        """The job an admin operation acts on (the caller holds the state lock): KeyError naming an unknown job;
        with `active`, ValueError for one that has already ended."""
        job = self.state.find_job(identifier)
        if job is None:
            raise KeyError(f"no job {identifier}")
        if active and not job.active:
            raise ValueError(f"job {identifier} is already {job.status}")
        return job

    def step_job(self, identifier: str) -> bool:
        """One step of one job (manual pacing); False when the job is unknown or already ended."""
        with self.state.lock:
            job = self.state.find_job(identifier)
        return job is not None and self.engine.step(job.job_id)

    def advance(self) -> int:
        """One step for every active job; how many moved."""
        return self.engine.advance()

    def run_until_done(self, job_id: str | None = None) -> None:
        """Step a job (or every active job) until it has ended, synchronously."""
        self.engine.run_until_done(job_id)

    def wait_for_job(self, identifier: str, timeout: float = 30.0) -> str:
        """Block until a background-paced job has ended and its end event was handed to delivery (the services
        set the status, then send the event); its status."""
        deadline = time.monotonic() + timeout
        while True:
            with self.state.lock:
                job = self.job(identifier)
                status, ended, handed_over = job.status, not job.active, job.end_event_handed_over
            if ended and handed_over:
                return status
            if self.pacing.manual:
                raise RuntimeError("manual pacing: call run_until_done() or step_job() instead of waiting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {identifier} still {status} after {timeout} s")
            time.sleep(0.01)

    # --- events --------------------------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event handed to delivery, in order, whatever the target and whether or not delivery then
        succeeded; events lost to the event-loss fault are not here but in `dropped_events`."""
        return self.publisher.snapshot()

    @property
    def dropped_events(self) -> list[dict[str, Any]]:
        """Every event the event-loss fault dropped (built, never delivered), in order."""
        return self.publisher.dropped_snapshot()


class EmulatorAdmin(ABC):
    """The admin operations on the shared faults, and the admin API's read-only routes.

    A subclass adds its own faults and job control, and routes its POST paths in `_post`.
    """

    default_tps: ClassVar[float]
    """The rate throttling takes when it is turned on without one."""

    def __init__(self, emulator: Emulator[Any, Any]) -> None:
        self._emulator = emulator
        self.faults = emulator.faults

    @abstractmethod
    def _is_operation(self, name: str) -> bool:
        """Whether `name` is an operation of the service (for faults scoped to operations)."""

    @abstractmethod
    def _post(self, parts: list[str], path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Route `POST /<path>` (`parts`: its segments); the response body."""

    def set_throttling(self, enabled: bool, tps: float | None = None) -> None:
        self.faults.set_throttling(enabled, self.default_tps if tps is None else tps)

    def inject_internal_errors(self, count: int, operations: list[str] | None = None) -> None:
        unknown = [op for op in operations or [] if not self._is_operation(op)]
        if unknown:
            raise ValueError(f"unknown {self._emulator.service_name} operations: {unknown}")
        self.faults.inject_internal_errors(count, operations)

    def set_latency(self, seconds: float) -> None:
        self.faults.set_latency(seconds)

    def set_event_loss(self, fraction: float, seed: int | None = None) -> None:
        """Lose this fraction (0 to 1) of the EventBridge events published from now on: 1.0 drops every event,
        0 restores delivery. A dropped event is built and listed in `emulator.dropped_events` but never reaches
        the callback or PutEvents. `seed` reseeds the random source for a repeatable subset.
        ValueError for a fraction outside [0, 1] or not a number, or a seed that is not an integer."""
        self.faults.set_event_loss(fraction, seed)

    def state(self) -> dict[str, Any]:
        return {
            **self.faults.state(),
            "droppedEvents": self._emulator.publisher.dropped_count(),
            "pacing": self._emulator.pacing.to_api(),
        }

    def handle_http(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Route `<admin prefix><path>`; see the emulator's README for the table of paths."""
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if method == "GET":
            if parts == ["state"]:
                return self.state()
            if parts == ["events"]:
                return {"events": self._emulator.events}
            if parts == ["dropped-events"]:
                return {"droppedEvents": self._emulator.dropped_events}
        if method != "POST":
            raise AdminError(404, f"No admin route {method} /{path}")
        return self._post(parts, path, body)


__all__ = ["DEFAULT_ACCOUNT_ID", "DEFAULT_REGION", "Emulator", "EmulatorAdmin", "EmulatorOptions"]
