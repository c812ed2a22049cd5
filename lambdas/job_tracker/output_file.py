"""Streaming reader and validator for a batch job's `.out` file (and the input manifest's requests).

The documented schema is the same for every kind, apart from its list of successes (the kind's
`SuccessSchema`)::

    {"Version": "1.0",
     "Errors": [{"RequestId": str, "ErrorCode": int, "ErrorMessage": str}],
     "SuccessfulRegistrations": [{"RequestId": str, "GeneratedFraudsterId": "id#...",
                                  "RegistrationStatus": "NEW_REGISTRATION" | "DUPLICATE_SKIPPED",
                                  "FraudsterSimilarityScore": int (optional)}]}
     -- or, for speaker enrollments --
     "SuccessfulEnrollments": [{"RequestId": str, "GeneratedSpeakerId": "id#...", "CustomerSpeakerId": str,
                                "EnrollmentStatus": "NEW_ENROLLMENT" | "ENROLLMENT_OVERWRITE" | "DUPLICATE_SKIPPED"}]

A fraudster job lists up to 500 requests and a speaker enrollment job 10,000, so the file is never loaded
whole: the reader decodes one array element at a time from fixed-size chunks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from job_tracker.errors import OutputFileInvalid
from job_tracker.kinds import JobKind, SuccessSchema

SUPPORTED_VERSION = "1.0"
# RequestIds become part of DynamoDB keys (`FAILURE#<RequestId>` and the index's sort key), which DynamoDB
# limits to 1024 bytes; this leaves room for the prefixes and the job's timestamp and id.
MAX_REQUEST_ID_BYTES = 900
_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class FailedRequest:
    request_id: str
    error_code: int | str
    """An HTTP status code, or a word of the tracker's own (Bedrock's `UNPROCESSED`)."""
    error_message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    """Further attributes of the failure item the output format gives (Bedrock: OutputFile, LineNumber)."""


@dataclass
class OutputTally:
    """What a fully read `.out` says, apart from the failures themselves (which are streamed out)."""

    failed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    """Successful requests by the kind's OutcomeCount.summary_attribute."""
    failed_request_ids: set[str] = field(default_factory=set)
    undocumented_members: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    """Further attributes of the summary item the output format gives (Bedrock: the record counts, the
    token totals, the cross-check)."""
    accounted_request_ids: set[str] | None = None
    """When the output could not account for every request (Bedrock's input could not be read to name the
    unprocessed records): the ids it did account for. A failure item an earlier record wrote for any other
    id is kept, not deleted as stale, since nothing read this time says it is wrong. None: every request is
    accounted for."""

    def count(self, summary_attribute: str) -> int:
        return self.counts.get(summary_attribute, 0)


class _ChunkCursor:
    """A read position over a text stream that pulls more chunks only when a value runs past the buffer."""

    def __init__(self, chunks: Iterable[bytes], source: str) -> None:
        self._chunks = iter(chunks)
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._pos = 0
        self._eof = False
        self._consumed = 0  # characters dropped from the buffer so far, for error positions
        self.source = source
        self._pending = b""

    def _fill(self) -> bool:
        for chunk in self._chunks:
            data = self._pending + chunk
            try:
                text = data.decode("utf-8")
                self._pending = b""
            except UnicodeDecodeError as error:
                # A multi-byte character may straddle two chunks; keep its head for the next one.
                if error.start < len(data) - 3:
                    raise self.invalid("is not UTF-8 text") from error
                text, self._pending = data[: error.start].decode("utf-8"), data[error.start :]
            if text:
                self._consumed += self._pos
                self._buffer = self._buffer[self._pos :] + text
                self._pos = 0
                return True
        if self._pending:
            raise self.invalid("is not UTF-8 text (truncated multi-byte character)")
        self._eof = True
        return False

    def invalid(self, problem: str) -> OutputFileInvalid:
        return OutputFileInvalid(f"{self.source} {problem} (near character {self._consumed + self._pos})")

    def peek(self) -> str:
        """The next non-whitespace character, or "" at the end of the stream."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill():
                return ""

    def expect(self, char: str, context: str) -> None:
        found = self.peek()
        if found != char:
            raise self.invalid(f"is not valid JSON: expected {char!r} {context}, found {found or 'end of file'!r}")
        self._pos += 1

    def value(self) -> Any:
        """Decode one JSON value, reading further chunks while it is cut off by the buffer's end."""
        self.peek()
        while True:
            try:
                decoded, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as error:
                # A value cut by the chunk boundary fails the same way as a broken one; only more data
                # tells them apart. Numbers are the exception: "12" may be the start of "123".
                if self._fill():
                    continue
                raise self.invalid(f"is not valid JSON: {error.msg}") from error
            if end == len(self._buffer) and not self._eof and isinstance(decoded, int | float) and self._fill():
                continue
            self._pos = end
            return decoded


def _array(cursor: _ChunkCursor, name: str) -> Iterator[Any]:
    cursor.expect("[", f"to open {name}")
    if cursor.peek() == "]":
        cursor.expect("]", f"to close {name}")
        return
    while True:
        yield cursor.value()
        if cursor.peek() == ",":
            cursor.expect(",", f"between {name} entries")
            continue
        cursor.expect("]", f"to close {name}")
        return


def _require(entry: Any, name: str, index: int, cursor: _ChunkCursor) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise cursor.invalid(f"has a non-object entry at {name}[{index}]")
    return entry


def _request_id(entry: dict[str, Any], name: str, index: int, cursor: _ChunkCursor) -> str:
    request_id = entry.get("RequestId")
    if not isinstance(request_id, str) or not request_id:
        raise cursor.invalid(f"has no valid RequestId at {name}[{index}]")
    if len(request_id.encode("utf-8")) > MAX_REQUEST_ID_BYTES:
        raise cursor.invalid(f"has a RequestId longer than {MAX_REQUEST_ID_BYTES} bytes at {name}[{index}]")
    return request_id


def _failed_request(entry: dict[str, Any], index: int, cursor: _ChunkCursor) -> FailedRequest:
    request_id = _request_id(entry, "Errors", index, cursor)
    code, message = entry.get("ErrorCode"), entry.get("ErrorMessage")
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
        raise cursor.invalid(f"has an ErrorCode that is not an HTTP status code at Errors[{index}]: {code!r}")
    if not isinstance(message, str):
        raise cursor.invalid(f"has no ErrorMessage string at Errors[{index}]")
    return FailedRequest(request_id=request_id, error_code=code, error_message=message)


def _success_count_attribute(
    kind: JobKind, schema: SuccessSchema, entry: dict[str, Any], index: int, cursor: _ChunkCursor
) -> str:
    where = f"{schema.member}[{index}]"
    _request_id(entry, schema.member, index, cursor)
    status = entry.get(schema.status_field)
    count = kind.count_for(status)
    if count is None:
        raise cursor.invalid(f"has an unknown {schema.status_field} {status!r} at {where}")
    problem = schema.check_entry(entry)
    if problem is not None:
        raise cursor.invalid(f"has {problem} at {where}")
    return count.summary_attribute


def _read_errors(cursor: _ChunkCursor, tally: OutputTally, on_failure: Callable[[FailedRequest], None]) -> None:
    for index, entry in enumerate(_array(cursor, "Errors")):
        failed = _failed_request(_require(entry, "Errors", index, cursor), index, cursor)
        if failed.request_id in tally.failed_request_ids:
            raise cursor.invalid(f"lists RequestId {failed.request_id!r} in Errors twice")
        tally.failed_request_ids.add(failed.request_id)
        tally.failed += 1
        on_failure(failed)


def _read_successes(cursor: _ChunkCursor, tally: OutputTally, kind: JobKind, schema: SuccessSchema) -> None:
    member = schema.member
    for index, entry in enumerate(_array(cursor, member)):
        attribute = _success_count_attribute(kind, schema, _require(entry, member, index, cursor), index, cursor)
        tally.counts[attribute] = tally.counts.get(attribute, 0) + 1


def _read_version(cursor: _ChunkCursor) -> None:
    version = cursor.value()
    if version != SUPPORTED_VERSION:
        raise cursor.invalid(f"has Version {version!r}; only {SUPPORTED_VERSION!r} is documented")


def read_output_file(
    chunks: Iterable[bytes], source: str, on_failure: Callable[[FailedRequest], None], kind: JobKind
) -> OutputTally:
    """Validate a `.out` stream of a `kind` job, handing each failed request to `on_failure` as soon as it
    is read.

    Raises OutputFileInvalid naming `source` and the problem. Entries already handed to `on_failure`
    before an error is found stay handed over: the caller decides what a partial read means.
    """
    schema = kind.successes
    if schema is None:
        raise OutputFileInvalid(f"{source}: {kind.name} jobs do not write Voice ID's .out format")
    cursor = _ChunkCursor(chunks, source)
    tally = OutputTally(counts={count.summary_attribute: 0 for count in kind.counts})
    sections: dict[str, Callable[[], None]] = {
        "Version": lambda: _read_version(cursor),
        "Errors": lambda: _read_errors(cursor, tally, on_failure),
        schema.member: lambda: _read_successes(cursor, tally, kind, schema),
    }
    _read_object(cursor, sections, tally.undocumented_members)
    return tally


def read_manifest_fields(chunks: Iterable[bytes], source: str, kind: JobKind) -> dict[str, dict[str, str]]:
    """From a `kind` job's input manifest, the fields its failure items carry, by RequestId.

    Only `kind.failure_fields_from_manifest` is kept of each request (its audio locations are not), so a
    10,000-request manifest costs a small map. Raises OutputFileInvalid naming `source` and the problem.
    """
    cursor = _ChunkCursor(chunks, source)
    found: dict[str, dict[str, str]] = {}
    wanted = kind.failure_fields_from_manifest

    def read_requests() -> None:
        member = kind.manifest_member
        for index, entry in enumerate(_array(cursor, member)):
            request = _require(entry, member, index, cursor)
            request_id = _request_id(request, member, index, cursor)
            found[request_id] = {
                attribute: str(request[field]) for attribute, field in wanted.items() if field in request
            }

    def skip_version() -> None:
        cursor.value()  # the job itself validated the manifest's Version

    _read_object(cursor, {"Version": skip_version, kind.manifest_member: read_requests}, [])
    return found


def _read_object(cursor: _ChunkCursor, sections: dict[str, Callable[[], None]], undocumented: list[str]) -> None:
    """Read one top-level object whose members `sections` read; others are skipped and listed."""
    seen: set[str] = set()
    if cursor.peek() == "":
        raise cursor.invalid("is empty")
    cursor.expect("{", "at the start of the file")
    while cursor.peek() != "}":
        if seen:
            cursor.expect(",", "between top-level members")
        key = cursor.value()
        if not isinstance(key, str):
            raise cursor.invalid("is not valid JSON: expected a member name")
        if key in seen:
            raise cursor.invalid(f"repeats the top-level member {key!r}")
        seen.add(key)
        cursor.expect(":", f"after {key!r}")
        if key in sections:
            sections[key]()
        else:
            # Tolerate members added after the schema was documented; the caller logs them.
            cursor.value()
            undocumented.append(key)
    cursor.expect("}", "at the end of the file")
    if cursor.peek() != "":
        raise cursor.invalid("has data after the closing brace")
    missing = set(sections) - seen
    if missing:
        raise cursor.invalid(f"lacks the required member(s) {', '.join(sorted(missing))}")
