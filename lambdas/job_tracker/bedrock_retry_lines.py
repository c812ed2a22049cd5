"""A Bedrock record's line to run it again, and a retry job's name and token: shared by the CLI's `retry` and
the automatic retries (`bedrock_retries.py`).

Each chosen record's line is copied byte for byte from the job's input files (`{"recordId", "modelInput"}`
as the operator wrote it), found by `recordId`, never by position: first in the input file its failure item
names (`InputFile`), then in the job's other input files. A record whose input line has no `recordId` (Bedrock
gave it a generated id) is found in no input line: its retry line is built from its output line (`OutputFile`,
`LineNumber`), which copies the record's `modelInput`, under the generated id. Files are streamed line by line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from job_tracker.errors import OutputFileMissing, TrackerError
from job_tracker.jsonl import lines


class RetryLinesUnavailable(TrackerError):
    """A record's line cannot be read back (gone, or malformed); the message names the record, file and line."""


# botocore's bedrock model: ModelInvocationJobName (at most 63 characters here, the pattern's first part).
JOB_NAME_MAX = 63
JOB_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9+\-.]")
INPUT_SUFFIX = ".jsonl"
SOURCE_JOB_METADATA = "tracker-source-job-id"


def client_request_token(digest: str) -> str:
    """Bedrock's clientRequestToken: `[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}`."""
    return f"retry-{digest[:48]}"


def retry_job_name(original: str | None, job_id: str, digest: str, tracked_prefixes: Sequence[str] = ()) -> str:
    """`<original name>-retry-<8 hex>`, at most 63 characters: it keeps the original's start, so the rule and the
    sweep (tracker:bedrockJobNamePrefixes) follow the retry. The longest of `tracked_prefixes` the original
    starts with is kept whole whatever its length; the suffix shrinks to the room left after it (to `-<hex>`,
    down to nothing for a 63-character prefix: job names need not be unique, and the clientRequestToken, not
    the name, makes the retry's job its own)."""
    base = JOB_NAME_UNSAFE.sub("-", original or "") or job_id
    kept = max((prefix for prefix in tracked_prefixes if base.startswith(prefix)), key=len, default="")
    suffix = f"-retry-{digest[:8]}"
    if len(kept) + len(suffix) <= JOB_NAME_MAX:
        return f"{base[: max(JOB_NAME_MAX - len(suffix), len(kept))]}{suffix}"
    room = JOB_NAME_MAX - len(kept)
    return f"{kept}{f'-{digest}'[:room] if room > 1 else digest[:room]}"


@dataclass(frozen=True)
class RecordSource:
    """Where a chosen record's line can be read back: the failure item's `InputFile` (an unprocessed record)
    or `OutputFile` (a failed one), and its `LineNumber` there."""

    record_id: str
    input_file: str | None = None
    output_file: str | None = None
    line_number: int | None = None

    @classmethod
    def of_fields(cls, record_id: str, fields: Mapping[str, object]) -> RecordSource:
        """From a failure item's attributes (`InputFile`, `OutputFile`, `LineNumber`)."""

        def text(name: str) -> str | None:
            value = fields.get(name)
            return value if isinstance(value, str) and value else None

        line = fields.get("LineNumber")
        return cls(
            record_id=record_id,
            input_file=text("InputFile"),
            output_file=text("OutputFile"),
            line_number=line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else None,
        )


def _input_record_id(line: bytes, source: str, number: int) -> str | None:
    """An input line's recordId, None when it has none (Bedrock then generates one); RetryLinesUnavailable
    naming the file and line when the line is not a JSON object or its recordId is not a non-empty string."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise RetryLinesUnavailable(f"{source} line {number} is not JSON: {error}") from error
    if not isinstance(record, dict):
        raise RetryLinesUnavailable(f"{source} line {number} is not a JSON object")
    record_id = record.get("recordId")
    if record_id is not None and (not isinstance(record_id, str) or not record_id):
        raise RetryLinesUnavailable(
            f"{source} line {number} has a recordId that is not a non-empty string: {record_id!r}"
        )
    return record_id


def _pick_from_inputs(
    files: Iterable[tuple[str, Iterable[bytes]]], remaining: set[str], found: dict[str, bytes]
) -> None:
    """Each input line whose recordId is in `remaining`, verbatim (moved from `remaining` to `found`). A file
    that no longer exists holds none: its records may still be in another file, or in their output lines."""
    for source, chunks in files:
        if not remaining:
            return
        try:
            for number, line in enumerate(lines(chunks, source=source), start=1):
                if not remaining:
                    break
                if not line.strip():
                    continue
                record_id = _input_record_id(line, source, number)
                if record_id in remaining:
                    remaining.discard(record_id)
                    found[record_id] = line.rstrip(b"\r")
        except OutputFileMissing:
            continue


def _retry_line_from_output(line: bytes, source: RecordSource, where: str) -> bytes:
    """The retry line of a record read back from its output line: its recordId (the id Bedrock generated,
    when the input gave none) and its `modelInput`, which Bedrock copies from the input into every output line."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise RetryLinesUnavailable(f"{where} is not JSON: {error}") from error
    if not isinstance(record, dict) or record.get("recordId") != source.record_id:
        raise RetryLinesUnavailable(
            f"{where} is not record {source.record_id}'s output line; the output changed since the record"
        )
    if not isinstance(record.get("modelInput"), dict):
        raise RetryLinesUnavailable(f"{where} holds no modelInput object to retry record {source.record_id} with")
    retry_line = {"recordId": source.record_id, "modelInput": record["modelInput"]}
    return json.dumps(retry_line, ensure_ascii=False, separators=(",", ":")).encode()


def _pick_from_outputs(
    open_file: Callable[[str], Iterable[bytes]],
    sources: Sequence[RecordSource],
    remaining: set[str],
    found: dict[str, bytes],
) -> None:
    """For the records no input line holds (no recordId in the input), their output line's modelInput."""
    by_file: dict[str, dict[int, RecordSource]] = {}
    for source in sources:
        if source.record_id in remaining and source.output_file and source.line_number:
            by_file.setdefault(source.output_file, {})[source.line_number] = source
    for output_file, wanted in by_file.items():
        last = max(wanted)
        for number, line in enumerate(lines(open_file(output_file), source=output_file), start=1):
            if number in wanted:
                source = wanted[number]
                found[source.record_id] = _retry_line_from_output(line, source, f"{output_file} line {number}")
                remaining.discard(source.record_id)
            if number >= last:
                break


def pick_lines(
    open_file: Callable[[str], Iterable[bytes]], input_files: Iterable[str], sources: Sequence[RecordSource]
) -> list[bytes]:
    """The chosen records' retry lines, in the order of `sources`: each record's input line verbatim, found by
    recordId in the input file its failure item names first, then in the job's other input files; a record
    no input line holds (its input line had no recordId) from its output line (`OutputFile`, `LineNumber`).
    RetryLinesUnavailable naming the records found nowhere, or the file and line that is malformed."""
    remaining = {source.record_id for source in sources}
    found: dict[str, bytes] = {}
    named = list(dict.fromkeys(source.input_file for source in sources if source.input_file))
    others = [uri for uri in input_files if uri not in named]
    try:
        _pick_from_inputs(((uri, open_file(uri)) for uri in [*named, *others]), remaining, found)
        _pick_from_outputs(open_file, sources, remaining, found)
    except TrackerError as error:  # a file missing or unreadable, a line past the length limit
        raise RetryLinesUnavailable(f"cannot read the records to retry: {error}") from error
    if remaining:
        missing = [source.record_id for source in sources if source.record_id in remaining]
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise RetryLinesUnavailable(
            f"neither the job's input nor its output holds record(s) {shown} any more; cannot copy them"
        )
    return [found[source.record_id] for source in sources]
