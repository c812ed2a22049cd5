"""Unit checks of the pieces the HTTP tests rely on: regex translation, status codes, audio helpers."""

from __future__ import annotations

import pytest

from voiceid_emulator import model
from voiceid_emulator.audio import AudioFormatError, analyze, make_invalid_wav, make_wav
from voiceid_emulator.s3io import output_location


def test_java_property_classes_are_translated() -> None:
    description = model.compiled_pattern(r"^([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)$")
    assert description.fullmatch("Zoë 42 ünïcode_.:/=+-%@")
    assert not description.fullmatch("tab\tnot allowed")
    assert not description.fullmatch("newline\n")
    token = model.compiled_pattern(r"^\p{ASCII}{0,8192}$")
    assert token.fullmatch("abc~") and not token.fullmatch("é")


def test_http_status_comes_from_the_model_or_smithy() -> None:
    assert model.http_status_for("ResourceNotFoundException") == 404
    assert model.http_status_for("ServiceQuotaExceededException") == 402
    assert model.http_status_for("InternalServerException") == 500


def test_make_wav_is_deterministic_and_seeded() -> None:
    assert make_wav(2, 1, seed=3) == make_wav(2, 1, seed=3)
    first, second = analyze(make_wav(2, seed=1), 0), analyze(make_wav(2, seed=2), 0)
    assert first.fingerprint != second.fingerprint
    measured = analyze(make_wav(2.5, 1.5), 0)
    assert measured.speech_seconds == pytest.approx(2.5, abs=0.04)
    assert measured.duration_seconds == pytest.approx(4.0)


@pytest.mark.parametrize("kind", ["sample_rate", "sample_width", "not_wav"])
def test_invalid_audio_is_rejected(kind: str) -> None:
    with pytest.raises(AudioFormatError):
        analyze(make_invalid_wav(kind), 0)


def test_three_channels_are_rejected() -> None:
    with pytest.raises(AudioFormatError, match="at most 2"):
        analyze(make_wav(1, channels=3), 0)


def test_output_location_rules() -> None:
    assert output_location("s3://out/folder/", "JOB", "s3://in/a/b/input-file.json").uri == (
        "s3://out/folder/JOB/input-file.json.out"
    )
    assert output_location("s3://out", "JOB", "s3://in/x.json").uri == "s3://out/JOB/x.json.out"
