"""`python -m bedrock_emulator` (`make bedrock`): run the Bedrock emulator alone until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import sys

from bedrock_emulator.emulator import BedrockEmulator
from bedrock_emulator.faults import DEFAULT_TPS
from bedrock_emulator.jobs import Pacing
from emulator_core.cli import emulator_options, emulator_parser, env_float, serve

DEFAULT_PORT = 8767


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = emulator_parser("python -m bedrock_emulator", __doc__, "BEDROCK", DEFAULT_PORT)
    parser.add_argument(
        "--throttling-tps",
        type=float,
        default=env_float("BEDROCK_THROTTLING_TPS", 0.0),
        help=f"throttle the API at this many calls per second (0: off, the default; e.g. {DEFAULT_TPS})",
    )
    parser.add_argument("--stage-seconds", type=float, default=env_float("BEDROCK_STAGE_SECONDS", 1.0))
    parser.add_argument(
        "--records-per-second",
        type=float,
        default=env_float("BEDROCK_RECORDS_PER_SECOND", 20.0),
        help="record pacing (0: as fast as possible)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return serve(
        lambda: BedrockEmulator(
            **emulator_options(args),
            throttling=args.throttling_tps > 0,
            tps=args.throttling_tps if args.throttling_tps > 0 else DEFAULT_TPS,
            pacing=Pacing.real_time(args.stage_seconds, args.records_per_second),
        ),
        "BEDROCK",
    )


if __name__ == "__main__":
    sys.exit(main())
