"""Drive the deployed tracker the way a user and Voice ID would: shared by the demo and the end-to-end tests.

Everything goes through public APIs over HTTP (boto3 against the emulator and the local AWS endpoint),
except job progress for display, which the environment reads from the emulator in-process when it runs it,
so that watching a job does not spend the account's 2 TPS Voice ID budget. The environment is the
`LocalEnvironment` this process runs, or a `RunningEnvironment` another process runs (`make local`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from typing_extensions import TypeVar

from bedrock_emulator import DEFAULT_MODEL_IDS
from job_tracker.table_schema import job_partition_key
from local_cloud.environment import LocalEnvironment
from local_cloud.s3batch import job_progress as s3batch_job_progress
from voiceid_emulator.audio import make_wav

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_bedrock.type_defs import ModelInvocationJobS3OutputDataConfigTypeDef
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_voice_id import VoiceIDClient

_deserializer = TypeDeserializer()

FRAUDSTER_REGISTRATION = "FRAUDSTER_REGISTRATION"
SPEAKER_ENROLLMENT = "SPEAKER_ENROLLMENT"
BEDROCK_BATCH_INFERENCE = "BEDROCK_BATCH_INFERENCE"
S3_BATCH_OPERATIONS = "S3_BATCH_OPERATIONS"
# What a Voice ID user sends per kind: the manifest's list of requests and the Start*Job call. The tracker
# itself knows kinds through lambdas/job_tracker/kinds; the driver plays the user and keeps its own table.
MANIFEST_MEMBER = {
    FRAUDSTER_REGISTRATION: "FraudsterRegistrationRequests",
    SPEAKER_ENROLLMENT: "SpeakerEnrollmentRequests",
}


# The Describe*Job method per kind, for reading a job's progress through Voice ID's API.
DESCRIBE_METHOD = {
    FRAUDSTER_REGISTRATION: "describe_fraudster_registration_job",
    SPEAKER_ENROLLMENT: "describe_speaker_enrollment_job",
}


class AwsEndpoint(Protocol):
    @property
    def region(self) -> str: ...
    def client(self, service: str, **kwargs: Any) -> Any: ...


class VoiceIdEndpoint(Protocol):
    @property
    def endpoint_url(self) -> str: ...


class StackOutputs(Protocol):
    @property
    def outputs(self) -> dict[str, str]: ...


class TrackerEnvironment(Protocol):
    """What the driver needs of a local cloud with the stack deployed."""

    @property
    def cloud(self) -> AwsEndpoint: ...
    @property
    def voice_id(self) -> VoiceIdEndpoint: ...
    @property
    def stack(self) -> StackOutputs: ...
    @property
    def table_name(self) -> str: ...
    @property
    def state_machine_arn(self) -> str: ...
    @property
    def input_location(self) -> tuple[str, str]: ...
    @property
    def output_s3_uri(self) -> str: ...
    @property
    def output_kms_key_id(self) -> str: ...
    @property
    def data_access_role_arn(self) -> str: ...
    @property
    def bedrock_input_s3_uri(self) -> str: ...
    @property
    def bedrock_output_s3_uri(self) -> str: ...
    @property
    def bedrock_output_kms_key_id(self) -> str: ...
    @property
    def bedrock_role_arn(self) -> str: ...
    def job_progress(self, job_id: str, domain_id: str, describe_method: str) -> tuple[str, int]: ...


Environment = TypeVar("Environment", bound=TrackerEnvironment, default=LocalEnvironment)


@dataclass(frozen=True)
class AudioRequest:
    """One request of a job: its RequestId, how to make (or not make) its audio, and for a speaker
    enrollment the speaker (CustomerSpeakerId; the RequestId when not given)."""

    request_id: str
    seconds_speech: float = 4.0
    seconds_silence: float = 0.0
    seed: int = 0
    missing: bool = False
    speaker_id: str | None = None
    audio_key: str | None = None
    """Reuse this already uploaded audio object instead of making one (large jobs)."""


@dataclass
class TrackedJob:
    domain_id: str
    job_id: str
    kind: str = FRAUDSTER_REGISTRATION
    executions: list[dict[str, Any]] = field(default_factory=list)
    job_arn: str | None = None
    """Bedrock's or S3 Batch Operations' job ARN (its DomainId is the account, its JobId the ARN's last
    segment)."""

    @property
    def partition_key(self) -> str:
        return job_partition_key(self.domain_id, self.job_id)


def _job_named(execution_input: object) -> str | None:
    """The JobId an execution's input names: `JobId`, or the last segment of a `JobArn` (Bedrock's, or S3 Batch
    Operations')."""
    if not isinstance(execution_input, dict):
        return None
    arn = execution_input.get("JobArn")
    if isinstance(arn, str):
        return arn.rsplit("/", 1)[-1]
    job_id = execution_input.get("JobId")
    return job_id if isinstance(job_id, str) else None


def recorded_by(executions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The executions that recorded their job (the others stopped at the job lock, or failed)."""
    return [e for e in executions if e["status"] == "SUCCEEDED" and '"FailedRequests"' in (e.get("output") or "")]


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers become int where they are whole)."""
    values = {key: _deserializer.deserialize(value) for key, value in item.items()}
    plain_values: dict[str, Any] = json.loads(
        json.dumps(values, default=lambda number: int(number) if number % 1 == 0 else float(number))
    )
    return plain_values


class TrackerDriver(Generic[Environment]):
    def __init__(self, local: Environment) -> None:
        self.local = local
        # Like any caller sharing Voice ID's 2 TPS, retry throttling with the SDK's standard backoff.
        self.voice_id: VoiceIDClient = boto3.client(
            "voice-id",
            endpoint_url=local.voice_id.endpoint_url,
            region_name=local.cloud.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the emulator accepts any credentials
            config=Config(retries={"mode": "standard", "max_attempts": 8}),
        )
        self.s3: S3Client = local.cloud.client("s3")
        self.sfn: SFNClient = local.cloud.client("stepfunctions")
        self.dynamodb: DynamoDBClient = local.cloud.client("dynamodb")
        self.lambdas: LambdaClient = local.cloud.client("lambda")
        self.bedrock: BedrockClient = local.cloud.client("bedrock")
        self._job_of_execution: dict[str, str | None] = {}

    # -- Voice ID, as its user -------------------------------------------------------------------------
    def create_domain(self, name: str = "fraud-ops") -> str:
        domain = self.voice_id.create_domain(
            Name=name,
            ServerSideEncryptionConfiguration={"KmsKeyId": self.local.output_kms_key_id},
            ClientToken=uuid.uuid4().hex,
        )["Domain"]
        return str(domain["DomainId"])

    def upload_audio(self, key: str, request: AudioRequest) -> str:
        """Upload one WAV to the input bucket under `key`; returns its S3 URI."""
        bucket, prefix = self.local.input_location
        wav = make_wav(request.seconds_speech, request.seconds_silence, seed=request.seed)
        self.s3.put_object(Bucket=bucket, Key=f"{prefix}{key}", Body=wav)
        return f"s3://{bucket}/{prefix}{key}"

    def upload_manifest(
        self, requests: Sequence[AudioRequest], *, name: str | None = None, kind: str = FRAUDSTER_REGISTRATION
    ) -> str:
        """Write each request's WAV and a manifest of `kind` listing them; returns the manifest's S3 URI."""
        bucket, input_prefix = self.local.input_location
        prefix = f"batch-{uuid.uuid4().hex[:8]}"
        entries = []
        for request in requests:
            key = request.audio_key or f"{input_prefix}{prefix}/audio/{request.request_id}.wav"
            if not request.missing and request.audio_key is None:
                wav = make_wav(request.seconds_speech, request.seconds_silence, seed=request.seed)
                self.s3.put_object(Bucket=bucket, Key=key, Body=wav)
            entry: dict[str, Any] = {"RequestId": request.request_id}
            if kind == SPEAKER_ENROLLMENT:
                entry["SpeakerId"] = request.speaker_id or request.request_id
            entry["AudioSpecifications"] = [{"S3Uri": f"s3://{bucket}/{key}", "ChannelId": 0}]
            entries.append(entry)
        default_name = "fraudsters" if kind == FRAUDSTER_REGISTRATION else "speakers"
        return self.upload_raw_manifest(
            {"Version": "1.0", MANIFEST_MEMBER[kind]: entries}, name=name or default_name, prefix=prefix
        )

    def upload_raw_manifest(self, manifest: Any, *, name: str | None = None, prefix: str | None = None) -> str:
        bucket, input_prefix = self.local.input_location
        key = f"{input_prefix}{prefix or 'manifests'}/{name or 'fraudsters'}.json"
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest, indent=1).encode()
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        return f"s3://{bucket}/{key}"

    def start_job(
        self,
        domain_id: str,
        manifest_uri: str,
        *,
        job_name: str = "tracked-batch",
        kind: str = FRAUDSTER_REGISTRATION,
        existing_enrollment_action: str = "SKIP",
    ) -> TrackedJob:
        common: dict[str, Any] = {
            "DomainId": domain_id,
            "JobName": job_name,
            "ClientToken": uuid.uuid4().hex,
            "DataAccessRoleArn": self.local.data_access_role_arn,
            "InputDataConfig": {"S3Uri": manifest_uri},
            "OutputDataConfig": {"S3Uri": self.local.output_s3_uri, "KmsKeyId": self.local.output_kms_key_id},
        }
        job: Any
        if kind == SPEAKER_ENROLLMENT:
            enrollment: Any = {
                "ExistingEnrollmentAction": existing_enrollment_action,
                "FraudDetectionConfig": {"FraudDetectionAction": "IGNORE"},
            }
            job = self.voice_id.start_speaker_enrollment_job(**common, EnrollmentConfig=enrollment)["Job"]
        else:
            job = self.voice_id.start_fraudster_registration_job(
                **common, RegistrationConfig={"DuplicateRegistrationAction": "SKIP"}
            )["Job"]
        return TrackedJob(domain_id=domain_id, job_id=str(job["JobId"]), kind=kind)

    # -- Bedrock, as its user ---------------------------------------------------------------------------
    def upload_bedrock_input(self, files: Mapping[str, list[dict[str, Any]] | bytes], *, label: str = "batch") -> str:
        """Write JSONL input files (records, or raw bytes) under a fresh folder of the local Bedrock's input
        location; returns the folder's S3 URI (a job's inputS3Uri)."""
        bucket, _, prefix = self.local.bedrock_input_s3_uri.removeprefix("s3://").partition("/")
        folder = f"{prefix}{label}-{uuid.uuid4().hex[:8]}/"
        for name, body in files.items():
            data = body if isinstance(body, bytes) else "".join(json.dumps(row) + "\n" for row in body).encode()
            self.s3.put_object(Bucket=bucket, Key=f"{folder}{name}", Body=data)
        return f"s3://{bucket}/{folder}"

    def _bedrock_cloud(self) -> LocalEnvironment:
        """The Bedrock steps drive the emulator this process runs (its admin API in-process)."""
        if not isinstance(self.local, LocalEnvironment):
            raise TypeError("Bedrock jobs are driven on a LocalEnvironment this process runs")
        return self.local

    def start_bedrock_job(
        self,
        job_name: str,
        input_uri: str,
        *,
        outcome: tuple[str, int] | None = None,
        wait: bool = False,
        model_id: str | None = None,
    ) -> TrackedJob:
        """CreateModelInvocationJob through the gateway, writing SSE-KMS output to the local Bedrock's output
        location; `outcome` (status, after N records) is forced on it through the admin API (a cloud this
        process runs), and `wait` blocks until the job has ended."""
        output: ModelInvocationJobS3OutputDataConfigTypeDef = {
            "s3Uri": self.local.bedrock_output_s3_uri,
            "s3EncryptionKeyId": self.local.bedrock_output_kms_key_id,
        }
        job_arn = str(
            self.bedrock.create_model_invocation_job(
                jobName=job_name,
                roleArn=self.local.bedrock_role_arn,
                modelId=model_id or DEFAULT_MODEL_IDS[0],
                inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri}},
                outputDataConfig={"s3OutputDataConfig": output},
            )["jobArn"]
        )
        account, job_id = job_arn.split(":")[4], job_arn.rsplit("/", 1)[1]
        if outcome is not None:
            self._bedrock_cloud().bedrock.admin.force_outcome(job_id, outcome[0], after_records=outcome[1])
        if wait:
            self._bedrock_cloud().bedrock.wait_for_job(job_arn, timeout=60)
        return TrackedJob(domain_id=account, job_id=job_id, kind=BEDROCK_BATCH_INFERENCE, job_arn=job_arn)

    def bedrock_output_ids(self, job: TrackedJob) -> set[str]:
        """The record ids of every output line the local Bedrock wrote for the job."""
        bucket, _, prefix = self.local.bedrock_output_s3_uri.removeprefix("s3://").partition("/")
        found: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}{job.job_id}/"):
            for entry in page.get("Contents", []):
                if entry["Key"].endswith(".jsonl.out"):
                    body = self.s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                    found.update(json.loads(line)["recordId"] for line in body.splitlines() if line.strip())
        return found

    def start_s3batch_job(
        self, description: str, keys: Sequence[str], operation: Mapping[str, Any], **extra: Any
    ) -> TrackedJob:
        """CreateJob through the gateway (as an S3 Batch Operations user, the local job role acting) on these keys
        of the local input bucket, with an AllTasks report in the local report location unless `extra` says
        otherwise; the job runs on its own."""
        local = self._local_cloud("S3 Batch Operations")
        job_id = local.s3batch.create_job(list(keys), dict(operation), Description=description, **extra)
        account = local.cloud.account_id
        arn = f"arn:aws:s3:{local.cloud.region}:{account}:job/{job_id}"
        return TrackedJob(domain_id=account, job_id=job_id, kind=S3_BATCH_OPERATIONS, job_arn=arn)

    def _local_cloud(self, what: str) -> LocalEnvironment:
        if not isinstance(self.local, LocalEnvironment):
            raise TypeError(f"{what} jobs are driven on a LocalEnvironment this process runs")
        return self.local

    def job_progress(self, job: TrackedJob) -> tuple[str, int]:
        """(JobStatus, PercentComplete), as the environment reads it (in-process when it runs the emulator)."""
        if job.kind == S3_BATCH_OPERATIONS:
            s3batch = self._local_cloud("S3 Batch Operations").s3batch.client()
            return s3batch_job_progress(s3batch.describe_job(AccountId=job.domain_id, JobId=job.job_id)["Job"])
        if job.kind == BEDROCK_BATCH_INFERENCE:
            # Through Bedrock's API, as its user sees it (its quotas are not Voice ID's 2 TPS).
            found = self.bedrock.get_model_invocation_job(jobIdentifier=job.job_arn or job.job_id)
            total, processed = found.get("totalRecordCount") or 0, found.get("processedRecordCount") or 0
            return str(found["status"]), (100 * processed // total if total else 0)
        return self.local.job_progress(job.job_id, job.domain_id, DESCRIBE_METHOD[job.kind])

    # -- the tracker, as an operator ------------------------------------------------------------------
    def start_execution(self, job: TrackedJob, **extra: Any) -> str:
        """Start a tracker as an operator does from the console: `{"DomainId", "JobId"}`, plus `JobKind` for
        any kind but the default, plus `extra`."""
        execution_input: dict[str, Any] = {"DomainId": job.domain_id, "JobId": job.job_id}
        if job.kind != FRAUDSTER_REGISTRATION:
            execution_input["JobKind"] = job.kind
        started = self.sfn.start_execution(
            stateMachineArn=self.local.state_machine_arn,
            name=f"manual-{job.job_id}-{uuid.uuid4().hex[:6]}",
            input=json.dumps({**execution_input, **extra}),
        )
        return started["executionArn"]

    def run_sweep(self) -> dict[str, Any]:
        """One reconciliation sweep now, as the schedule runs it: Lambda Invoke of the sweep function with `{}`."""
        response = self.lambdas.invoke(FunctionName=self.local.stack.outputs["SweepFunctionName"], Payload=b"{}")
        body = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise RuntimeError(f"the sweep failed: {body}")
        report: dict[str, Any] = body
        return report

    def executions(self, job: TrackedJob | None = None) -> list[dict[str, Any]]:
        """Executions of the tracker (for `job` only, when given), oldest first, as DescribeExecution gives them.

        An execution's input never changes, so each is read once to learn its job; after that only the
        job's own executions are described again, however many other executions the machine has run.
        """
        found = []
        paginator = self.sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self.local.state_machine_arn):
            for summary in page["executions"]:
                arn = summary["executionArn"]
                described: dict[str, Any] | None = None
                if arn not in self._job_of_execution:
                    described = dict(self.sfn.describe_execution(executionArn=arn))
                    execution_input = json.loads(described.get("input") or "{}")
                    # An operator may start an execution with any JSON; only an object names a job.
                    self._job_of_execution[arn] = _job_named(execution_input)
                if job is not None and self._job_of_execution[arn] != job.job_id:
                    continue
                found.append(described or dict(self.sfn.describe_execution(executionArn=arn)))
        return sorted(found, key=lambda execution: execution["startDate"])

    def state_names(self, execution_arn: str) -> Iterator[str]:
        """Names of the states the execution has entered, in order."""
        history = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        for event in history:
            details = event.get("stateEnteredEventDetails")
            if details:
                yield details["name"]

    def wait_until_settled(
        self, job: TrackedJob, *, expected_executions: int = 1, deadline_seconds: float = 90.0
    ) -> list[dict[str, Any]]:
        """Wait until at least `expected_executions` executions exist for the job and none is running.

        Raises TimeoutError naming what was seen, so a stuck chain fails with the link that broke."""
        deadline = time.monotonic() + deadline_seconds
        while True:
            executions = self.executions(job)
            job.executions = executions
            if len(executions) >= expected_executions and all(e["status"] != "RUNNING" for e in executions):
                return executions
            if time.monotonic() > deadline:
                seen = [(e["name"], e["status"], list(self.state_names(e["executionArn"]))[-1:]) for e in executions]
                raise TimeoutError(
                    f"after {deadline_seconds:.0f} s job {job.job_id} is {self.job_progress(job)} with "
                    f"{len(executions)} of {expected_executions} expected execution(s) settled or not: {seen}"
                )
            time.sleep(0.25)

    def wait_until_running(self, job: TrackedJob, *, deadline_seconds: float = 30.0) -> dict[str, Any]:
        """The execution tracking the job: running, and holding the job lock (TRACKING). An execution that
        is merely RUNNING may still be validating its input, before it has taken the lock."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            lock = self.items(job).get("LOCK", {})
            if lock.get("LockState") == "TRACKING":
                running = [
                    e
                    for e in self.executions(job)
                    if e["status"] == "RUNNING" and e["executionArn"] == lock.get("ExecutionArn")
                ]
                if running:
                    return running[0]
            time.sleep(0.05)
        raise TimeoutError(
            f"no execution for job {job.job_id} was running with the job lock within {deadline_seconds:.0f} s"
        )

    def items(self, job: TrackedJob) -> dict[str, dict[str, Any]]:
        """The job's items by sort key, from one Query."""
        found: dict[str, dict[str, Any]] = {}
        paginator = self.dynamodb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.local.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": job.partition_key}},
            ConsistentRead=True,
        ):
            for item in page["Items"]:
                found[item["sk"]["S"]] = plain(dict(item))
        return found

    def failures(self, job: TrackedJob) -> dict[str, dict[str, Any]]:
        return {
            key.removeprefix("FAILURE#"): item for key, item in self.items(job).items() if key.startswith("FAILURE#")
        }
