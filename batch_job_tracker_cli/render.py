"""Printing: Rich tables for people, CSV and JSON for scripts (written plainly, never through Rich)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from rich import box
from rich.console import Console, Group, OverflowMethod, RenderableType
from rich.table import Table
from rich.text import Text

from batch_job_tracker_cli.erasure import ErasedItem
from batch_job_tracker_cli.executions import Execution
from batch_job_tracker_cli.records import FailedRequest, JobRecord, tracker_status_of
from batch_job_tracker_cli.shared import DEFAULT_JOB_KIND, JOB_KINDS, JobKind


def stdout_console() -> Console:
    return Console(highlight=False)


def stderr_console() -> Console:
    """Messages for people, kept off stdout (which carries what scripts read); lines are not hard-wrapped."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def text(value: object) -> Text:
    """A cell shown as it is: data never goes through Rich markup (an ErrorMessage may hold `[...]`)."""
    if value is None or value == "":
        return Text("-", style="dim")
    return Text(str(value))


def short_time(value: object) -> str:
    """`2026-05-01T12:00:01.123000+00:00` as `2026-05-01 12:00:01`."""
    if not isinstance(value, str) or not value:
        return ""
    return value.replace("T", " ")[:19]


def _label(attribute: str) -> str:
    """`DuplicateSkippedRequestCount` -> `duplicate skipped`, `SucceededRecordCount` -> `succeeded`,
    `UnnamedFailedTaskCount` -> `unnamed failed`."""
    name = attribute.removesuffix("Count").removesuffix("Request").removesuffix("Record").removesuffix("Task")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def kind_of(item: Mapping[str, Any]) -> JobKind:
    return JOB_KINDS.get(str(item.get("JobKind")), DEFAULT_JOB_KIND)


def counts_text(summary: Mapping[str, Any], *, listed_only: bool = False) -> str:
    """The summary's counts besides the failed one, by the kind's labels: `registered 2, duplicate skipped 0`;
    `listed_only`: the outcome counts alone (`jobs`), without totals such as Bedrock's tokens."""
    kind = kind_of(summary)
    extra = kind.listed_count_attributes if listed_only else kind.summary_count_attributes
    attributes = [*(count.summary_attribute for count in kind.counts), *extra]
    return ", ".join(
        f"{_label(attribute)} {summary[attribute]}" for attribute in attributes if summary.get(attribute) is not None
    )


def succeeded_count(summary: Mapping[str, Any]) -> int | None:
    """The entries the job carried out (its kind's `succeeded_count_attributes` added up), None when the
    summary has none of them (a job not recorded)."""
    found = [summary[name] for name in kind_of(summary).succeeded_count_attributes if summary.get(name) is not None]
    return sum(int(value) for value in found) if found else None


def other_counts_text(summary: Mapping[str, Any]) -> str:
    """The outcome counts `jobs` lists beside Failed and Succeeded: `duplicate skipped 1`, `unprocessed 3`."""
    kind = kind_of(summary)
    listed = [*(count.summary_attribute for count in kind.counts), *kind.listed_count_attributes]
    return ", ".join(
        f"{_label(name)} {summary[name]}"
        for name in listed
        if name not in kind.succeeded_count_attributes and summary.get(name) is not None
    )


@dataclass(frozen=True)
class JobsColumn:
    """One column of `jobs`' table: its header, its cell for a summary, whether a cell may break at its spaces,
    and its rank among the columns kept when the terminal is narrow (0 first)."""

    header: str
    cell: Callable[[Mapping[str, Any]], object]
    wraps: bool
    rank: int


JOBS_COLUMNS = (
    JobsColumn("Created (UTC)", lambda s: short_time(s.get("JobCreatedAt") or s.get("LockedAt")), True, 4),
    JobsColumn("JobId", lambda s: s.get("JobId"), False, 0),
    JobsColumn("Kind", lambda s: kind_of(s).noun, True, 6),
    JobsColumn("JobName", lambda s: s.get("JobName"), True, 8),
    JobsColumn("JobStatus", lambda s: s.get("JobStatus"), False, 1),
    JobsColumn("Failed", lambda s: s.get(kind_of(s).failed_count_attribute), False, 2),
    JobsColumn("Succeeded", succeeded_count, False, 5),
    JobsColumn("Other counts", other_counts_text, True, 7),
    JobsColumn("Record", lambda s: s.get("RecordState") or _lock_only(s), True, 3),
)
# At a narrow width the kind and the name go under the job's id, in one column, rather than out of the table.
MERGED_INTO_JOB_ID = ("Kind", "JobName")


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def _widths(column: JobsColumn, summaries: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """The column's (narrowest, natural) width: its longest word (or whole cell, for a column that does not
    wrap) and its longest cell, the header included."""
    cells = [column.header, *(_cell(column.cell(summary)) for summary in summaries)]
    natural = max(len(cell) for cell in cells)
    if not column.wraps:
        return natural, natural
    return max(len(word) for cell in cells for word in cell.split() or [""]), natural


def jobs_table(summaries: Sequence[Mapping[str, Any]], width: int = 200) -> Table:
    """The jobs, one a row, in as many columns as `width` holds, none squeezed below its header and its
    longest word: every column when they all fit so; else, in a lighter frame, the kind and name under the
    job's id and the columns of least use left out in turn (JobName, Other counts, Kind, Succeeded, ...), which
    the caption names."""
    title = f"{len(summaries)} job(s), newest first"
    narrowest = {column.header: _widths(column, summaries)[0] for column in JOBS_COLUMNS}
    # The default frame: each column adds its padding (2) and a rule (1), the table's edge one more.
    if sum(narrowest.values()) + 3 * len(JOBS_COLUMNS) + 1 <= width:
        table = Table(title=title, title_justify="left")
        for column in JOBS_COLUMNS:
            table.add_column(column.header, min_width=narrowest[column.header], no_wrap=not column.wraps)
        for summary in summaries:
            table.add_row(*(text(column.cell(summary)) for column in JOBS_COLUMNS))
        return table
    return _narrow_jobs_table(summaries, width, title, narrowest)


def _narrow_jobs_table(
    summaries: Sequence[Mapping[str, Any]], width: int, title: str, narrowest: Mapping[str, int]
) -> Table:
    # Its header, `JobId, kind, name`, wraps at its spaces: no narrower than `JobId,`.
    narrowest = {**narrowest, "JobId": max(narrowest["JobId"], len("JobId,"))}
    kept: list[JobsColumn] = []
    used = -3  # no edges: a column adds its width, its padding (2) and a space between columns (1), less the edges'
    for column in sorted(JOBS_COLUMNS, key=lambda column: column.rank):
        if column.header not in MERGED_INTO_JOB_ID and used + narrowest[column.header] + 3 <= width:
            kept.append(column)
            used += narrowest[column.header] + 3
    columns = [column for column in JOBS_COLUMNS if column in kept]
    left_out = [
        column.header for column in JOBS_COLUMNS if column not in kept and column.header not in MERGED_INTO_JOB_ID
    ]
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        caption=f"Not shown at this width: {', '.join(left_out)} (show JOB and --format json have them)"
        if left_out
        else None,
        caption_justify="left",
    )
    if "Created (UTC)" in (column.header for column in columns):
        table.title = f"{title} (created: UTC)"
    for column in columns:
        if column.header == "JobId":
            table.add_column("JobId, kind, name", width=narrowest["JobId"], overflow="fold")
        elif column.header == "Created (UTC)":  # (UTC) said in the title: a header of one line
            table.add_column("Created", min_width=narrowest[column.header])
        else:
            table.add_column(column.header, min_width=narrowest[column.header], no_wrap=not column.wraps)
    for summary in summaries:
        table.add_row(
            *(_job_id_kind_and_name(summary) if c.header == "JobId" else text(c.cell(summary)) for c in columns)
        )
    return table


def _job_id_kind_and_name(summary: Mapping[str, Any]) -> Text:
    """The JobId column of the narrow `jobs` table: the id, then the kind's noun and the job's name below it."""
    cell = Text(_cell(summary.get("JobId")))
    cell.append(f"\n{kind_of(summary).noun}", style="dim")
    if summary.get("JobName"):
        cell.append(f"\n{summary['JobName']}", style="dim")
    return cell


def _lock_only(lock: Mapping[str, Any]) -> str:
    """The record column of a job a tracker took and did not record: its lock and its tracker's status."""
    return f"none: lock {lock.get('LockState')}, tracker {lock.get('TrackerStatus') or 'unknown'}"


def _fields_table(title: str, rows: Iterable[tuple[str, object]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in rows:
        table.add_row(name, text(value))
    return table


RETRY_ATTRIBUTES = ("RetrySucceededCount", "RetryPendingCount", "FinalFailedCount", "RetrySettledAt", "RetryHeldReason")


def job_view(record: JobRecord, kind: JobKind, executions: Sequence[Execution]) -> RenderableType:
    summary = record.summary or {}
    details = summary.get("FailureDetails")
    job_rows: list[tuple[str, object]] = [
        ("JobId", record.job_id),
        ("DomainId", record.domain_id),
        ("JobKind", kind.name),
        ("JobName", summary.get("JobName")),
        ("JobStatus", summary.get("JobStatus")),
    ]
    if summary and tracker_status_of(summary) not in (None, summary.get("JobStatus")):
        # The tracker's word for a service's own (Bedrock's Stopped: COMPLETED_WITH_ERRORS).
        job_rows.append(("TrackerJobStatus", tracker_status_of(summary)))
    job_rows += [
        ("Created", summary.get("JobCreatedAt")),
        ("Ended", summary.get("JobEndedAt")),
        ("RecordState", summary.get("RecordState") or "not recorded"),
    ]
    if summary.get("RecordProblem"):
        job_rows.append(("RecordProblem", summary["RecordProblem"]))
    if summary:
        job_rows.append((kind.failed_count_attribute, summary.get(kind.failed_count_attribute)))
        job_rows.extend(
            (attribute, summary.get(attribute))
            for attribute in (*(count.summary_attribute for count in kind.counts), *kind.summary_count_attributes)
            if attribute in summary
        )
        # Where the service's own counts disagree with what was read, or why records could not be named; and the
        # failures left unwritten because `erase` erased their subject (docs/data-governance.md).
        job_rows.extend(
            (name, summary[name])
            for name in ("CountMismatches", "UnprocessedUnnamedReason", "NoReportReason", "ErasedRecordCount")
            if summary.get(name)
        )
        # The settled view of the automatic retries (docs/automatic-retries.md): where the failed records are now.
        job_rows.extend((name, summary[name]) for name in RETRY_ATTRIBUTES if summary.get(name) is not None)
    job_rows += [("InputUri", summary.get("InputUri")), ("OutputUri", summary.get("OutputUri"))]
    if isinstance(details, Mapping):
        job_rows.append(("FailureDetails", f"{details.get('StatusCode')}: {details.get('Message')}"))
    lock = record.lock or {}
    lock_rows: list[tuple[str, object]] = [("LockState", lock.get("LockState") or "no lock")]
    lock_rows += [
        (name, lock[name])
        for name in ("ExecutionArn", "LockedAt", "RecordedAt", "ReleasedAt", "WaitingSince")
        if lock.get(name)
    ]
    return Group(
        _fields_table(f"Job {record.job_id}", job_rows),
        Text(""),
        _fields_table("Job lock", lock_rows),
        Text(""),
        executions_table(executions),
    )


def executions_table(executions: Sequence[Execution]) -> Table:
    title = f"{len(executions)} tracker execution(s) that held the job's lock, oldest first"
    table = Table(title=title, title_justify="left")
    for header in ("Name", "Status", "Started (UTC)", "Stopped (UTC)", "Outcome"):
        table.add_column(header, no_wrap=header != "Outcome")
    for execution in executions:
        table.add_row(
            text(execution.name),
            text(execution.status),
            text(short_time(execution.started.astimezone(UTC).isoformat())),
            text(short_time(execution.stopped.astimezone(UTC).isoformat()) if execution.stopped else None),
            text(execution.outcome),
        )
    return table


def failure_columns(kind: JobKind) -> list[str]:
    return ["RequestId", "ErrorCode", "ErrorMessage", *kind.failure_fields_from_manifest, *kind.failure_detail_fields]


@dataclass(frozen=True)
class FailureTableLayout:
    """The columns of `failures`' table for a service's jobs: item attributes, then where the failure's line
    is, `<file name>:<line>` from the first of `file_attributes` the item has (csv and json give every
    attribute, the whole URIs)."""

    columns: tuple[str, ...]
    file_attributes: tuple[str, ...] = ()
    file_header: str = "File:Line"
    wrapped: tuple[str, ...] = ("ErrorMessage",)
    headers: Mapping[str, str] = field(default_factory=dict)
    """A column's header where it is not the attribute's name."""
    folded: tuple[str, ...] = ()
    """Columns whose long words (an object key, a file name) are folded onto more lines rather than cut."""


# Each service's layout where it is not the default one (`_default_layout`), by JobService.key. An S3 Batch
# Operations task is an object: its bucket, key and version say which, its ResultMessage (the item's
# ErrorMessage) why; its RequestId is its report line, shown once, as ReportFile:Line.
FAILURE_TABLE_LAYOUTS = {
    "s3": FailureTableLayout(
        columns=("Bucket", "Key", "VersionId", "ErrorCode", "HTTPStatusCode", "ErrorMessage"),
        file_attributes=("ReportFile",),
        file_header="ReportFile:Line",
        wrapped=("Key", "ErrorMessage"),
        headers={"ErrorMessage": "ResultMessage"},
        folded=("Bucket", "Key", "ErrorMessage", "ReportFile:Line"),
    ),
}


def _default_layout(kind: JobKind) -> FailureTableLayout:
    """RequestId, ErrorCode, ErrorMessage and the fields copied from the input manifest; a Bedrock record's
    output line (or its input line, if unprocessed)."""
    return FailureTableLayout(
        columns=("RequestId", "ErrorCode", "ErrorMessage", *kind.failure_fields_from_manifest),
        file_attributes=("OutputFile", "InputFile") if kind.failure_detail_fields else (),
    )


def failure_table_layout(kind: JobKind) -> FailureTableLayout:
    return FAILURE_TABLE_LAYOUTS.get(kind.service.key) or _default_layout(kind)


def _where(row: Mapping[str, Any], file_attributes: Sequence[str]) -> str | None:
    """`<file name>:<line>` of the failure's line, from the first of `file_attributes` the row has."""
    source = next((row[name] for name in file_attributes if row.get(name)), None)
    return f"{str(source).rsplit('/', 1)[-1]}:{row.get('LineNumber')}" if source else None


def failures_table(record: JobRecord, kind: JobKind, failures: Sequence[FailedRequest]) -> Table:
    table = Table(title=f"{len(failures)} failed {kind.failure_noun}(s) of job {record.job_id}", title_justify="left")
    layout = failure_table_layout(kind)
    located = bool(layout.file_attributes)
    for column in layout.columns:
        overflow: OverflowMethod = "fold" if column in layout.folded else "ellipsis"
        header = layout.headers.get(column, column)
        table.add_column(header, no_wrap=column not in layout.wrapped, overflow=overflow)
    if located:
        folded = layout.file_header in layout.folded
        table.add_column(layout.file_header, no_wrap=not folded, overflow="fold" if folded else "ellipsis")
    for failure in failures:
        row = failure.to_dict()
        cells = [text(row.get(column)) for column in layout.columns]
        table.add_row(*cells, *([text(_where(row, layout.file_attributes))] if located else []))
    return table


# A spreadsheet reads a cell that begins with one of these as a formula (CSV injection; OWASP's list: the four
# signs, tab and carriage return); record ids and error messages come from whoever built the job's input.
# OWASP's convention: such a cell gets a leading single quote, which the spreadsheet shows as text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: `=1+2` as `'=1+2`; None as empty, numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return f"'{value}"
    return value


def failures_csv(kind: JobKind, failures: Sequence[FailedRequest]) -> str:
    """A header row (RequestId, ErrorCode, ErrorMessage, then the kind's fields), one row per failure; a text
    cell that a spreadsheet would run as a formula is prefixed with a single quote (`csv_cell`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=failure_columns(kind), lineterminator="\n")
    writer.writeheader()
    for failure in failures:
        writer.writerow({key: csv_cell(value) for key, value in failure.to_dict().items()})
    return buffer.getvalue()


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str) + "\n"


def sweep_view(report: Mapping[str, Any]) -> Table:
    table = _fields_table("Sweep report", [(key, value) for key, value in report.items() if key != "Started"])
    started = report.get("Started")
    table.add_row("Started", text(", ".join(map(str, started)) if isinstance(started, list) and started else None))
    return table


def code_failures_table(code: int | str, failures: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(
        title=f"{len(failures)} failed request(s) with ErrorCode {code}, oldest job first", title_justify="left"
    )
    columns = ("JobCreatedAt", "JobId", "JobKind", "RequestId", "ErrorMessage")
    for column in columns:
        table.add_column("Job created (UTC)" if column == "JobCreatedAt" else column, no_wrap=column != "ErrorMessage")
    for failure in failures:
        table.add_row(
            text(short_time(failure.get("JobCreatedAt"))), *(text(failure.get(column)) for column in columns[1:])
        )
    return table


def listed_executions_table(executions: Sequence[Execution]) -> Table:
    table = Table(title=f"{len(executions)} tracker execution(s), newest first", title_justify="left")
    for header in ("Started (UTC)", "Status", "JobId", "DomainId", "Name", "Outcome"):
        table.add_column(header, no_wrap=header != "Outcome")
    for execution in executions:
        table.add_row(
            text(short_time(execution.started.astimezone(UTC).isoformat())),
            text(execution.status),
            text(execution.input.get("JobId")),
            text(execution.input.get("DomainId")),
            text(execution.name),
            text(execution.outcome),
        )
    return table


def erased_table(attribute: str, value: str, deleted: Sequence[ErasedItem]) -> Table:
    table = Table(title=f"Deleted {len(deleted)} item(s) naming {attribute} {value}", title_justify="left")
    for header in ("DomainId", "JobId", "Item"):
        table.add_column(header, no_wrap=True)
    for item in deleted:
        table.add_row(text(item.domain_id), text(item.job_id), text(item.sort_key))
    return table


def lineage_view(record: JobRecord, items: Sequence[Mapping[str, Any]], attempts: bool) -> Table:
    """The automatic retries' lineage of a job's records (`batch-job-tracker lineage`): one row per record, or,
    for one record, one row per attempt."""
    if attempts:
        (item,) = items
        table = Table(
            title=f"Record {item.get('RecordId')} of job {record.job_id}: {item.get('RetryState')}"
            + (f" ({item['FinalReason']})" if item.get("FinalReason") else ""),
            title_justify="left",
        )
        for column in ("Attempt", "RunBy", "ErrorCode", "ErrorMessage", "Where"):
            table.add_column(column, overflow="fold")
        for attempt in item.get("Attempts") or []:
            where = f"{attempt.get('OutputFile') or attempt.get('InputFile') or ''}"
            where += f":{attempt['LineNumber']}" if attempt.get("LineNumber") else ""
            table.add_row(
                text(attempt.get("Attempt")),
                text(attempt.get("RunBy")),
                text(attempt.get("ErrorCode", "")),
                text(attempt.get("ErrorMessage", "")),
                text(where),
            )
        return table
    table = Table(title=f"Automatic retries of job {record.job_id}", title_justify="left")
    for column in ("RecordId", "RetryState", "Attempt", "RetriedBy", "Answer, or why final"):
        table.add_column(column, overflow="fold")
    for item in sorted(items, key=lambda found: str(found.get("RecordId"))):
        answer = (
            f"{item['SucceededOutputFile']}:{item.get('SucceededLineNumber')}"
            if item.get("SucceededOutputFile")
            else item.get("FinalReason") or item.get("ErrorCode", "")
        )
        table.add_row(
            text(item.get("RecordId")),
            text(item.get("RetryState")),
            text(item.get("Attempt")),
            text(item.get("RetriedBy", "")),
            text(answer),
        )
    return table
