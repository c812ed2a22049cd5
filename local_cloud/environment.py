"""The whole local cloud for the tracker: AWS engines, the Voice ID, Bedrock and S3 Batch Operations emulators and
the deployed stack.

`make local`, `make demo` and the end-to-end tests all start it through `LocalEnvironment`, so they run
the same thing. It writes what it created to `outputs.json` in its state folder (format in docs/local-cloud.md).

IAM is enforced by default: the template's policies are loaded into the gateway once the stack is deployed,
so a grant missing from the template fails a local run as it would fail on AWS. `enforce_iam=False`, or
`LOCAL_CLOUD_IAM=off` in the environment (`make local LOCAL_CLOUD_IAM=off`, `make demo LOCAL_CLOUD_IAM=off`),
turns it off for debugging.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from botocore.config import Config

from bedrock_emulator import DEFAULT_MODEL_IDS, BedrockEmulator
from bedrock_emulator import Clock as BedrockClock
from bedrock_emulator import Pacing as BedrockPacing
from local_cloud._process import stop_all
from local_cloud.cloud import LocalCloud
from local_cloud.lambda_runtime import LogSink, log_to_logging
from local_cloud.provision import Deployment, deploy_stack
from local_cloud.s3batch import LocalS3Batch, S3BatchSettings
from local_cloud.template import StackTemplate
from voiceid_emulator import VoiceIdEmulator
from voiceid_emulator.clock import Pacing

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".local-cloud"
DEFAULT_TEMPLATE = DEFAULT_STATE_DIR / "cdk.out" / "VoiceIdJobTracker.template.json"
OUTPUTS_FILE_NAME = "outputs.json"
INPUT_BUCKET = "voiceid-local-input"
# Voice ID needs a role it may assume to read input and write output. The emulator does not assume it: its
# own S3 and EventBridge calls are Voice ID's, not the stack's, and are not restricted.
DATA_ACCESS_ROLE_ARN = "arn:aws:iam::{account}:role/VoiceIdBatchDataAccess"

# Bedrock batch inference: where a local job's input and output go when the stack follows no Bedrock jobs
# (otherwise its first configured locations and output key, as for Voice ID), and the service role Bedrock
# uses for them. The emulator reads and writes S3 as that role (through the gateway), so a role of the stack
# is held to its policies; this default role is not one of the stack's and is not restricted.
BEDROCK_INPUT_S3_URI = "s3://bedrock-local-input/input/"
BEDROCK_OUTPUT_S3_URI = "s3://bedrock-local-output/output/"
BEDROCK_ROLE_ARN = "arn:aws:iam::{account}:role/BedrockBatchInference"
BEDROCK_ROLE_SESSION = "BedrockBatchInference"

# Variables the Lambdas get locally beyond the template's: none (no tracing SDK runs in them to disable).
LOCAL_LAMBDA_ENVIRONMENT: dict[str, str] = {}
IAM_SWITCH_VARIABLE = "LOCAL_CLOUD_IAM"
_OFF = frozenset({"off", "0", "false", "no"})


def iam_enforced_by_default() -> bool:
    """Whether IAM is enforced when not said otherwise: yes, unless ``LOCAL_CLOUD_IAM`` is off/0/false/no."""
    return os.environ.get(IAM_SWITCH_VARIABLE, "on").strip().lower() not in _OFF


@dataclass(frozen=True)
class VoiceIdSettings:
    pacing: Pacing = field(default_factory=lambda: Pacing(submitted_seconds=1.0, seconds_per_request=0.4))
    throttling: bool = True


# Local Bedrock jobs: half a second in each waiting status, 50 records a second.
BEDROCK_STAGE_SECONDS = 0.5
BEDROCK_RECORDS_PER_SECOND = 50.0


@dataclass(frozen=True)
class BedrockSettings:
    pacing: BedrockPacing = field(
        default_factory=lambda: BedrockPacing.real_time(BEDROCK_STAGE_SECONDS, BEDROCK_RECORDS_PER_SECOND)
    )
    throttling: bool = False
    clock: BedrockClock | None = None
    """The local Bedrock's time (None: real time); a faster clock lets a test run a week-long job in a minute."""


class LocalEnvironment:
    def __init__(
        self,
        *,
        template_path: Path = DEFAULT_TEMPLATE,
        state_dir: Path = DEFAULT_STATE_DIR,
        voice_id: VoiceIdSettings | None = None,
        bedrock: BedrockSettings | None = None,
        s3batch: S3BatchSettings | None = None,
        log_sink: LogSink = log_to_logging,
        enforce_iam: bool | None = None,
    ) -> None:
        """``enforce_iam``: hold the stack's calls to the template's policies (None: on, unless
        ``LOCAL_CLOUD_IAM=off``)."""
        if not template_path.is_file():
            raise FileNotFoundError(
                f"no synthesized template at {template_path}; run `make local` (it synthesizes first)"
            )
        self.template_path = template_path
        self.state_dir = state_dir
        self.enforce_iam = iam_enforced_by_default() if enforce_iam is None else enforce_iam
        self.cloud = LocalCloud(
            state_dir=state_dir / "run", lambda_environment=LOCAL_LAMBDA_ENVIRONMENT, log_sink=log_sink
        )
        settings = voice_id or VoiceIdSettings()
        self.voice_id = VoiceIdEmulator(
            region=self.cloud.region,
            account_id=self.cloud.account_id,
            s3_endpoint_url=self.cloud.endpoint_url,
            events_endpoint_url=self.cloud.endpoint_url,
            throttling=settings.throttling,
            pacing=settings.pacing,
        )
        bedrock_settings = bedrock or BedrockSettings()
        self.bedrock = BedrockEmulator(
            region=self.cloud.region,
            account_id=self.cloud.account_id,
            s3_client_for_role=self._s3_client_as,
            events_endpoint_url=self.cloud.endpoint_url,
            throttling=bedrock_settings.throttling,
            pacing=bedrock_settings.pacing,
            clock=bedrock_settings.clock,
        )
        self._unconfigured_bedrock_key_id = ""
        # S3 Batch Operations: the emulator behind the gateway, its job role and buckets (local_cloud/s3batch.py).
        self.s3batch = LocalS3Batch(self.cloud, s3batch)
        self.deployment: Deployment | None = None

    @property
    def outputs_path(self) -> Path:
        return self.state_dir / OUTPUTS_FILE_NAME

    def start(self) -> LocalEnvironment:
        try:
            self.cloud.start()
            self.voice_id.start()
            # The functions reach Voice ID through the gateway, which authorizes their calls like any other
            # and forwards them to the emulator; users' clients may talk to the emulator directly.
            self.cloud.gateway.route_voice_id(self.voice_id.endpoint_url)
            self.cloud.lambdas.set_environment("AWS_ENDPOINT_URL_VOICE_ID", self.cloud.endpoint_url)
            # Bedrock's REST calls carry no X-Amz-Target: the gateway tells them by their signing name.
            self.bedrock.start()
            self.cloud.gateway.route_signed_service("bedrock", self.bedrock.endpoint_url)
            self.cloud.lambdas.set_environment("AWS_ENDPOINT_URL_BEDROCK", self.cloud.endpoint_url)
            self.s3batch.start()
            self.deployment = deploy_stack(self.cloud, self.template_path)
            if self.enforce_iam:
                self.load_iam_policies()
            # The configured Voice ID domains exist in the account the stack is deployed to; here they are
            # created in the emulator with the same ids, so IAM scope and event pattern hold as deployed.
            for domain_id in self.domain_ids:
                self.voice_id.admin.seed_domain(domain_id, name="configured", kms_key_id=self.output_kms_key_id)
            if self.input_location[0] not in self.stack.buckets:
                self.cloud.client("s3").create_bucket(Bucket=self.input_location[0])
            self._create_bedrock_resources()
            self.s3batch.create_resources(set(self.stack.buckets))
            self.outputs_path.parent.mkdir(parents=True, exist_ok=True)
            self.outputs_path.write_text(json.dumps(self.outputs(), indent=2) + "\n", encoding="utf-8")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # All of them, even when one fails to stop (or never started): the cloud's engines are child processes.
        stop_all((self.s3batch.stop, self.bedrock.stop, self.voice_id.stop, self.cloud.stop))

    # -- Bedrock -----------------------------------------------------------------------------------------------
    def _s3_client_as(self, role_arn: str) -> Any:
        """The S3 client a Bedrock job uses: through the gateway, signed as its service role."""
        return self.cloud.client_as(
            "s3",
            role_arn,
            BEDROCK_ROLE_SESSION,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3}),
        )

    def _create_bedrock_resources(self) -> None:
        """The input and output buckets and output key of local Bedrock jobs, when the stack configures none
        (the deployment creates those it does configure, with a stand-in for its key)."""
        s3 = self.cloud.client("s3")
        for uri in (self.bedrock_input_s3_uri, self.bedrock_output_s3_uri):
            bucket = uri.removeprefix("s3://").split("/", 1)[0]
            if bucket not in self.stack.buckets:
                s3.create_bucket(Bucket=bucket)
        if not self.stack.listed("BedrockOutputKmsKeyArns"):
            key = self.cloud.client("kms").create_key(Description="local Bedrock batch inference output")
            self._unconfigured_bedrock_key_id = str(key["KeyMetadata"]["Arn"])

    @property
    def bedrock_input_s3_uri(self) -> str:
        """Where local Bedrock jobs read: the stack's first configured Bedrock input location."""
        return next(iter(self.stack.listed("BedrockInputLocations")), BEDROCK_INPUT_S3_URI)

    @property
    def bedrock_output_s3_uri(self) -> str:
        """Where local Bedrock jobs write: the stack's first configured Bedrock output location."""
        return next(iter(self.stack.listed("BedrockOutputLocations")), BEDROCK_OUTPUT_S3_URI)

    @property
    def bedrock_output_kms_key_id(self) -> str:
        """The key local Bedrock jobs encrypt their output with: the local stand-in for the stack's first
        configured Bedrock output key, so the record Lambda needs its `kms:Decrypt` as it would in AWS."""
        configured = self.stack.listed("BedrockOutputKmsKeyArns")
        return self.stack.kms_keys[configured[0]] if configured else self._unconfigured_bedrock_key_id

    @property
    def bedrock_role_arn(self) -> str:
        return BEDROCK_ROLE_ARN.format(account=self.cloud.account_id)

    def __enter__(self) -> LocalEnvironment:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- IAM ---------------------------------------------------------------------------------------------------
    def load_iam_policies(self, template: Mapping[str, Any] | None = None) -> None:
        """Enforce the policies of ``template`` (default: the deployed template) from now on.

        A changed copy of the deployed template (a grant removed, a resource narrowed) is evaluated with the
        deployment's stack name, region, account and local KMS keys, so names and ARNs resolve as deployed.
        Nothing is redeployed: only what the gateway evaluates changes.
        """
        if template is None:
            template = json.loads(self.template_path.read_text(encoding="utf-8"))
        stack = StackTemplate(
            template, stack_name=self.stack.stack_name, region=self.cloud.region, account_id=self.cloud.account_id
        )
        self.cloud.iam.load(stack, resource_aliases=self.stack.kms_keys)

    # -- what scripts need to drive it -----------------------------------------------------------------
    @property
    def stack(self) -> Deployment:
        if self.deployment is None:
            raise RuntimeError("the local environment is not started")
        return self.deployment

    @property
    def table_name(self) -> str:
        return self.stack.outputs["FailuresTableName"]

    @property
    def state_machine_arn(self) -> str:
        return self.stack.outputs["StateMachineArn"]

    @property
    def domain_ids(self) -> list[str]:
        return self.stack.outputs["VoiceIdDomainIds"].split(",")

    @property
    def output_s3_uri(self) -> str:
        return self.stack.outputs["VoiceIdOutputLocations"].split(",")[0]

    @property
    def input_location(self) -> tuple[str, str]:
        """(bucket, key prefix) where manifests and audio go: the stack's first configured input location
        (`tracker:inputLocations`, which the record Lambda may read), else a bucket of the local cloud's own."""
        configured = self.stack.listed("VoiceIdInputLocations")
        if not configured:
            return INPUT_BUCKET, ""
        bucket, _, prefix = configured[0].removeprefix("s3://").partition("/")
        return bucket, prefix

    @property
    def output_kms_key_id(self) -> str:
        configured = self.stack.outputs["VoiceIdOutputKmsKeyArns"].split(",")[0]
        return self.stack.kms_keys[configured]

    @property
    def data_access_role_arn(self) -> str:
        return DATA_ACCESS_ROLE_ARN.format(account=self.cloud.account_id)

    def job_progress(self, job_id: str, domain_id: str, describe_method: str) -> tuple[str, int]:
        """(JobStatus, PercentComplete) read from the emulator in-process, so watching costs no Voice ID TPS
        (`domain_id` and `describe_method` serve a cloud in another process, local_cloud/running.py)."""
        state = self.voice_id.state
        with state.lock:
            found = state.find_job(job_id)
            return (found.status, found.percent_complete) if found else ("UNKNOWN", 0)

    def outputs(self) -> dict[str, Any]:
        return {
            "region": self.cloud.region,
            "accountId": self.cloud.account_id,
            "endpoints": {
                "aws": self.cloud.endpoint_url,
                "voiceId": self.voice_id.endpoint_url,
                "bedrock": self.bedrock.endpoint_url,
                "s3control": self.s3batch.endpoint_url,
                "dynamodbLocal": self.cloud.dynamodb.endpoint_url,
                "moto": self.cloud.moto.endpoint_url,
            },
            "stack": self.stack.to_dict(),
            "voiceId": {
                "domainIds": self.domain_ids,
                "inputBucket": self.input_location[0],
                "inputPrefix": self.input_location[1],
                "outputS3Uri": self.output_s3_uri,
                "outputKmsKeyId": self.output_kms_key_id,
                "dataAccessRoleArn": self.data_access_role_arn,
            },
            "bedrock": {
                "inputS3Uri": self.bedrock_input_s3_uri,
                "outputS3Uri": self.bedrock_output_s3_uri,
                "outputKmsKeyId": self.bedrock_output_kms_key_id,
                "roleArn": self.bedrock_role_arn,
                "modelIds": list(DEFAULT_MODEL_IDS),
            },
            "s3batch": self.s3batch.outputs(),
            "iam": {"enforced": self.cloud.iam.enforced, "roles": sorted(self.cloud.iam.roles)},
            "logs": str(self.state_dir / "run" / "logs"),
        }
