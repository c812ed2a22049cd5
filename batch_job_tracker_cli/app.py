"""The `batch-job-tracker` commands (also installed as `voiceid-tracker`, its name before Bedrock): a thin
layer over `target`, `records`, `executions`, `retry`, `bedrock_retry` and
`progress`. Expected errors (`CliError`, and AWS refusing or being out of reach) end in one line on stderr
and exit 1; usage errors exit 2."""

from __future__ import annotations

import inspect
import json
import posixpath
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

from batch_job_tracker_cli import bedrock_retry, render, s3batch_retry
from batch_job_tracker_cli.erasure import erase as erase_subject
from batch_job_tracker_cli.erasure import retry_file_format, subject_attributes
from batch_job_tracker_cli.errors import CliError, explain_aws_error
from batch_job_tracker_cli.executions import (
    EXECUTION_STATUSES,
    execution_input,
    job_executions,
    kind_of_execution,
    recent_executions,
    start_tracker,
    tracker_status,
)
from batch_job_tracker_cli.progress import (
    DEFAULT_TIMEOUT_SECONDS,
    Watcher,
    confirm_job,
)
from batch_job_tracker_cli.records import (
    FailedRequest,
    JobRecord,
    failed_requests,
    failures_by_code,
    find_job,
    list_jobs,
    lookup_job,
    parse_since,
    parse_timestamp,
    require_resource_id,
    retried_records,
    tracker_status_of,
)
from batch_job_tracker_cli.retry import (
    S3Uri,
    choose,
    input_manifest_uri,
    left_out,
    parse_code,
    parse_codes,
    plan_retry,
    read_manifest,
    start_retry_job,
    write_manifest,
)
from batch_job_tracker_cli.shared import CLI_NAME, DEFAULT_JOB_KIND, JOB_KINDS, SERVICES, JobKind, kind_named, schema
from batch_job_tracker_cli.target import (
    DEFAULT_STACK_NAME,
    LOCAL_OUTPUTS_ENV,
    OLD_STACK_ENV,
    STACK_ENV,
    Target,
    local_target,
    stack_target,
)
from job_tracker.kinds.base import TRACKER_STATUSES

# The summary's JobStatus: each service's own words (the tracker's for Voice ID, Bedrock's for Bedrock jobs);
# its TrackerJobStatus holds the tracker's (TRACKER_STATUSES).
JOB_STATUSES = tuple(dict.fromkeys(status for kind in JOB_KINDS.values() for status in kind.service_statuses))
# Bedrock's minimum records per job when the stack does not say (infra/config.py, DEFAULT_BEDROCK_MIN_RECORDS).
DEFAULT_BEDROCK_MIN_RECORDS = 100
EXAMPLE_JOB = "TEDksALNsaMmuOzH6eGyRm"
EXAMPLE_DOMAIN = "ExampleDomainId0000001"
EXAMPLE_BEDROCK_JOB = "e5yascjteetn"


class TableOrJson(StrEnum):
    table = "table"
    json = "json"


class FailuresFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@dataclass
class Options:
    """The global options; the target is resolved when a command first needs it (or given, by tests)."""

    stack: str = DEFAULT_STACK_NAME
    local: bool = False
    target: Target | None = None

    def resolve(self) -> Target:
        if self.target is None:
            self.target = local_target() if self.local else stack_target(self.stack)
        return self.target


def fail(message: str) -> NoReturn:
    """Print `message` as one line on stderr and exit 1."""
    one_line = " ".join(message.split())
    render.stderr_console().print(f"error: {one_line}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _example(*lines: str) -> str:
    """The epilog of a command's --help: its examples, one a line."""
    return "\n\n".join(["Examples:", *(f"  {CLI_NAME} {line}" for line in lines)])


def _flags_without_type(params: list[Any]) -> list[Any]:
    """`params`, their flags (which take no value) shown in help without typer's `<bool>` label."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""  # typer's help shows an option's metavar in place of its type
    return params


class _Commands(TyperGroup):
    """Turns expected errors into one line on stderr and exit status 1, whatever the command."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_type(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            fail(str(error))
        except ParamValidationError as error:
            # The request the CLI built from what it was given, refused before it left: not the target's fault.
            fail(f"{error} (a value given on the command line does not fit this call; see --help)")
        except (ClientError, BotoCoreError) as error:
            options = ctx.obj if isinstance(ctx.obj, Options) else None
            hint = options.target.unreachable_hint if options and options.target else ""
            fail(explain_aws_error(error, hint))


# The options of the CLI itself, which go before the command: `batch-job-tracker --local jobs`.
GLOBAL_OPTIONS = ("--local", "--stack")


def _global_options_first(command: str, arguments: list[str]) -> list[str]:
    """`arguments` of `command` with the CLI's own options (and --stack's value) moved before the command."""
    moved: list[str] = []
    kept: list[str] = []
    rest = iter(arguments)
    for argument in rest:
        name = argument.split("=", 1)[0]
        if name not in GLOBAL_OPTIONS:
            kept.append(argument)
            continue
        moved.append(argument)
        if name == "--stack" and "=" not in argument:
            moved.append(next(rest, "NAME"))
    return [*moved, command, *kept]


class _Command(TyperCommand):
    """A command whose usage line names its arguments as they are typed (`JOB`, `[RECORD]`: typer writes a
    required one `{JOB}`), whose flags carry no `<bool>` label (they take no value), and which tells an operator
    who put `--local` or `--stack` after it that they go before it, with the command line that runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:
            # typer's rich help keeps a docstring's line breaks after its first paragraph, which then break
            # sentences mid-line at any width: each paragraph becomes one line, wrapped at the terminal's width.
            paragraphs = inspect.cleandoc(self.help).split("\n\n")
            self.help = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.display_name_raw
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_type(super().get_params(ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        misplaced = [argument for argument in args if argument.split("=", 1)[0] in GLOBAL_OPTIONS]
        if misplaced and "--" not in args[: args.index(misplaced[0])]:
            fixed = shlex.join([CLI_NAME, *_global_options_first(str(self.name), args)])
            # One plain line, not typer's boxed usage error: the command in it is pasted as it stands.
            render.stderr_console().print(
                f"error: {misplaced[0].split('=', 1)[0]} is an option of {CLI_NAME} itself, not of {self.name}: "
                f"put it before the command, as in `{fixed}`",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2)
        result: list[str] = super().parse_args(ctx, args)
        return result


class _App(typer.Typer):
    """Every command is a `_Command`."""

    def command(self, name: str | None = None, **kwargs: Any) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", _Command)
        return super().command(name, **kwargs)


app = _App(
    cls=_Commands,
    name=CLI_NAME,
    help="Operate the batch job tracker (Amazon Bedrock batch inference, Amazon Connect Voice ID, Amazon S3 Batch "
    "Operations): list recorded "
    "jobs, read and retry their failed and unprocessed records, start and "
    "watch trackers, and sweep.",
    epilog=_example("--local jobs", f"--stack {DEFAULT_STACK_NAME} show {EXAMPLE_JOB}"),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack",
            metavar="NAME",
            envvar=[STACK_ENV, OLD_STACK_ENV],
            help=f"The deployed stack (default {DEFAULT_STACK_NAME}); region and credentials from the usual AWS "
            "environment (AWS_PROFILE, AWS_REGION).",
            show_default=False,
        ),
    ] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help=f"The local cloud, from .local-cloud/outputs.json (or the file {LOCAL_OUTPUTS_ENV} names).",
        ),
    ] = False,
) -> None:
    options = ctx.obj if isinstance(ctx.obj, Options) else Options()
    source = ctx.get_parameter_source("stack")
    if local and stack and source is not None and source.name == "COMMANDLINE":
        # (a stack named by BATCH_JOB_TRACKER_STACK or VOICEID_TRACKER_STACK gives way to --local)
        raise typer.BadParameter("choose --stack NAME or --local, not both", param_hint="--stack / --local")
    options.stack = stack or DEFAULT_STACK_NAME
    options.local = options.local or local
    ctx.obj = options


def _target(ctx: typer.Context) -> Target:
    options: Options = ctx.obj
    return options.resolve()


def _domains(target: Target, domain: str | None, job: str | None = None) -> list[str]:
    """The scopes to look a job up in: `domain`, else every one the stack follows (only those of the services
    whose job ids look like `job`, when given: a 22-character id is Voice ID's, a 12-character one Bedrock's)."""
    if domain is None:
        if job is None:
            return target.domain_ids
        return [
            scope
            for service, scopes in target.scopes_by_service.items()
            if SERVICES[service].job_id.fullmatch(job)
            for scope in scopes
        ] or target.domain_ids
    require_resource_id("--domain", domain)
    if domain not in target.domain_ids:
        raise CliError(
            f"domain {domain} is not one {target.description} follows (VoiceIdDomainIds: "
            f"{', '.join(target.domain_ids)})"
        )
    return [domain]


def _find_job(target: Target, job: str, domains: list[str] | None = None) -> JobRecord:
    """The job's items (in `domains`, else every scope the stack follows); a job nothing tracks yet is an error
    that gives the command that starts its tracker (which finds the job's kind and scope itself)."""
    scopes = domains if domains is not None else target.domain_ids
    return find_job(target.dynamodb(), target.table_name, job, scopes, track_command=target.command("track", job))


def kind_of_job_id(job: str) -> JobKind:
    """The kind a job id alone says: the one kind of the service whose ids look like it (a 12-character id is
    a Bedrock batch inference job), else the default kind of that service's (Voice ID's jobs: fraudster
    registration, as a tracker's input without JobKind)."""
    kinds = [kind for kind in JOB_KINDS.values() if kind.service.job_id.fullmatch(job)]
    if len(kinds) == 1:
        return kinds[0]
    if DEFAULT_JOB_KIND in kinds:
        return DEFAULT_JOB_KIND
    raise CliError(f"which kind of job {job} is cannot be told from its id: say --kind ({', '.join(JOB_KINDS)})")


def _record_kind(target: Target, record: JobRecord) -> JobKind:
    """The job's kind as its items name it; failing that, as its lock holder's input names it; failing that,
    as its id says (`kind_of_job_id`)."""
    name = record.kind_name
    holder = (record.lock or {}).get("ExecutionArn")
    if name is None and isinstance(holder, str):
        try:
            name = kind_of_execution(target.stepfunctions(), holder)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("ExecutionDoesNotExist", "InvalidArn"):
                raise
            name = None  # the holder is gone (executions expire): the kind its id says
    return kind_named(name) if name is not None else kind_of_job_id(record.job_id)


def _job_kind(target: Target, job: str, kind: str | None, record: JobRecord | None) -> JobKind:
    """--kind when given; else the kind of the job's items (`_record_kind`); else the kind its id says."""
    if kind is not None:
        return kind_named(kind)
    return _record_kind(target, record) if record is not None else kind_of_job_id(job)


@app.command(
    epilog=_example(
        "--local jobs",
        f"--stack {DEFAULT_STACK_NAME} jobs --status COMPLETED_WITH_ERRORS --since 7d --kind SPEAKER_ENROLLMENT",
    )
)
def jobs(
    ctx: typer.Context,
    *,
    domain: Annotated[
        str | None, typer.Option(help="Only this domain (default: every domain the stack follows).")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind (FRAUDSTER_REGISTRATION, ...).")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only jobs with this status, in the service's words (Stopped, ...) or the tracker's "
            "(COMPLETED_WITH_ERRORS: Voice ID's, and Bedrock's Stopped, Expired, PartiallyCompleted, or Completed "
            "with failed records); whatever its case, every word spelled so."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only jobs created since: a date or time (UTC), or 7d, 12h, 30m back.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many jobs.")] = 100,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also jobs a tracker took and has not recorded (tracking, failed, released), with the tracker's "
            "last status.",
        ),
    ] = False,
    output_format: Annotated[TableOrJson, typer.Option("--format", help="How to print them.")] = TableOrJson.table,
) -> None:
    """Recorded jobs, newest first, with their status, counts and record state."""
    target = _target(ctx)
    kind_name = kind_named(kind).name if kind else None
    statuses, tracker_statuses = _status_words(status)
    summaries = list_jobs(
        target.dynamodb(),
        target.table_name,
        _domains(target, domain),
        kind=kind_name,
        status=statuses or None,
        tracker_status=tracker_statuses,
        since=parse_since(since) if since else None,
        limit=limit,
        with_locks=show_all,
    )
    for item in summaries:
        if item.get("RecordType") != schema.RECORD_TYPE_SUMMARY:
            # A lock alone: what its tracker did last (one DescribeExecution per such job).
            item["TrackerStatus"] = tracker_status(target.stepfunctions(), item.get("ExecutionArn"))
        elif not item.get("TrackerJobStatus"):
            # The index does not copy it (nor did summaries written before it existed): from JobStatus.
            item["TrackerJobStatus"] = tracker_status_of(item)
    if output_format is TableOrJson.json:
        fields = ("pk", "sk", "gsi2pk", "gsi2sk")
        typer.echo(render.to_json([{k: v for k, v in s.items() if k not in fields} for s in summaries]), nl=False)
        return
    console = render.stdout_console()
    console.print(render.jobs_table(summaries, console.width))


def _status_words(status: str | None) -> tuple[list[str], list[str]]:
    """`jobs --status`: (the services' words, the tracker's words) it names. The exact word, as either (Voice
    ID's COMPLETED is both); else, whatever its case, every word spelled so (`completed`: COMPLETED, Completed)."""
    if status is None:
        return [], []
    exact = status in JOB_STATUSES or status in TRACKER_STATUSES

    def names(word: str) -> bool:
        return word == status if exact else word.upper() == status.upper()

    words = [word for word in JOB_STATUSES if names(word)], [word for word in TRACKER_STATUSES if names(word)]
    if not any(words):
        raise CliError(f"--status must be one of {', '.join(JOB_STATUSES)}, got {status!r}")
    return words


@app.command(epilog=_example(f"--local show {EXAMPLE_JOB}", f"show {EXAMPLE_JOB} --format json"))
def show(
    ctx: typer.Context,
    *,
    job: Annotated[str, typer.Argument(metavar="JOB", help="The job's JobId.")],
    output_format: Annotated[TableOrJson, typer.Option("--format", help="How to print it.")] = TableOrJson.table,
) -> None:
    """A job's summary, its lock, and the tracker executions that held its lock (one call each, whatever the
    length of the state machine's history)."""
    target = _target(ctx)
    record = _find_job(target, job)
    kind = _record_kind(target, record)
    executions = job_executions(target.stepfunctions(), record.lock)
    if output_format is TableOrJson.json:
        hidden = ("pk", "sk", "gsi2pk", "gsi2sk", "WakeToken")
        typer.echo(
            render.to_json(
                {
                    "DomainId": record.domain_id,
                    "JobId": record.job_id,
                    "JobKind": kind.name,
                    "Summary": {k: v for k, v in (record.summary or {}).items() if k not in hidden} or None,
                    "Lock": {k: v for k, v in (record.lock or {}).items() if k not in hidden} or None,
                    "Executions": [execution.to_dict() for execution in executions],
                }
            ),
            nl=False,
        )
        return
    render.stdout_console().print(render.job_view(record, kind, executions))


@app.command(
    epilog=_example(
        f"--local failures {EXAMPLE_JOB}",
        f"failures {EXAMPLE_JOB} --code 400 --format csv > failed.csv",
        f"failures {EXAMPLE_BEDROCK_JOB} --code UNPROCESSED",
    )
)
def failures(
    ctx: typer.Context,
    *,
    job: Annotated[str, typer.Argument(metavar="JOB", help="The job's JobId.")],
    code: Annotated[
        list[str] | None,
        typer.Option(
            metavar="CODE",
            help="Only failures with this ErrorCode (400, NoSuchKey, ...), or UNPROCESSED (repeat for several).",
        ),
    ] = None,
    output_format: Annotated[
        FailuresFormat, typer.Option("--format", help="table, csv (with a header row) or json (a list).")
    ] = FailuresFormat.table,
) -> None:
    """Every failed request recorded for a job.

    Each has RequestId, ErrorCode, ErrorMessage and the kind's own fields (CustomerSpeakerId for enrollments)."""
    target = _target(ctx)
    record = _find_job(target, job)
    kind = _record_kind(target, record)
    codes = [parse_code(one, "--code") for one in code or ()]
    found = failed_requests(target.dynamodb(), target.table_name, record, kind, codes or None)
    if not record.is_recorded:
        render.stderr_console().print(
            f"note: job {job} is not recorded (RecordState {record.record_state or 'none'}); the list may be partial",
            markup=False,
        )
    if output_format is FailuresFormat.json:
        typer.echo(render.to_json([failure.to_dict() for failure in found]), nl=False)
    elif output_format is FailuresFormat.csv:
        typer.echo(render.failures_csv(kind, found), nl=False)
    else:
        render.stdout_console().print(render.failures_table(record, kind, found))


@app.command(
    epilog=_example(
        f"--local retry {EXAMPLE_JOB} --code 400 --code 500",
        f"retry {EXAMPLE_JOB} --code 500 --output s3://my-bucket/retries/ --start",
    )
)
def retry(
    ctx: typer.Context,
    *,
    job: Annotated[str, typer.Argument(metavar="JOB", help="The recorded job whose failures to retry.")],
    code: Annotated[
        list[str] | None,
        typer.Option(
            metavar="CODE",
            help="Only failures with this ErrorCode: an HTTP status code (400), UNPROCESSED, or a service's own "
            "code (NoSuchKey); repeat for several (default: every code).",
        ),
    ] = None,
    codes: Annotated[
        str | None,
        typer.Option(hidden=True, help="Deprecated: comma-separated codes; repeat --code instead."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            metavar="S3URI",
            help="Folder for the new manifest or JSONL (default: Voice ID and S3 Batch Operations, the input "
            "manifest's folder; Bedrock, the stack's BedrockRetryInputLocation, tracker:bedrockRetryInputLocation).",
        ),
    ] = None,
    start: Annotated[bool, typer.Option("--start", help="Also start the new job (same kind and config).")] = False,
) -> None:
    """Write a retry manifest of a recorded job's failed requests; --start also starts the job.

    The manifest holds the chosen failed requests' entries copied from the job's input manifest (Bedrock: their
    JSONL lines; S3 Batch Operations: a CSV of the failed tasks' Bucket,Key[,VersionId], keys URL-encoded); its
    S3 URI is printed. With --start, a job of the same kind and config (Describe<Kind>Job) is started on it and
    its JobId printed. Running it again with the same selection writes the same manifest and, with --start, gets
    the same job: its ClientToken is a hash of the job and the chosen RequestIds."""
    target = _target(ctx)
    if codes is not None:
        render.stderr_console().print(
            "note: --codes is deprecated and will go: repeat --code instead (--code 400 --code 500)", markup=False
        )
    chosen_codes = parse_codes([*(code or []), *(codes.split(",") if codes else [])])
    output_uri = S3Uri.parse(output, "--output") if output else None
    record = _find_job(target, job)
    kind = _record_kind(target, record)
    recorded_failures = failed_requests(target.dynamodb(), target.table_name, record, kind)
    unnamed = LEFT_OUT.get(kind.service.key, _nothing_left_out)(record, chosen_codes)
    request_ids = set(choose(record, kind, recorded_failures, chosen_codes, unnamed=unnamed))
    if unnamed:
        render.stderr_console().print(f"note: {unnamed}", markup=False)
    chosen = [failure for failure in recorded_failures if failure.request_id in request_ids]
    request = RetryRequest(target, record, kind, recorded_failures, chosen, chosen_codes, output_uri, start)
    RETRIES[kind.service.key](request)


@dataclass(frozen=True)
class RetryRequest:
    """What `retry` was asked for and what the job recorded: each service's retry reads it."""

    target: Target
    record: JobRecord
    kind: JobKind
    recorded: list[FailedRequest]
    """Every failed request recorded for the job."""
    chosen: list[FailedRequest]
    codes: frozenset[int | str] | None
    output_uri: S3Uri | None
    start: bool

    def command(self, codes: frozenset[int | str] | None = None, *, start: bool) -> str:
        """This retry (or with `codes`) as the command line that runs it."""
        chosen = sorted(map(str, codes if codes is not None else self.codes or ()))
        return self.target.command(
            "retry",
            self.record.job_id,
            *(argument for code in chosen for argument in ("--code", code)),
            *(("--output", str(self.output_uri)) if self.output_uri else ()),
            *(("--start",) if start else ()),
        )

    def started_before(self, created: object, began: datetime) -> bool:
        """Whether the job the service gave back was created before this command asked for it: an earlier
        `retry --start` of the same selection started it, and the same token returned it."""
        when = created if isinstance(created, datetime) else parse_timestamp(created)
        return when is not None and when.astimezone(UTC) < began - CLOCK_LEEWAY


# Between this machine's clock and the service's (a job created this long before the call was not created by it).
CLOCK_LEEWAY = timedelta(seconds=1)


def _start_line(request: RetryRequest, job_id: str, created: object, began: datetime, names: str) -> str:
    """`Started <kind> job <id> (<names>)`, or that the service returned the job an earlier run started."""
    kind = request.kind
    if request.started_before(created, began):
        return (
            f"{kind.service.name} returned {kind.noun} job {job_id} ({names}), which an earlier `retry --start` of "
            f"this selection started at {created}: the same token gives the same job, and nothing new was started"
        )
    return f"Started {kind.noun} job {job_id} ({names})"


def _retry_voice_id(request: RetryRequest) -> None:
    target, record, kind, output_uri = request.target, request.record, request.kind, request.output_uri
    request_ids = [failure.request_id for failure in request.chosen]
    input_uri = input_manifest_uri(record)
    plan = plan_retry(
        record,
        kind,
        request_ids,
        input_manifest=read_manifest(target.s3(), input_uri),
        input_uri=input_uri,
        output=output_uri,
    )
    write_manifest(target.s3(), plan)
    info = render.stderr_console()
    info.print(
        f"Wrote a {kind.noun} manifest of {len(request_ids)} request(s) from job {record.job_id} to:", markup=False
    )
    typer.echo(str(plan.manifest_uri))
    if not request.start:
        info.print(f"Start it with `{request.command(start=True)}`, or with your own Start call.", markup=False)
        return
    began = datetime.now(UTC)
    started = start_retry_job(target.voice_id(), plan)
    new_job = str(started["JobId"])
    follow = target.command("watch", new_job, "--domain", record.domain_id, "--kind", kind.name)
    names = f"{plan.job_name}, ClientToken {plan.client_token}"
    info.print(
        f"{_start_line(request, new_job, started.get('CreatedAt'), began, names)}; follow it with `{follow}`:",
        markup=False,
    )
    typer.echo(new_job)


def _retry_bedrock(request: RetryRequest) -> None:
    """A JSONL of the chosen records' lines, to --output or the stack's BedrockRetryInputLocation; --start
    creates the job (named with the tracked prefix, BedrockJobNamePrefixes), unless it holds fewer records than
    the models' minimum."""
    target, record, kind, output_uri, chosen = (
        request.target,
        request.record,
        request.kind,
        request.output_uri,
        request.chosen,
    )
    record_ids = [failure.request_id for failure in chosen]
    folder = output_uri or _retry_location(target)
    input_uri = input_manifest_uri(record)
    prefixes = [prefix for prefix in (target.optional_output("BedrockJobNamePrefixes") or "").split(",") if prefix]
    plan = bedrock_retry.plan(record, record_ids, folder, prefixes)
    picked = bedrock_retry.original_lines(target.s3(), input_uri, chosen)
    bedrock_retry.write_jsonl(target.s3(), plan, picked)
    info = render.stderr_console()
    info.print(f"Wrote a JSONL of {len(record_ids)} record(s) from {kind.noun} job {record.job_id} to:", markup=False)
    typer.echo(str(plan.input_uri))
    minimum = int(target.optional_output("BedrockMinRecordsPerJob") or DEFAULT_BEDROCK_MIN_RECORDS)
    too_few = (
        f"{len(record_ids)} record(s) are fewer than Bedrock's minimum for the model, {minimum} records per job "
        "(BedrockMinRecordsPerJob), and a smaller job would fail. Add these records to your next job's input "
        f"instead{_wider_retry(request, minimum)}"
    )
    if not request.start:
        hint = f"Not enough for a job of their own: {too_few}." if len(record_ids) < minimum else None
        info.print(hint or f"Start it with `{request.command(start=True)}`.", markup=False)
        return
    if len(record_ids) < minimum:
        raise CliError(f"not starting a job: {too_few}")
    began = datetime.now(UTC)
    job_arn = bedrock_retry.create_retry_job(target.bedrock(), plan)
    new_job = bedrock_retry.job_id_of(job_arn)
    created = target.bedrock().get_model_invocation_job(jobIdentifier=job_arn).get("submitTime")
    follow = target.command("watch", new_job)
    names = f"{plan.job_name}, clientRequestToken {plan.client_request_token}"
    info.print(f"{_start_line(request, new_job, created, began, names)}; follow it with `{follow}`:", markup=False)
    typer.echo(job_arn)


def _wider_retry(request: RetryRequest, minimum: int) -> str:
    """`, or ...` a retry of every recorded code at once, when the chosen codes leave some out and all of them
    make a job of Bedrock's minimum; else nothing (more codes would not help)."""
    every = frozenset(failure.error_code for failure in request.recorded)
    if request.codes is None or every <= request.codes or len(request.recorded) < minimum:
        return ""
    return f", or retry every code at once: `{request.command(every, start=True)}`"


def _retry_location(target: Target) -> S3Uri:
    location = target.optional_output("BedrockRetryInputLocation")
    if location is None:
        raise CliError(
            f"{target.description} has no BedrockRetryInputLocation (tracker:bedrockRetryInputLocation): "
            "say where to write the retry JSONL with --output s3://bucket/prefix/"
        )
    return S3Uri.parse(location, "BedrockRetryInputLocation")


def _retry_s3_batch(request: RetryRequest) -> None:
    """A CSV manifest of the chosen tasks' objects, to --output or the original manifest's folder; --start
    creates the job (the original's operation, role, report and priority; the stack's tracked description
    prefix)."""
    target, record, kind, output_uri = request.target, request.record, request.kind, request.output_uri
    original_manifest = input_manifest_uri(record) if record.summary and record.summary.get("InputUri") else None
    folder = output_uri or (
        S3Uri(original_manifest.bucket, posixpath.dirname(original_manifest.key)) if original_manifest else None
    )
    if folder is None:
        raise CliError(f"job {record.job_id}'s manifest is unknown (no InputUri): say where to write with --output")
    prefixes = target.listed_output(S3BATCH_PREFIXES_OUTPUT)
    plan = s3batch_retry.plan(record, request.chosen, folder, original_manifest, prefixes)
    etag = s3batch_retry.write_manifest(target.s3(), plan)
    info = render.stderr_console()
    info.print(
        f"Wrote a manifest of {len(plan.objects)} object(s) from the failed tasks of {kind.noun} job "
        f"{record.job_id} to:",
        markup=False,
    )
    typer.echo(str(plan.manifest_uri))
    if not request.start:
        info.print(f"Start it with `{request.command(start=True)}`.", markup=False)
        return
    began = datetime.now(UTC)
    new_job = s3batch_retry.create_retry_job(target.s3control(), plan, etag)
    created = target.s3control().describe_job(AccountId=record.domain_id, JobId=new_job)["Job"].get("CreationTime")
    follow = target.command("watch", new_job)
    names = f"{plan.description!r}, ClientRequestToken {plan.client_request_token}"
    info.print(f"{_start_line(request, new_job, created, began, names)}; follow it with `{follow}`:", markup=False)
    typer.echo(new_job)


def _nothing_left_out(record: JobRecord, codes: frozenset[int | str] | None) -> str | None:
    return None


# How each service's jobs are retried, by JobService.key.
RETRIES = {"voiceid": _retry_voice_id, "bedrock": _retry_bedrock, "s3": _retry_s3_batch}
# What a retry of each service's jobs cannot hold, said beside it (failures the record counts and no item names).
LEFT_OUT = {"bedrock": left_out, "s3": s3batch_retry.left_out}
# The stack's output naming which S3 Batch Operations jobs it follows (tracker:s3BatchJobDescriptionPrefixes).
S3BATCH_PREFIXES_OUTPUT = "S3BatchJobDescriptionPrefixes"


@app.command(
    epilog=_example(
        f"--local track {EXAMPLE_JOB} --domain {EXAMPLE_DOMAIN}",
        f"track {EXAMPLE_JOB} --domain {EXAMPLE_DOMAIN} --kind SPEAKER_ENROLLMENT --rerecord",
        f"track {EXAMPLE_BEDROCK_JOB}",
    )
)
def track(
    ctx: typer.Context,
    *,
    job: Annotated[str, typer.Argument(metavar="JOB", help="The job's JobId.")],
    domain: Annotated[
        str | None,
        typer.Option(
            metavar="DOMAIN",
            help="The job's scope in its service, one the stack follows. Voice ID: the job's domain id (22 letters "
            "or digits, VoiceIdDomainIds); needed only when the job is in several of them (each is asked). Amazon "
            "Bedrock and S3 Batch Operations: the AWS account id (12 digits) the stack follows their jobs in "
            "(BedrockAccountId, S3BatchAccountId); not needed, the stack's own is used.",
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            metavar="KIND",
            help="The job's kind, checked against what its service says (default: the kind its items name, else "
            "the one its service describes: a 12-character id is BEDROCK_BATCH_INFERENCE, a UUID "
            "S3_BATCH_OPERATIONS, a 22-character one FRAUDSTER_REGISTRATION or SPEAKER_ENROLLMENT).",
            show_default=False,
        ),
    ] = None,
    rerecord: Annotated[
        bool, typer.Option("--rerecord", help="Record a recorded job again (never while a tracker runs).")
    ] = False,
) -> None:
    """Start a tracker for a job, as the console does; prints the execution's ARN.

    The job is described first through its own service (as watch does): a job the service does not have, or
    not of the given --kind, is refused and nothing is started. The execution's input is {"DomainId",
    "JobId"}, plus "JobKind" for any kind but the default."""
    target = _target(ctx)
    require_resource_id("JOB", job)
    domains = _domains(target, domain, job)
    record = lookup_job(target.dynamodb(), target.table_name, job, domains)
    named = kind_named(kind) if kind is not None else None
    scopes = [record.domain_id] if record is not None else domains
    known = named or (_record_kind(target, record) if record is not None else None)
    job_kind, domain_id = confirm_job(target, job, scopes, known, tracked=record is not None)
    payload = execution_input(domain_id, job, job_kind, rerecord=rerecord)
    arn = start_tracker(target.stepfunctions(), target.state_machine_arn, payload)
    typer.echo(arn)


@app.command(
    epilog=_example(f"--local watch {EXAMPLE_JOB}", f"watch {EXAMPLE_JOB} --domain {EXAMPLE_DOMAIN} --timeout 3600")
)
def watch(
    ctx: typer.Context,
    *,
    job: Annotated[str, typer.Argument(metavar="JOB", help="The job's JobId.")],
    domain: Annotated[
        str | None,
        typer.Option(metavar="DOMAIN", help="The job's domain (as for track): needed only when the job is in several."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(metavar="KIND", help="The job's kind, checked against what its service says.")
    ] = None,
    interval: Annotated[
        float, typer.Option(min=1.0, help="Seconds between rounds (each describes the job once: 2 TPS shared).")
    ] = 5.0,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Give up after this many seconds (default: 4 hours).", show_default=False)
    ] = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Live progress of a job until the tracker has recorded it.

    A job nothing tracks yet is described first (its kind and domain as its service has them; an unknown job is
    refused), then followed while its tracker takes it. Exits 1 if
    recording failed, if no tracker follows the job any more (its lock released, or its holder stopped without
    releasing it), or at --timeout."""
    target = _target(ctx)
    domains = _domains(target, domain, job)
    record = lookup_job(target.dynamodb(), target.table_name, job, domains)
    if record is None:
        # Nothing tracks the job yet: its service says whether it exists, of which kind and in which domain (an
        # unknown job is the CLI's own error at once, not a describe that fails inside the live view).
        job_kind, domain_id = confirm_job(target, job, domains, kind_named(kind) if kind is not None else None)
    else:
        job_kind, domain_id = _job_kind(target, job, kind, record), record.domain_id
    watcher = Watcher(target, job, domain_id, job_kind, interval=interval, timeout=timeout)
    # The live view goes to stderr, so that stdout holds only the outcome.
    snapshot = watcher.run(render.stderr_console())
    typer.echo(snapshot.final_line())


@app.command(
    "failures-by-code",
    epilog=_example(
        "--local failures-by-code 409 --since 1d", "failures-by-code 500 --since 2026-11-01 --until 2026-11-08"
    ),
)
def failures_by_code_command(
    ctx: typer.Context,
    *,
    code: Annotated[
        str,
        typer.Argument(
            metavar="CODE", help="The ErrorCode (400, 402, 409, 500, ..., a service's own: NoSuchKey, or UNPROCESSED)."
        ),
    ],
    since: Annotated[str, typer.Option(help="Jobs created since: a date or time (UTC), or 7d, 12h, 30m back.")] = "7d",
    until: Annotated[str | None, typer.Option(help="Jobs created before this date or time (UTC).")] = None,
    domain: Annotated[
        str | None, typer.Option(help="Only this domain (default: every domain the stack follows).")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many failures.")] = 1000,
    output_format: Annotated[TableOrJson, typer.Option("--format", help="How to print them.")] = TableOrJson.table,
) -> None:
    """Failed requests with one ErrorCode across jobs created in a time window, oldest job first.

    Reads the FailuresByErrorCode index (one Query per domain and shard), never a Scan."""
    target = _target(ctx)
    error_code = parse_code(code)
    found = failures_by_code(
        target.dynamodb(),
        target.table_name,
        _domains(target, domain),
        error_code,
        since=parse_since(since),
        until=parse_since(until, option="--until") if until else None,
        kind=kind_named(kind).name if kind else None,
        limit=limit,
    )
    if output_format is TableOrJson.json:
        hidden = (schema.ERROR_CODE_INDEX_PARTITION_KEY, schema.ERROR_CODE_INDEX_SORT_KEY, "pk", "sk")
        typer.echo(render.to_json([{k: v for k, v in f.items() if k not in hidden} for f in found]), nl=False)
        return
    render.stdout_console().print(render.code_failures_table(error_code, found))


@app.command(
    epilog=_example("--local executions --status FAILED --since 1d", "executions --since 2h --format json"),
)
def executions(
    ctx: typer.Context,
    *,
    status: Annotated[
        str | None, typer.Option(help=f"Only executions in this status ({', '.join(EXECUTION_STATUSES)}).")
    ] = None,
    since: Annotated[str, typer.Option(help="Started since: a date or time (UTC), or 7d, 12h, 30m back.")] = "1d",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many executions.")] = 100,
    output_format: Annotated[TableOrJson, typer.Option("--format", help="How to print them.")] = TableOrJson.table,
) -> None:
    """The tracker's executions, newest first, with the job each follows and what it did (a failure's error
    and cause)."""
    target = _target(ctx)
    if status is not None and status.upper() not in EXECUTION_STATUSES:
        raise CliError(f"--status must be one of {', '.join(EXECUTION_STATUSES)}, got {status!r}")
    found = recent_executions(
        target.stepfunctions(),
        target.state_machine_arn,
        status=status.upper() if status else None,
        since=datetime.fromisoformat(parse_since(since)).replace(tzinfo=UTC),
        limit=limit,
    )
    if output_format is TableOrJson.json:
        typer.echo(render.to_json([execution.to_dict() for execution in found]), nl=False)
        return
    render.stdout_console().print(render.listed_executions_table(found))


@app.command(
    epilog=_example(
        "--local erase --customer-speaker-id cust-0042",
        "erase --record-id CALL0000001 --job TEDksALNsaMmuOzH6eGyRm --format json",
        "erase --object-key 'scans/customer-7731/passport.jpg'",
    )
)
def erase(
    ctx: typer.Context,
    *,
    customer_speaker_id: Annotated[
        str | None, typer.Option(metavar="ID", help="Delete every item naming this CustomerSpeakerId.")
    ] = None,
    record_id: Annotated[
        str | None, typer.Option(metavar="ID", help="Delete every item naming this RecordId (record kinds).")
    ] = None,
    object_key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="Delete every item naming this object Key (S3 Batch Operations tasks), in any bucket, and the "
            "retry manifests listing it.",
        ),
    ] = None,
    job: Annotated[
        str | None, typer.Option(metavar="JOB", help="Only items of this job (a RecordId is unique per job only).")
    ] = None,
    retry_location: Annotated[
        list[str] | None,
        typer.Option(
            metavar="S3URI",
            help="Also search this folder for retry files (repeatable; BedrockRetryInputLocation always).",
        ),
    ] = None,
    output_format: Annotated[
        TableOrJson, typer.Option("--format", help="How to print what was deleted.")
    ] = TableOrJson.table,
) -> None:
    """Delete every item that names one customer, for a data-protection request, and the retry files holding
    their records; prints what it deleted.

    Finds the items through the FailuresBySubject index (never a Scan) and deletes them by key, with the items
    whose subject could not be read that name the customer elsewhere (an ErrorMessage). Deletes the retry JSONL
    files with a line naming them under the stack's BedrockRetryInputLocation and each --retry-location; for an
    --object-key, the CSV retry manifests `retry` wrote listing it, beside the jobs' manifests and under each
    --retry-location.
    The value's hash goes into the erasure register first, which the record step and the automatic retries
    apply: re-recording the job writes none of these items again (the summary counts them, ErasedRecordCount).
    Running it again deletes nothing more and says so. Logs and Step Functions histories are not items: see
    docs/data-governance.md for what else to erase."""
    options = (("CustomerSpeakerId", customer_speaker_id), ("RecordId", record_id), ("Key", object_key))
    chosen = [(name, value) for name, value in options if value]
    if len(chosen) != 1:
        raise typer.BadParameter(
            "give exactly one of --customer-speaker-id, --record-id or --object-key",
            param_hint="--customer-speaker-id / --record-id / --object-key",
        )
    ((attribute, value),) = chosen
    if job is not None:
        require_resource_id("--job", job)
    target = _target(ctx)
    declared = subject_attributes()
    if attribute not in declared:
        named = "; ".join(f"{name} ({', '.join(kinds)})" for name, kinds in declared.items()) or "nothing"
        render.stderr_console().print(
            f"note: no job kind this CLI knows records {attribute} (they name: {named}); looking anyway",
            markup=False,
        )
    stack_retries = target.optional_output("BedrockRetryInputLocation")
    folders = [
        S3Uri.parse(uri, what)
        for uri, what in [
            *([(stack_retries, "BedrockRetryInputLocation")] if stack_retries else []),
            *((uri, "--retry-location") for uri in retry_location or []),
        ]
    ]
    erasure = erase_subject(
        target.dynamodb(),
        target.table_name,
        attribute,
        value,
        job_id=job,
        s3=target.s3() if folders or retry_file_format(attribute).in_job_input_folders else None,
        retry_folders=folders,
        delete_command=lambda uri: target.aws_command("s3", "rm", uri),
    )
    if output_format is TableOrJson.json:
        typer.echo(render.to_json(erasure.to_dict(attribute)), nl=False)
        return
    console = render.stdout_console()
    scope = f" in job {job}" if job else ""
    console.print(
        f"{attribute} {value} is in the erasure register{scope}"
        + (" (added now" if erasure.newly_registered else " (since an earlier erasure")
        + ", as a hash): re-records, sweeps and automatic retries leave it out.",
        markup=False,
    )
    if erasure.unread_items_read:
        console.print(
            f"Read {erasure.unread_items_read} item(s) whose {attribute} could not be recorded, to find {value} "
            "in their other attributes.",
            markup=False,
        )
    for uri in erasure.retry_files:
        console.print(f"Deleted the retry file {uri}: it held a record naming {attribute} {value}.", markup=False)
    # A stack that follows Bedrock jobs has retry files only `BedrockRetryInputLocation` or the operator can name.
    if not folders and target.scopes_by_service["bedrock"] and not retry_file_format(attribute).in_job_input_folders:
        render.stderr_console().print(
            "note: no retry folder searched (no BedrockRetryInputLocation; name others with --retry-location)",
            markup=False,
        )
    if not erasure.items:
        console.print(f"No item names {attribute} {value}: nothing to delete.", markup=False)
        return
    console.print(render.erased_table(attribute, value, erasure.items))


@app.command(epilog=_example(f"--local lineage {EXAMPLE_BEDROCK_JOB}", f"lineage {EXAMPLE_BEDROCK_JOB} rec-0042"))
def lineage(
    ctx: typer.Context,
    *,
    job: Annotated[str, typer.Argument(metavar="JOB", help="The original job's JobId.")],
    record_id: Annotated[
        str | None, typer.Argument(metavar="RECORD", help="One record's recordId: every attempt of it.")
    ] = None,
    output_format: Annotated[TableOrJson, typer.Option("--format", help="How to print it.")] = TableOrJson.table,
) -> None:
    """Where each failed record of a Bedrock job is now in the automatic retries: POOLED, SUBMITTED, SUCCEEDED
    (retried by which job or on demand, and where its answer lies) or FINAL (and why); with RECORD, its every
    attempt (docs/automatic-retries.md)."""
    target = _target(ctx)
    record = _find_job(target, job)
    found = retried_records(target.dynamodb(), target.table_name, record, record_id)
    hidden = ("pk", "sk", "RecordType")
    shown = [{name: value for name, value in item.items() if name not in hidden} for item in found]
    if output_format is TableOrJson.json:
        typer.echo(render.to_json(shown[0] if record_id and shown else shown), nl=False)
        return
    if not found:
        what = f"record {record_id} of job {job}" if record_id else f"no record of job {job}"
        raise CliError(
            f"{what} is in no automatic retry: not failed, not yet pooled, or the stack has no bedrockRetryPolicy"
            if record_id
            else f"{what} is in the automatic retries (none failed, none pooled yet, or no bedrockRetryPolicy)"
        )
    render.stdout_console().print(render.lineage_view(record, found, record_id is not None))


@app.command(epilog=_example("--local sweep", f"--stack {DEFAULT_STACK_NAME} sweep --format json"))
def sweep(
    ctx: typer.Context,
    *,
    output_format: Annotated[
        TableOrJson, typer.Option("--format", help="How to print the report.")
    ] = TableOrJson.table,
) -> None:
    """Run a reconciliation sweep now and print its report.

    The sweep starts a tracker for every recent job nothing follows (Lambda Invoke of SweepFunctionName with {})."""
    target = _target(ctx)
    function = target.sweep_function_name
    if function is None:
        raise CliError(f"{target.description} has no sweep (no SweepFunctionName output)")
    response = target.lambda_().invoke(FunctionName=function, Payload=b"{}")
    body = response["Payload"].read().decode()
    if response.get("FunctionError"):
        try:
            error = json.loads(body)
            body = f"{error.get('errorType')}: {error.get('errorMessage')}"
        except (ValueError, AttributeError):
            pass
        raise CliError(f"the sweep failed: {body}")
    report = json.loads(body) if body else {}
    if output_format is TableOrJson.json:
        typer.echo(render.to_json(report), nl=False)
        return
    render.stdout_console().print(render.sweep_view(report))


def main() -> None:
    app()
