"""A local EventBridge Scheduler: runs the stack's ``AWS::Scheduler::Schedule`` resources at their rate.

moto stores schedules but never fires them, so :class:`SchedulerRunner` does: one daemon thread wakes up
when the next schedule is due and hands each fire to its own thread, so a slow target never delays
another schedule. As in AWS:

* ``rate(N minute|minutes|hour|hours|day|days)``: the first fire is one period after the schedule was
  created, then one every period. ``cron(...)`` and ``at(...)`` are rejected when the stack is deployed
  (nothing installed evaluates them); ``FlexibleTimeWindow`` is honoured as a window of 0.
* ``State: DISABLED`` schedules are registered but never fire on their own.
* A period that passed while the runner could not fire (the clock jumped) is fired late, but at most
  :data:`MAX_CATCH_UP_FIRES` of them per schedule; older ones are skipped with a warning.
* The target is a Lambda function, invoked asynchronously: once Lambda accepts the invocation the fire
  has succeeded, whatever the handler does (an error in the handler is Lambda's to retry, not the
  scheduler's; it is logged and kept in the fire record). An invocation Lambda rejects (function not
  found, a payload that is not JSON...) is retried ``RetryPolicy.MaximumRetryAttempts`` times,
  immediately, then sent to the ``DeadLetterConfig`` queue: the body is the input the target would have
  received, the message attributes (``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXECUTION_ID``,
  ``RETRY_ATTEMPTS``, ``SCHEDULE_ARN``, ``TARGET_ARN``) describe the failure.
* The input is the target's ``Input`` (``{}`` without one) with the context attributes
  ``<aws.scheduler.schedule-arn>``, ``<aws.scheduler.scheduled-time>``, ``<aws.scheduler.execution-id>``
  and ``<aws.scheduler.attempt-number>`` substituted.

Time comes from a :class:`Clock`: :class:`ScaledClock` (real time, optionally sped up) or
:class:`ManualClock` (advanced by hand), so tests can let minutes pass in milliseconds.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from local_cloud.gateway import LambdaInvoker
from local_cloud.lambda_runtime import FunctionNotFoundError, InvalidPayloadError
from local_cloud.template import TemplateError

_log = logging.getLogger("local_cloud.scheduler")

_RATE = re.compile(r"^rate\(\s*(?P<value>\d+)\s+(?P<unit>minutes?|hours?|days?)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_FUNCTION_ARN = re.compile(r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:[^:]+(:[^:]+)?$")
# AWS's default (and maximum) when a schedule's RetryPolicy has none.
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 185
_HISTORY_LENGTH = 1000  # fires kept per schedule (the count is kept in full)
# After the process was suspended (a laptop asleep), at most this many missed fires of one schedule are
# made at once; older ones are skipped with a warning rather than starting a sandbox per missed period.
MAX_CATCH_UP_FIRES = 10
_ERROR_CODES: Mapping[type[Exception], str] = {
    FunctionNotFoundError: "ResourceNotFoundException",
    InvalidPayloadError: "InvalidRequestContentException",
}


# -- clocks ------------------------------------------------------------------------------------------------
class Clock(Protocol):
    """Where the runner gets the time from: epoch seconds, possibly simulated."""

    def now(self) -> float: ...

    def sleep_until(self, deadline: float, wake: threading.Event) -> None:
        """Return once ``now() >= deadline`` or ``wake`` is set (``deadline`` may be ``math.inf``)."""
        ...


class ScaledClock:
    """Real time, ``time_scale`` times faster: with 600, a simulated minute lasts 0.1 s."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self._epoch = time.time()
        self._origin = time.monotonic()

    def now(self) -> float:
        return self._epoch + (time.monotonic() - self._origin) * self.time_scale

    def sleep_until(self, deadline: float, wake: threading.Event) -> None:
        while not wake.is_set():
            remaining = deadline - self.now()
            if remaining <= 0:
                return
            wake.wait(None if math.isinf(remaining) else remaining / self.time_scale)


class ManualClock:
    """Time that only moves when :meth:`advance` is called."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._changed = threading.Condition()

    def now(self) -> float:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def sleep_until(self, deadline: float, wake: threading.Event) -> None:
        with self._changed:
            # The short timeout lets a set `wake` (stop, a new schedule) end the wait.
            while self._now < deadline and not wake.is_set():
                self._changed.wait(0.02)


# -- schedules -----------------------------------------------------------------------------------------------
def rate_seconds(expression: str) -> float | None:
    """The period of a ``rate(...)`` expression in seconds; ``None`` for any other kind of expression."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return float(int(match["value"]) * _UNIT_SECONDS[match["unit"].removesuffix("s")])


@dataclass(frozen=True)
class LocalSchedule:
    """One ``AWS::Scheduler::Schedule`` as the runner needs it."""

    name: str
    arn: str
    expression: str
    period_seconds: float
    target_arn: str
    input: str = "{}"
    enabled: bool = True
    dead_letter_arn: str | None = None
    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS

    @classmethod
    def from_cloudformation(
        cls, logical_id: str, *, name: str, arn: str, properties: Mapping[str, Any]
    ) -> LocalSchedule:
        """From the resolved properties; anything the runner cannot honour is a :class:`TemplateError`."""

        def reject(problem: str) -> TemplateError:
            return TemplateError(f"schedule {logical_id}: {problem}")

        expression = str(properties.get("ScheduleExpression", ""))
        period = rate_seconds(expression)
        if period is None:
            kind = expression.split("(", 1)[0].strip()
            if kind in ("cron", "at"):
                raise reject(f"{expression!r}: {kind}(...) expressions are not run locally, only rate(...)")
            raise reject(f"unrecognised ScheduleExpression {expression!r}")
        if period <= 0:
            raise reject(f"{expression!r}: the rate must be positive")
        for unsupported in ("StartDate", "EndDate"):
            if properties.get(unsupported) is not None:
                raise reject(f"{unsupported} is not supported locally")
        window = str((properties.get("FlexibleTimeWindow") or {}).get("Mode", "OFF"))
        if window not in ("OFF", "FLEXIBLE"):
            raise reject(f"unknown FlexibleTimeWindow mode {window!r}")
        state = str(properties.get("State") or "ENABLED")
        if state not in ("ENABLED", "DISABLED"):
            raise reject(f"unknown State {state!r}")

        target = properties.get("Target") or {}
        target_arn = str(target.get("Arn", ""))
        if not _FUNCTION_ARN.match(target_arn):
            raise reject(f"target {target_arn!r} is not a Lambda function; only Lambda targets run locally")
        input_text = target.get("Input")
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        retry = target.get("RetryPolicy") or {}
        retries = int(retry.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS))
        if not 0 <= retries <= DEFAULT_MAXIMUM_RETRY_ATTEMPTS:
            raise reject(f"MaximumRetryAttempts {retries} is outside 0..{DEFAULT_MAXIMUM_RETRY_ATTEMPTS}")
        return cls(
            name=name,
            arn=arn,
            expression=expression,
            period_seconds=period,
            target_arn=target_arn,
            input="{}" if input_text is None else str(input_text),
            enabled=state == "ENABLED",
            dead_letter_arn=str(dead_letter) if dead_letter else None,
            maximum_retry_attempts=retries,
        )


# -- what happened -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fire:
    """One run of a schedule.

    ``slot`` is n for the n-th period after the schedule was registered (``None`` for :meth:`fire_now`).
    ``delivered``: Lambda accepted the invocation; then ``function_error`` is Lambda's
    ``X-Amz-Function-Error`` (``None`` when the handler succeeded) and ``response`` the function's
    response payload. Otherwise ``response`` is the last invocation error and ``dead_letter`` the queue
    ARN the failure went to (``None`` without a dead-letter queue or if sending failed).
    """

    schedule: str
    slot: int | None
    scheduled_at: float
    execution_id: str
    input: str
    attempts: int
    delivered: bool
    function_error: str | None
    response: str
    dead_letter: str | None = None

    @property
    def ok(self) -> bool:
        return self.delivered and self.function_error is None


@dataclass(frozen=True)
class FireRecord:
    """What a schedule did so far: how often it fired and the most recent fires (``last`` is the latest)."""

    schedule: str
    count: int
    fires: tuple[Fire, ...]

    @property
    def last(self) -> Fire | None:
        return self.fires[-1] if self.fires else None


class _Registered:
    def __init__(self, schedule: LocalSchedule, registered_at: float) -> None:
        self.schedule = schedule
        self.registered_at = registered_at
        self.next_slot = 1
        self.count = 0
        self.history: deque[Fire] = deque(maxlen=_HISTORY_LENGTH)

    @property
    def next_fire_at(self) -> float:
        return self.registered_at + self.next_slot * self.schedule.period_seconds


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the runner ----------------------------------------------------------------------------------------------
class SchedulerRunner:
    """Fires registered schedules at their rate on one daemon thread; see the module docstring.

    ``invoker`` runs the Lambda targets (the local :class:`~local_cloud.lambda_runtime.LambdaRuntime`).
    ``sqs_client`` makes the boto3 SQS client dead-letter messages are sent with (through the gateway);
    without it failures are only logged. ``clock`` defaults to real time.
    """

    def __init__(
        self,
        *,
        invoker: LambdaInvoker,
        sqs_client: Callable[[], Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = clock or ScaledClock()
        self._invoker = invoker
        self._make_sqs_client = sqs_client
        self._sqs: Any = None
        self._sqs_lock = threading.Lock()
        self._schedules: dict[str, _Registered] = {}
        self._lock = threading.Condition()  # guards the schedules and counts; notified when a fire ends
        self._in_flight = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> SchedulerRunner:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop firing (fires under way finish on their own threads)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- schedules -----------------------------------------------------------------------------------------
    def add(self, schedule: LocalSchedule) -> None:
        """Register ``schedule``; its first fire is one period from now (``clock.now()``)."""
        with self._lock:
            if schedule.name in self._schedules:
                raise ValueError(f"a schedule named {schedule.name!r} is already registered")
            self._schedules[schedule.name] = _Registered(schedule, self.clock.now())
        self._wake.set()

    def remove(self, name: str) -> None:
        with self._lock:
            self._registered(name)
            del self._schedules[name]
        self._wake.set()

    def names(self) -> list[str]:
        with self._lock:
            return list(self._schedules)

    def get(self, name: str) -> LocalSchedule:
        with self._lock:
            return self._registered(name).schedule

    def fire_record(self, name: str) -> FireRecord:
        with self._lock:
            registered = self._registered(name)
            return FireRecord(name, registered.count, tuple(registered.history))

    def fire_now(self, name: str) -> Fire:
        """Fire ``name`` once, now, in the calling thread (enabled or not); returns what happened."""
        with self._lock:
            registered = self._registered(name)
        return self._fire(registered, None, self.clock.now())

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every fire due by ``clock.now()`` has been made and finished; False on timeout.

        Meant for a :class:`ManualClock`: after ``advance``, this returns once the runner caught up (with
        a running clock new fires keep coming due).
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight or self._pending(self.clock.now()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.05))
        return True

    def _pending(self, now: float) -> bool:
        """Whether an enabled schedule has a fire due by ``now`` that the loop has not started yet."""
        return any(r.schedule.enabled and r.next_fire_at <= now for r in self._schedules.values())

    def _registered(self, name: str) -> _Registered:
        try:
            return self._schedules[name]
        except KeyError:
            raise KeyError(f"no schedule named {name!r}") from None

    # -- firing --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            now = self.clock.now()
            due: list[tuple[_Registered, int, float]] = []
            with self._lock:
                enabled = [r for r in self._schedules.values() if r.schedule.enabled]
                for registered in enabled:
                    self._skip_missed(registered, now)
                    while registered.next_fire_at <= now:
                        due.append((registered, registered.next_slot, registered.next_fire_at))
                        registered.next_slot += 1
                self._in_flight += len(due)
                next_at = min((r.next_fire_at for r in enabled), default=math.inf)
            for registered, slot, scheduled_at in due:
                threading.Thread(
                    target=self._fire_in_background,
                    args=(registered, slot, scheduled_at),
                    name=f"schedule-{registered.schedule.name}",
                    daemon=True,
                ).start()
            self.clock.sleep_until(next_at, self._wake)

    @staticmethod
    def _skip_missed(registered: _Registered, now: float) -> None:
        period = registered.schedule.period_seconds
        due = math.floor((now - registered.registered_at) / period) - registered.next_slot + 1
        if due > MAX_CATCH_UP_FIRES:
            skipped = due - MAX_CATCH_UP_FIRES
            registered.next_slot += skipped
            _log.warning("schedule %s: %d missed fire(s) skipped (the clock jumped)", registered.schedule.name, skipped)

    def _fire_in_background(self, registered: _Registered, slot: int, scheduled_at: float) -> None:
        try:
            self._fire(registered, slot, scheduled_at)
        except Exception:  # a bug here must not go unnoticed, nor leave wait_idle waiting
            _log.exception("schedule %s: fire failed", registered.schedule.name)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def _fire(self, registered: _Registered, slot: int | None, scheduled_at: float) -> Fire:
        schedule = registered.schedule
        fire = Fire(
            schedule=schedule.name,
            slot=slot,
            scheduled_at=scheduled_at,
            execution_id=str(uuid.uuid4()),
            input=schedule.input,
            attempts=0,
            delivered=False,
            function_error=None,
            response="",
        )
        fire = self._deliver(schedule, fire)
        with self._lock:
            registered.count += 1
            registered.history.append(fire)
        return fire

    def _deliver(self, schedule: LocalSchedule, fire: Fire) -> Fire:
        failure: Exception | None = None
        for attempt in range(1, max(schedule.maximum_retry_attempts, 0) + 2):
            fire = replace(fire, input=self._input(schedule, fire, attempt), attempts=attempt)
            try:
                result = self._invoker.invoke(schedule.target_arn, fire.input.encode())
            except Exception as error:  # Lambda rejected the invocation: retry, then dead-letter
                failure = error
                continue
            response = result.payload.decode(errors="replace")
            if result.function_error:
                _log.warning(
                    "schedule %s: function %s failed (%s): %s",
                    schedule.name,
                    schedule.target_arn,
                    result.function_error,
                    response,
                )
            return replace(fire, delivered=True, function_error=result.function_error, response=response)
        assert failure is not None  # the loop runs at least once
        return self._undeliverable(schedule, fire, failure)

    @staticmethod
    def _input(schedule: LocalSchedule, fire: Fire, attempt: int) -> str:
        context = {
            "schedule-arn": schedule.arn,
            "scheduled-time": _iso(fire.scheduled_at),
            "execution-id": fire.execution_id,
            "attempt-number": str(attempt),
        }
        text = schedule.input
        for name, value in context.items():
            text = text.replace(f"<aws.scheduler.{name}>", value)
        return text

    def _undeliverable(self, schedule: LocalSchedule, fire: Fire, error: Exception) -> Fire:
        code = next((c for kind, c in _ERROR_CODES.items() if isinstance(error, kind)), type(error).__name__)
        message = str(error)
        _log.warning(
            "schedule %s: invoking %s failed after %d attempt(s): %s: %s",
            schedule.name,
            schedule.target_arn,
            fire.attempts,
            code,
            message,
        )
        fire = replace(fire, response=f"{code}: {message}")
        if schedule.dead_letter_arn is None:
            return fire
        attributes = {
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message,
            "EXECUTION_ID": fire.execution_id,
            "RETRY_ATTEMPTS": str(fire.attempts - 1),
            "SCHEDULE_ARN": schedule.arn,
            "TARGET_ARN": schedule.target_arn,
        }
        try:
            self._send_dead_letter(schedule.dead_letter_arn, fire.input, attributes)
        except Exception:
            _log.exception(
                "schedule %s: could not send to dead-letter queue %s", schedule.name, schedule.dead_letter_arn
            )
            return fire
        return replace(fire, dead_letter=schedule.dead_letter_arn)

    def _send_dead_letter(self, queue_arn: str, body: str, attributes: Mapping[str, str]) -> None:
        if self._make_sqs_client is None:
            raise RuntimeError("the scheduler has no SQS client")
        with self._sqs_lock:
            if self._sqs is None:
                self._sqs = self._make_sqs_client()
            sqs = self._sqs
        *_, account, queue_name = queue_arn.split(":")
        queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body or "{}",
            MessageAttributes={
                key: {"DataType": "Number" if key == "RETRY_ATTEMPTS" else "String", "StringValue": value}
                for key, value in attributes.items()
                if value
            },
        )
