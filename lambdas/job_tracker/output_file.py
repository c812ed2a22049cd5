"""Streaming reader and validator for a fraudster registration job's `.out` file.

The documented schema is::

    {"Version": "1.0",
     "Errors": [{"RequestId": str, "ErrorCode": int, "ErrorMessage": str}],
     "SuccessfulRegistrations": [{"RequestId": str, "GeneratedFraudsterId": "id#...",
                                  "RegistrationStatus": "NEW_REGISTRATION" | "DUPLICATE_SKIPPED",
                                  "FraudsterSimilarityScore": int (optional)}]}

A job can list up to 500 fraudster requests, and the same format carries 10,000 speaker enrollments, so
the file is never loaded whole: the reader decodes one array element at a time from fixed-size chunks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from job_tracker.errors import OutputFileInvalid
from job_tracker.ids import GENERATED_FRAUDSTER_ID

SUPPORTED_VERSION = "1.0"
# The schema block says NEW_REGISTRATION while the text under it says NEW_FRAUDSTER; accept both.
NEW_REGISTRATION_STATUSES = frozenset({"NEW_REGISTRATION", "NEW_FRAUDSTER"})
DUPLICATE_SKIPPED = "DUPLICATE_SKIPPED"
# RequestIds become part of DynamoDB keys (`FAILURE#<RequestId>` and the index's sort key), which DynamoDB
# limits to 1024 bytes; this leaves room for the prefixes and the job's timestamp and id.
MAX_REQUEST_ID_BYTES = 900
_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class FailedRequest:
    request_id: str
    error_code: int
    error_message: str


@dataclass
class OutputTally:
    """What a fully read `.out` says, apart from the failures themselves (which are streamed out)."""

    failed: int = 0
    registered: int = 0
    duplicate_skipped: int = 0
    failed_request_ids: set[str] = field(default_factory=set)
    undocumented_members: list[str] = field(default_factory=list)


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


def _check_registration(entry: dict[str, Any], index: int, cursor: _ChunkCursor) -> str:
    where = f"SuccessfulRegistrations[{index}]"
    _request_id(entry, "SuccessfulRegistrations", index, cursor)
    fraudster_id = entry.get("GeneratedFraudsterId")
    if not isinstance(fraudster_id, str) or not GENERATED_FRAUDSTER_ID.fullmatch(fraudster_id):
        raise cursor.invalid(f"has a GeneratedFraudsterId not of the form id#<22 letters or digits> at {where}")
    status = entry.get("RegistrationStatus")
    if status not in NEW_REGISTRATION_STATUSES and status != DUPLICATE_SKIPPED:
        raise cursor.invalid(f"has an unknown RegistrationStatus {status!r} at {where}")
    score = entry.get("FraudsterSimilarityScore")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100):
        raise cursor.invalid(f"has a FraudsterSimilarityScore outside 0-100 at {where}: {score!r}")
    return str(status)


def _read_errors(cursor: _ChunkCursor, tally: OutputTally, on_failure: Callable[[FailedRequest], None]) -> None:
    for index, entry in enumerate(_array(cursor, "Errors")):
        failed = _failed_request(_require(entry, "Errors", index, cursor), index, cursor)
        if failed.request_id in tally.failed_request_ids:
            raise cursor.invalid(f"lists RequestId {failed.request_id!r} in Errors twice")
        tally.failed_request_ids.add(failed.request_id)
        tally.failed += 1
        on_failure(failed)


def _read_registrations(cursor: _ChunkCursor, tally: OutputTally) -> None:
    for index, entry in enumerate(_array(cursor, "SuccessfulRegistrations")):
        status = _check_registration(_require(entry, "SuccessfulRegistrations", index, cursor), index, cursor)
        if status == DUPLICATE_SKIPPED:
            tally.duplicate_skipped += 1
        else:
            tally.registered += 1


def _read_version(cursor: _ChunkCursor) -> None:
    version = cursor.value()
    if version != SUPPORTED_VERSION:
        raise cursor.invalid(f"has Version {version!r}; only {SUPPORTED_VERSION!r} is documented")


def read_output_file(chunks: Iterable[bytes], source: str, on_failure: Callable[[FailedRequest], None]) -> OutputTally:
    """Validate a `.out` stream, handing each failed request to `on_failure` as soon as it is read.

    Raises OutputFileInvalid naming `source` and the problem. Entries already handed to `on_failure`
    before an error is found stay handed over: the caller decides what a partial read means.
    """
    cursor = _ChunkCursor(chunks, source)
    tally = OutputTally()
    sections: dict[str, Callable[[], None]] = {
        "Version": lambda: _read_version(cursor),
        "Errors": lambda: _read_errors(cursor, tally, on_failure),
        "SuccessfulRegistrations": lambda: _read_registrations(cursor, tally),
    }
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
            tally.undocumented_members.append(key)
    cursor.expect("}", "at the end of the file")
    if cursor.peek() != "":
        raise cursor.invalid("has data after the closing brace")
    missing = set(sections) - seen
    if missing:
        raise cursor.invalid(f"lacks the required member(s) {', '.join(sorted(missing))}")
    return tally
