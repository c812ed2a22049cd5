"""`python -m voiceid_emulator`: run the emulator alone until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import os
import sys

from emulator_core.cli import emulator_options, emulator_parser, env_float, serve
from voiceid_emulator.clock import Pacing
from voiceid_emulator.emulator import DEFAULT_MIN_SPEECH_SECONDS, VoiceIdEmulator

DEFAULT_PORT = 8766


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = emulator_parser("python -m voiceid_emulator", __doc__, "VOICEID", DEFAULT_PORT)
    parser.add_argument(
        "--no-throttling",
        action="store_true",
        default=os.environ.get("VOICEID_THROTTLING", "1").lower() in {"0", "false", "no", "off"},
        help="disable the 2 TPS token bucket (env VOICEID_THROTTLING=0)",
    )
    parser.add_argument("--submitted-seconds", type=float, default=env_float("VOICEID_SUBMITTED_SECONDS", 1.0))
    parser.add_argument("--seconds-per-request", type=float, default=env_float("VOICEID_SECONDS_PER_REQUEST", 0.5))
    parser.add_argument(
        "--min-speech-seconds",
        type=float,
        default=env_float("VOICEID_MIN_SPEECH_SECONDS", DEFAULT_MIN_SPEECH_SECONDS),
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return serve(
        lambda: VoiceIdEmulator(
            **emulator_options(args),
            throttling=not args.no_throttling,
            pacing=Pacing.real_time(args.submitted_seconds, args.seconds_per_request),
            min_speech_seconds=args.min_speech_seconds,
        ),
        "VOICEID",
    )


if __name__ == "__main__":
    sys.exit(main())
