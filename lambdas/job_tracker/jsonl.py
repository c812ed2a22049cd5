"""JSON Lines read from a stream of byte chunks, one line at a time: shared by the record Lambda (Bedrock's
`.jsonl.out` and input files, up to 1 GB each) and the CLI's retry (the input files)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from job_tracker.errors import OutputFileInvalid

# No line of a batch inference file comes near this (a record is a prompt and its answer, images included);
# a file without line ends, or a corrupt one, is refused at this size instead of filling the Lambda's memory.
MAX_LINE_BYTES = 32 * 1024 * 1024


def lines(chunks: Iterable[bytes], *, source: str, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of a byte stream, without their line ends. Memory holds one chunk and one line, and a
    line longer than `max_line_bytes` stops the stream with OutputFileInvalid naming `source` and the line."""
    pending = bytearray()
    number = 1
    for chunk in chunks:
        start = 0
        end = chunk.find(b"\n")
        while end != -1:
            if pending:
                pending += chunk[start:end]
                line = bytes(pending)
                pending.clear()
            else:
                line = chunk[start:end]
            if len(line) > max_line_bytes:
                raise _too_long(source, number, max_line_bytes)
            yield line
            number += 1
            start = end + 1
            end = chunk.find(b"\n", start)
        pending += chunk[start:]
        if len(pending) > max_line_bytes:
            raise _too_long(source, number, max_line_bytes)
    if pending:
        yield bytes(pending)


def _too_long(source: str, number: int, max_line_bytes: int) -> OutputFileInvalid:
    return OutputFileInvalid(f"{source} line {number} is longer than {max_line_bytes} bytes (no line end?)")
