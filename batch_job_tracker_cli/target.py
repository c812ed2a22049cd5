"""Where the tracker runs: a deployed stack (CloudFormation outputs) or the local cloud (`outputs.json`).

Both give the same thing, a `Target`: the stack's outputs (FailuresTableName, StateMachineArn,
SweepFunctionName, VoiceIdDomainIds, ...) and boto3 clients for its region and endpoints.

S3 Control, which S3 Batch Operations jobs are created and described through, puts the account id in front
of its endpoint's host; the local cloud's gateway is reached under that name as an HTTP proxy
(outputs.json's `s3batch` section: `endpointUrl`, `proxyUrl`; docs/local-cloud.md).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from batch_job_tracker_cli.errors import CliError
from batch_job_tracker_cli.shared import CLI_NAME

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3control import S3ControlClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_voice_id import VoiceIDClient

DEFAULT_STACK_NAME = "VoiceIdJobTracker"
"""The app's stack name (`infra.config.STACK_NAME`; not imported: infra pulls in the whole CDK)."""
STACK_ENV = "BATCH_JOB_TRACKER_STACK"
LOCAL_OUTPUTS_ENV = "BATCH_JOB_TRACKER_LOCAL_OUTPUTS"
# Their names before Bedrock, still read for scripts that set them; the new name wins when both are set.
OLD_STACK_ENV = "VOICEID_TRACKER_STACK"
OLD_LOCAL_OUTPUTS_ENV = "VOICEID_TRACKER_LOCAL_OUTPUTS"
# Where the stack names the scopes it follows jobs in, by JobService key: Voice ID's domains, and the account
# whose Bedrock or S3 Batch Operations jobs it follows (an output the stack has only when it follows them).
SCOPE_OUTPUTS = {"voiceid": "VoiceIdDomainIds", "bedrock": "BedrockAccountId", "s3": "S3BatchAccountId"}
# The local cloud writes it at the repository's root (`make local`).
LOCAL_OUTPUTS = Path(".local-cloud") / "outputs.json"

_AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
# A stale outputs.json names ports nothing listens on any more: fail in seconds, not after minutes of retries.
_LOCAL_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=30)
# Voice ID allows 2 TPS per account, shared with every tracker: back off and retry throttling patiently.
_VOICE_ID_RETRIES = Config(retries={"mode": "standard", "max_attempts": 8})
# A sweep runs as long as its Lambda's timeout allows; wait for its report.
_LAMBDA_TIMEOUT = Config(read_timeout=900, retries={"mode": "standard", "max_attempts": 1})


class Target:
    """The stack's outputs and clients for it. Clients are created on first use."""

    def __init__(
        self,
        *,
        description: str,
        outputs: Mapping[str, str],
        session: boto3.Session,
        aws_endpoint: str | None = None,
        voice_id_endpoint: str | None = None,
        s3control_endpoint: str | None = None,
        s3control_proxy: str | None = None,
        local: bool = False,
        global_options: tuple[str, ...] = (),
    ) -> None:
        self.description = description
        self.outputs = dict(outputs)
        self.session = session
        self.aws_endpoint = aws_endpoint
        self.voice_id_endpoint = voice_id_endpoint
        self.s3control_endpoint = s3control_endpoint
        self.s3control_proxy = s3control_proxy
        self.local = local
        self.global_options = global_options
        """The options that name this target on the command line (`--local`, `--stack NAME`): the commands the
        CLI tells the operator to run carry them, so that they run as printed."""
        self._clients: dict[str, Any] = {}

    def command(self, *arguments: str) -> str:
        """A command line of this CLI against this target, quoted for a shell: `batch-job-tracker --local show
        JOB`."""
        return shlex.join([CLI_NAME, *self.global_options, *arguments])

    def aws_command(self, *arguments: str) -> str:
        """An AWS CLI command line against this target, quoted for a shell. On the local cloud it carries the
        gateway as its endpoint and the local cloud's credentials (any are accepted), so it runs as printed."""
        if not (self.local and self.aws_endpoint):
            return shlex.join(["aws", *arguments])
        local = [
            "AWS_ACCESS_KEY_ID=local",
            "AWS_SECRET_ACCESS_KEY=local",
            f"AWS_DEFAULT_REGION={self.session.region_name}",
        ]
        return shlex.join(["env", *local, "aws", "--endpoint-url", self.aws_endpoint, *arguments])

    @property
    def unreachable_hint(self) -> str:
        """Added to connection errors: a local cloud's outputs.json outlives the local cloud."""
        if self.local:
            return " (is the local cloud still running? its outputs.json may be from an earlier run)"
        return ""

    # -- outputs -------------------------------------------------------------------------------------------
    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise CliError(f"{self.description} has no {key} output; is it the batch job tracker stack?")
        return value

    @property
    def table_name(self) -> str:
        return self.output("FailuresTableName")

    @property
    def state_machine_arn(self) -> str:
        return self.output("StateMachineArn")

    @property
    def domain_ids(self) -> list[str]:
        """Every scope the stack follows jobs in: its Voice ID domains, and the account of its Bedrock and S3
        Batch Operations jobs (once, when it follows both)."""
        scopes = list(dict.fromkeys(scope for scopes in self.scopes_by_service.values() for scope in scopes))
        if not scopes:
            named = ", ".join(SCOPE_OUTPUTS.values())
            raise CliError(f"{self.description} follows no job: its outputs {named} are all empty or absent")
        return scopes

    @property
    def scopes_by_service(self) -> dict[str, list[str]]:
        """`domain_ids` by JobService key (SCOPE_OUTPUTS)."""
        return {
            service: [scope for scope in self.outputs.get(output, "").split(",") if scope]
            for service, output in SCOPE_OUTPUTS.items()
        }

    def optional_output(self, key: str) -> str | None:
        return self.outputs.get(key) or None

    def listed_output(self, key: str) -> list[str]:
        """A comma-separated output's values (none when the stack lacks it)."""
        return [value for value in self.outputs.get(key, "").split(",") if value]

    @property
    def sweep_function_name(self) -> str | None:
        return self.outputs.get("SweepFunctionName") or None

    # -- clients -------------------------------------------------------------------------------------------
    def _client(self, service: str, extra: Config | None = None) -> Any:
        if service not in self._clients:
            config = _LOCAL_CONFIG if self.local else _AWS_CONFIG
            endpoint = self.voice_id_endpoint if service == "voice-id" else self.aws_endpoint
            self._clients[service] = self.session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=endpoint,
                config=config.merge(extra) if extra else config,
            )
        return self._clients[service]

    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb")
        return client

    def s3(self) -> S3Client:
        client: S3Client = self._client("s3")
        return client

    def stepfunctions(self) -> SFNClient:
        client: SFNClient = self._client("stepfunctions")
        return client

    def voice_id(self) -> VoiceIDClient:
        client: VoiceIDClient = self._client("voice-id", _VOICE_ID_RETRIES)
        return client

    def bedrock(self) -> BedrockClient:
        client: BedrockClient = self._client("bedrock")
        return client

    def s3control(self) -> S3ControlClient:
        """S3 Control (S3 Batch Operations' job API); on the local cloud through its gateway as the proxy of the
        account-prefixed host the SDK builds."""
        if "s3control" not in self._clients:
            config = _LOCAL_CONFIG if self.local else _AWS_CONFIG
            if self.s3control_proxy:
                config = config.merge(Config(proxies={"http": self.s3control_proxy}))
            self._clients["s3control"] = self.session.client(
                "s3control", endpoint_url=self.s3control_endpoint or self.aws_endpoint, config=config
            )
        client: S3ControlClient = self._clients["s3control"]
        return client

    def lambda_(self) -> LambdaClient:
        client: LambdaClient = self._client("lambda", _LAMBDA_TIMEOUT)
        return client


def stack_target(stack_name: str, session: boto3.Session | None = None) -> Target:
    """The deployed stack `stack_name`, in the region and with the credentials of the usual AWS environment
    (AWS_PROFILE, AWS_REGION, ...); its names come from CloudFormation's DescribeStacks."""
    # botocore reads AWS_DEFAULT_REGION and the profile; the other SDKs' AWS_REGION is honoured too, first.
    session = session or boto3.Session(region_name=os.environ.get("AWS_REGION") or None)
    region = session.region_name
    if not region:
        raise CliError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or a profile's region), or use --local")
    cloudformation = session.client("cloudformation", config=_AWS_CONFIG)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if "does not exist" in message:
            raise CliError(
                f"no stack named {stack_name} in {region}: pass --stack NAME (the default is {DEFAULT_STACK_NAME}) "
                "or --local"
            ) from error
        raise
    if not stacks:
        raise CliError(f"no stack named {stack_name} in {region}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", []) if "OutputKey" in o}
    target = Target(
        description=f"stack {stack_name} ({region})",
        outputs=outputs,
        session=session,
        global_options=() if stack_name == DEFAULT_STACK_NAME else ("--stack", stack_name),
    )
    target.output("FailuresTableName")  # a stack that is not the tracker's is refused here
    return target


def local_outputs_path(start: Path | None = None) -> Path:
    """The local cloud's outputs.json: the file BATCH_JOB_TRACKER_LOCAL_OUTPUTS (or its old name,
    VOICEID_TRACKER_LOCAL_OUTPUTS) names, else the nearest `.local-cloud/outputs.json` in the working folder
    or one above it (a checkout where `make local` runs), else the one of the checkout this CLI runs from, if
    it does. The CLI may be installed anywhere."""
    named = os.environ.get(LOCAL_OUTPUTS_ENV) or os.environ.get(OLD_LOCAL_OUTPUTS_ENV)
    if named:
        return Path(named)
    here = (start or Path.cwd()).resolve()
    candidates = [folder / LOCAL_OUTPUTS for folder in (here, *here.parents)]
    candidates.append(Path(__file__).resolve().parent.parent / LOCAL_OUTPUTS)
    return next((path for path in candidates if path.is_file()), here / LOCAL_OUTPUTS)


def local_target(path: Path | None = None) -> Target:
    """The local cloud described by its `outputs.json` (docs/local-cloud.md, "`make local` and `outputs.json`"):
    `endpoints.aws` serves every AWS API, `endpoints.voiceId` Voice ID, and any credentials work."""
    path = path or local_outputs_path()
    if not path.is_file():
        raise CliError(
            f"no local cloud outputs at {path}: start the local cloud with `make local` (and run this from its "
            f"checkout), or set {LOCAL_OUTPUTS_ENV} to its outputs.json"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        region = str(data["region"])
        aws_endpoint = str(data["endpoints"]["aws"])
        voice_id_endpoint = str(data["endpoints"]["voiceId"])
        outputs = {str(key): str(value) for key, value in data["stack"]["outputs"].items()}
        stack_name = str(data["stack"].get("stackName", DEFAULT_STACK_NAME))
        s3batch = data.get("s3batch") or {}
        s3control_endpoint = s3batch.get("endpointUrl") or data["endpoints"].get("s3control")
        s3control_proxy = s3batch.get("proxyUrl")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        problem = f"no {error}" if isinstance(error, KeyError) else str(error)
        raise CliError(f"{path} is not a local cloud's outputs.json ({problem})") from error
    session = boto3.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - the local cloud accepts any credentials
        region_name=region,
    )
    return Target(
        description=f"local stack {stack_name} ({path})",
        outputs=outputs,
        session=session,
        aws_endpoint=aws_endpoint,
        voice_id_endpoint=voice_id_endpoint,
        s3control_endpoint=str(s3control_endpoint) if s3control_endpoint else None,
        s3control_proxy=str(s3control_proxy) if s3control_proxy else None,
        local=True,
        global_options=("--local",),
    )
