"""Each function's AWS client configurations, and the longest one call can take with them.

A call's worst case is every attempt taking its full connect and read timeouts, plus the SDK's longest
backoff before each retry (botocore's standard mode: up to min(2^(n-1), 20) s after attempt n, up to 5 s
more when the service asks for it with x-amz-retry-after; adaptive mode may also wait up to 2 s for its
client-side rate limiter per attempt). tests/unit/test_client_budgets.py checks that every function's worst
call ends well within the function's timeout in the template, so a slow service ends in a retryable error,
never in a Lambda timeout; the record step also reserves that long before its own deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from botocore.config import Config

MAX_BACKOFF_SECONDS = 20.0
RETRY_AFTER_EXTRA_SECONDS = 5.0
ADAPTIVE_RATE_WAIT_SECONDS = 2.0  # 1 / botocore's minimum fill rate (0.5 requests per second)


@dataclass(frozen=True)
class ClientSettings:
    """Retries and timeouts of one client; `attempts` counts them all, the first included."""

    attempts: int
    connect_timeout: float
    read_timeout: float
    mode: Literal["standard", "adaptive"] = "standard"

    def config(self) -> Config:
        return Config(
            retries={"mode": self.mode, "total_max_attempts": self.attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def worst_case_call_seconds(self) -> float:
        """The longest one SDK call with these settings can take, retries and backoff included."""
        per_attempt = self.connect_timeout + self.read_timeout
        per_attempt += ADAPTIVE_RATE_WAIT_SECONDS if self.mode == "adaptive" else 0.0
        backoff = sum(
            min(2.0 ** (attempt - 1), MAX_BACKOFF_SECONDS) + RETRY_AFTER_EXTRA_SECONDS
            for attempt in range(1, self.attempts)
        )
        return self.attempts * per_attempt + backoff


# Voice ID allows 2 TPS for its batch APIs per account, shared with every other caller: describe-job retries
# throttling a few times with the SDK's backoff, then lets the state machine back off for longer.
DESCRIBE_VOICE_ID = ClientSettings(attempts=4, connect_timeout=3, read_timeout=10)
# Bedrock documents no TPS for GetModelInvocationJob: the same budget, a few SDK retries, then the state
# machine's.
DESCRIBE_BEDROCK = ClientSettings(attempts=4, connect_timeout=3, read_timeout=10)
# S3 Control documents no TPS for DescribeJob (TooManyRequestsException is modelled): Bedrock's budget, a few SDK
# retries, then the state machine's backoff on S3BatchThrottled.
DESCRIBE_S3BATCH = ClientSettings(attempts=4, connect_timeout=3, read_timeout=10)
# validate-input reads a Bedrock job once, to check its name and output location; one retry fewer keeps its
# worst case well inside its shorter timeout, and the state machine retries what is left.
VALIDATE_BEDROCK = ClientSettings(attempts=3, connect_timeout=3, read_timeout=10)
# ...and an S3 Batch Operations job once, to check its description and report location.
VALIDATE_S3BATCH = ClientSettings(attempts=3, connect_timeout=3, read_timeout=10)
# record-failures: S3 streams the `.out` (each read waits at most read_timeout); DynamoDB answers in
# milliseconds, so a call that takes seconds has failed.
RECORD_S3 = ClientSettings(attempts=5, connect_timeout=3, read_timeout=20)
RECORD_DYNAMODB = ClientSettings(attempts=5, connect_timeout=3, read_timeout=10)
# Listing shares Voice ID's 2 TPS with every tracker's describes: adaptive mode slows the sweep's client down
# when it is throttled, and it retries for longer than the trackers' clients do.
# Eight attempts: the backoff between them (about 35 s on average) outlasts a throttled moment of the
# account's 2 TPS, and a sweep has minutes to spare.
SWEEP_VOICE_ID = ClientSettings(attempts=8, connect_timeout=2, read_timeout=5, mode="adaptive")
SWEEP_AWS = ClientSettings(attempts=4, connect_timeout=2, read_timeout=3)
SWEEP_BEDROCK = ClientSettings(attempts=5, connect_timeout=2, read_timeout=5, mode="adaptive")
# ListJobs pages hold up to 1,000 jobs of the whole account (no server-side filter): a longer read than Bedrock's.
SWEEP_S3BATCH = ClientSettings(attempts=5, connect_timeout=2, read_timeout=10, mode="adaptive")
WAKE_STEP_FUNCTIONS = ClientSettings(attempts=4, connect_timeout=3, read_timeout=5)
WAKE_DYNAMODB = ClientSettings(attempts=4, connect_timeout=3, read_timeout=5)

# The retry dispatcher (automatic retries): DynamoDB, S3, Bedrock's job API and EventBridge as the record step
# reads them; bedrock-runtime with one attempt, since the dispatcher backs off on ThrottlingException itself (at
# its bounded rate) and must see each refusal to record it as the record's error. A model answers one record
# within a minute.
RETRY_AWS = ClientSettings(attempts=5, connect_timeout=3, read_timeout=10)
RETRY_RUNTIME = ClientSettings(attempts=1, connect_timeout=3, read_timeout=60)

# Function (its package under lambdas/) -> the settings of every client it makes.
FUNCTION_CLIENTS: dict[str, tuple[ClientSettings, ...]] = {
    "validate_input": (VALIDATE_BEDROCK, VALIDATE_S3BATCH),
    "describe_job": (DESCRIBE_VOICE_ID, DESCRIBE_BEDROCK, DESCRIBE_S3BATCH),
    "record_failures": (RECORD_S3, RECORD_DYNAMODB),
    "wake_tracker": (WAKE_STEP_FUNCTIONS, WAKE_DYNAMODB),
    "sweep": (SWEEP_VOICE_ID, SWEEP_BEDROCK, SWEEP_S3BATCH, SWEEP_AWS),
    "retry_dispatcher": (RETRY_AWS, RETRY_RUNTIME),
}
