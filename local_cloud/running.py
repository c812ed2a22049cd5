"""A local cloud another process runs (`make local`), reached only through its `outputs.json`.

`make demo` runs its jobs on such a cloud when one is up, instead of starting a second one, so that the
CLI (`batch-job-tracker --local`) finds the demo's jobs in the cloud it is pointed at. Everything goes over
HTTP: AWS APIs through the cloud's gateway, Voice ID through the emulator's endpoint, the emulator's admin
operations through its admin API. It never writes the running cloud's `outputs.json`.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

# Its job progress is read through Voice ID's API (the emulator is in another process), which shares the
# account's 2 TPS with the trackers: each job is described at most this often.
PROGRESS_INTERVAL_SECONDS = 2.0
_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}  # any are accepted


def _answers(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts connections at `url`'s host and port."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return True
    except OSError:
        return False


def running_cloud_outputs(outputs_path: Path) -> dict[str, Any] | None:
    """The outputs of the local cloud `outputs_path` describes, if that cloud is up (its AWS and Voice ID
    endpoints answer); None when there is no file, it is not a local cloud's, or the cloud has stopped."""
    try:
        outputs: dict[str, Any] = json.loads(outputs_path.read_text(encoding="utf-8"))
        endpoints = outputs["endpoints"]
        aws, voice_id = str(endpoints["aws"]), str(endpoints["voiceId"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return outputs if _answers(aws) and _answers(voice_id) else None


@dataclass(frozen=True)
class RunningAws:
    endpoint_url: str
    region: str
    account_id: str

    def client(self, service: str, **kwargs: Any) -> Any:
        make_client: Any = boto3.client
        return make_client(service, endpoint_url=self.endpoint_url, region_name=self.region, **_CREDENTIALS, **kwargs)


@dataclass(frozen=True)
class RunningVoiceIdAdmin:
    endpoint_url: str

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the emulator's own http://127.0.0.1 URL
            f"{self.endpoint_url.rstrip('/')}/_voiceid/admin/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")

    def opt_out_speaker(self, domain_id: str, customer_speaker_id: str) -> None:
        self.post("speakers/opt-out", {"domainId": domain_id, "customerSpeakerId": customer_speaker_id})


@dataclass(frozen=True)
class RunningVoiceId:
    endpoint_url: str
    admin: RunningVoiceIdAdmin


@dataclass(frozen=True)
class RunningStack:
    outputs: dict[str, str]


@dataclass
class RunningEnvironment:
    """What the demo and `TrackerDriver` use of a `LocalEnvironment`, for a cloud that runs elsewhere."""

    outputs_path: Path
    cloud: RunningAws
    voice_id: RunningVoiceId
    stack: RunningStack
    domain_ids: list[str]
    input_location: tuple[str, str]
    output_s3_uri: str
    output_kms_key_id: str
    data_access_role_arn: str
    bedrock_input_s3_uri: str
    bedrock_output_s3_uri: str
    bedrock_output_kms_key_id: str
    bedrock_role_arn: str
    _progress: dict[str, tuple[float, tuple[str, int]]] = field(default_factory=dict)
    _voice_id_client: Any = None

    @classmethod
    def from_outputs(cls, outputs_path: Path, outputs: dict[str, Any]) -> RunningEnvironment:
        voice_id, bedrock = outputs["voiceId"], outputs["bedrock"]
        endpoint = str(outputs["endpoints"]["voiceId"])
        return cls(
            outputs_path=outputs_path,
            cloud=RunningAws(str(outputs["endpoints"]["aws"]), str(outputs["region"]), str(outputs["accountId"])),
            voice_id=RunningVoiceId(endpoint, RunningVoiceIdAdmin(endpoint)),
            stack=RunningStack({str(k): str(v) for k, v in outputs["stack"]["outputs"].items()}),
            domain_ids=[str(domain) for domain in voice_id["domainIds"]],
            input_location=(str(voice_id["inputBucket"]), str(voice_id["inputPrefix"])),
            output_s3_uri=str(voice_id["outputS3Uri"]),
            output_kms_key_id=str(voice_id["outputKmsKeyId"]),
            data_access_role_arn=str(voice_id["dataAccessRoleArn"]),
            bedrock_input_s3_uri=str(bedrock["inputS3Uri"]),
            bedrock_output_s3_uri=str(bedrock["outputS3Uri"]),
            bedrock_output_kms_key_id=str(bedrock["outputKmsKeyId"]),
            bedrock_role_arn=str(bedrock["roleArn"]),
        )

    @property
    def table_name(self) -> str:
        return self.stack.outputs["FailuresTableName"]

    @property
    def state_machine_arn(self) -> str:
        return self.stack.outputs["StateMachineArn"]

    def job_progress(self, job_id: str, domain_id: str, describe_method: str) -> tuple[str, int]:
        """(JobStatus, PercentComplete) through Voice ID's API, at most every PROGRESS_INTERVAL_SECONDS."""
        now = time.monotonic()
        cached = self._progress.get(job_id)
        if cached and (now - cached[0] < PROGRESS_INTERVAL_SECONDS or cached[1][0] not in ("SUBMITTED", "IN_PROGRESS")):
            return cached[1]
        if self._voice_id_client is None:
            self._voice_id_client = boto3.client(
                "voice-id",
                endpoint_url=self.voice_id.endpoint_url,
                region_name=self.cloud.region,
                config=Config(retries={"mode": "standard", "max_attempts": 8}),
                aws_access_key_id=_CREDENTIALS["aws_access_key_id"],
                aws_secret_access_key=_CREDENTIALS["aws_secret_access_key"],
            )
        job = getattr(self._voice_id_client, describe_method)(DomainId=domain_id, JobId=job_id)["Job"]
        progress = (str(job["JobStatus"]), int((job.get("JobProgress") or {}).get("PercentComplete") or 0))
        self._progress[job_id] = (now, progress)
        return progress
