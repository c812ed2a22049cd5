"""WAV analysis the emulator uses to decide each request's outcome, and helpers to make test audio.

"Speech" is deliberately simple and deterministic: a 20 ms frame is voiced when its RMS energy is
above a threshold, and the speech duration is the number of voiced frames times 20 ms. The audio
fingerprint is the sha256 of the PCM payload of the channel that a request names, so the same
recording always maps to the same voiceprint.
"""

from __future__ import annotations

import hashlib
import io
import math
import operator
import struct
import sys
import wave
from array import array
from dataclasses import dataclass
from random import Random

REQUIRED_SAMPLE_RATE = 8000
REQUIRED_SAMPLE_WIDTH = 2  # PCM-16
MAX_CHANNELS = 2
MAX_AUDIO_BYTES = 20 * 1024 * 1024
FRAME_SECONDS = 0.02
# Silence in make_wav is exact zeros; real line noise stays far below this on a 16-bit scale.
DEFAULT_RMS_THRESHOLD = 500.0


class AudioFormatError(ValueError):
    """The audio is not a WAV file Voice ID accepts (8 kHz, PCM-16, at most 2 channels, at most 20 MB)."""


@dataclass(frozen=True)
class ChannelAnalysis:
    speech_seconds: float
    fingerprint: str
    duration_seconds: float


@dataclass(frozen=True)
class DecodedWav:
    """A WAV file that passed the format checks: its channel count and interleaved PCM-16 samples."""

    channels: int
    samples: array[int]


def decode(data: bytes) -> DecodedWav:
    """Check the format (size, WAV, 8 kHz, PCM-16, at most 2 channels); AudioFormatError when Voice ID would
    reject the file."""
    if len(data) > MAX_AUDIO_BYTES:
        raise AudioFormatError(f"Audio file is {len(data)} bytes; the maximum is {MAX_AUDIO_BYTES} bytes (20 MB)")
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            rate = reader.getframerate()
            width = reader.getsampwidth()
            channels = reader.getnchannels()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        raise AudioFormatError(f"Audio file is not a valid PCM WAV file: {exc}") from exc
    if rate != REQUIRED_SAMPLE_RATE:
        raise AudioFormatError(f"Audio sample rate is {rate} Hz; Voice ID requires 8000 Hz")
    if width != REQUIRED_SAMPLE_WIDTH:
        raise AudioFormatError(f"Audio sample width is {width * 8} bits; Voice ID requires PCM-16")
    if channels > MAX_CHANNELS:
        raise AudioFormatError(f"Audio has {channels} channels; Voice ID accepts at most 2")
    count = len(frames) // (width * channels)
    samples = array("h")
    samples.frombytes(frames[: count * width * channels])
    if sys.byteorder == "big":  # WAV PCM is little-endian
        samples.byteswap()
    return DecodedWav(channels, samples)


def analyze_channel(decoded: DecodedWav, channel: int, rms_threshold: float = DEFAULT_RMS_THRESHOLD) -> ChannelAnalysis:
    """Measure speech on one channel of a decoded file; AudioFormatError if the file has no such channel."""
    if channel >= decoded.channels:
        raise AudioFormatError(f"ChannelId {channel} does not exist in audio with {decoded.channels} channel(s)")
    mono = decoded.samples[channel :: decoded.channels] if decoded.channels > 1 else decoded.samples
    payload = array("h", mono)
    if sys.byteorder == "big":
        payload.byteswap()
    frame_len = int(REQUIRED_SAMPLE_RATE * FRAME_SECONDS)
    voiced = 0
    for start in range(0, len(mono) - frame_len + 1, frame_len):
        window = mono[start : start + frame_len]
        energy = math.sqrt(sum(map(operator.mul, window, window)) / frame_len)
        if energy > rms_threshold:
            voiced += 1
    return ChannelAnalysis(
        speech_seconds=round(voiced * FRAME_SECONDS, 6),
        fingerprint=hashlib.sha256(payload.tobytes()).hexdigest(),
        duration_seconds=len(mono) / REQUIRED_SAMPLE_RATE,
    )


def analyze(data: bytes, channel: int, rms_threshold: float = DEFAULT_RMS_THRESHOLD) -> ChannelAnalysis:
    """Check the format and measure speech on one channel; AudioFormatError when Voice ID would reject it."""
    return analyze_channel(decode(data), channel, rms_threshold)


def _speech_samples(count: int, sample_rate: int, rng: Random) -> list[int]:
    """Speech-like signal: seeded tones with a syllable-rate envelope plus noise, well above the threshold."""
    tones = [(rng.uniform(120.0, 300.0), rng.uniform(0.3, 0.6)) for _ in range(3)]
    syllable_hz = rng.uniform(3.0, 5.0)
    out: list[int] = []
    for n in range(count):
        t = n / sample_rate
        envelope = 0.6 + 0.4 * abs(math.sin(math.pi * syllable_hz * t))
        value = sum(amp * math.sin(2 * math.pi * freq * t) for freq, amp in tones)
        value = envelope * value * 9000.0 + rng.uniform(-800.0, 800.0)
        out.append(max(-32768, min(32767, int(value))))
    return out


def make_wav(
    seconds_speech: float,
    seconds_silence: float = 0.0,
    *,
    sample_rate: int = REQUIRED_SAMPLE_RATE,
    seed: int = 0,
    channels: int = 1,
    sample_width: int = REQUIRED_SAMPLE_WIDTH,
) -> bytes:
    """A deterministic WAV: `seconds_speech` of speech-like sound followed by `seconds_silence` of silence.

    Different seeds give different PCM and so different fingerprints. Each channel is seeded with
    its channel number too, so each channel has its own fingerprint. Pass `sample_rate=16000` or
    `sample_width=1` to make audio that Voice ID rejects.
    """
    speech_count = round(seconds_speech * sample_rate)
    silence_count = round(seconds_silence * sample_rate)
    per_channel = [
        _speech_samples(speech_count, sample_rate, Random(f"{seed}:{ch}")) + [0] * silence_count
        for ch in range(channels)
    ]
    interleaved = [per_channel[ch][n] for n in range(speech_count + silence_count) for ch in range(channels)]
    if sample_width == 2:
        frames = struct.pack(f"<{len(interleaved)}h", *interleaved)
    elif sample_width == 1:
        frames = bytes(((s >> 8) + 128) & 0xFF for s in interleaved)
    else:
        raise ValueError("sample_width must be 1 or 2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(sample_width)
        writer.setframerate(sample_rate)
        writer.writeframes(frames)
    return buffer.getvalue()


def make_invalid_wav(kind: str = "sample_rate", seconds_speech: float = 3.0, seed: int = 0) -> bytes:
    """Audio Voice ID rejects: kind "sample_rate" (16 kHz), "sample_width" (8-bit) or "not_wav" (garbage)."""
    if kind == "sample_rate":
        return make_wav(seconds_speech, sample_rate=16000, seed=seed)
    if kind == "sample_width":
        return make_wav(seconds_speech, seed=seed, sample_width=1)
    if kind == "not_wav":
        return b"this is not a RIFF/WAVE file" * 4
    raise ValueError(f"unknown invalid audio kind {kind!r}")
