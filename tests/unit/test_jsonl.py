"""job_tracker.jsonl: lines split across any chunk boundary, and a line past the limit refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from job_tracker.errors import OutputFileInvalid
from job_tracker.jsonl import lines


def test_lines_are_split_across_any_chunk_boundary() -> None:
    text = b"first\nsecond line\n\nthird"
    for size in range(1, len(text) + 1):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert list(lines(chunks, source="s3://b/k")) == [b"first", b"second line", b"", b"third"]


def test_a_line_longer_than_the_limit_is_refused_naming_the_file_and_line_before_it_is_held_whole() -> None:
    held: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b"ok\n"
        for _ in range(100):  # a line with no end: the reader must stop long before all of it arrives
            held.append(1)
            yield b"x" * 10

    with pytest.raises(OutputFileInvalid, match=r"s3://b/k line 2 is longer than 25 bytes"):
        list(lines(chunks(), source="s3://b/k", max_line_bytes=25))
    assert len(held) == 3


def test_a_line_at_the_limit_passes_and_one_past_it_in_a_single_chunk_is_refused() -> None:
    assert list(lines([b"12345\n6"], source="f", max_line_bytes=5)) == [b"12345", b"6"]
    with pytest.raises(OutputFileInvalid, match="f line 1 is longer than 5 bytes"):
        list(lines([b"123456\n"], source="f", max_line_bytes=5))
