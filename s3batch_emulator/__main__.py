"""`python -m s3batch_emulator` (`make s3batch`): run the S3 Batch Operations emulator alone until SIGINT/SIGTERM.

SDKs reach it with `endpoint_url=http://localhost:<port>` and the emulator as their HTTP proxy (the account-id
host prefix: see s3batch_emulator/protocol.py); tasks act on `--s3-endpoint-url` and `--lambda-endpoint-url`."""

from __future__ import annotations

import argparse
import os
import sys

from emulator_core.cli import emulator_options, emulator_parser, env_float, serve
from s3batch_emulator.emulator import S3BatchEmulator
from s3batch_emulator.faults import DEFAULT_TPS
from s3batch_emulator.jobs import Pacing

DEFAULT_PORT = 8768


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = emulator_parser("python -m s3batch_emulator", __doc__, "S3BATCH", DEFAULT_PORT)
    parser.add_argument("--lambda-endpoint-url", default=os.environ.get("S3BATCH_LAMBDA_ENDPOINT_URL"))
    parser.add_argument(
        "--throttling-tps",
        type=float,
        default=env_float("S3BATCH_THROTTLING_TPS", 0.0),
        help=f"throttle the API at this many calls per second (0: off, the default; e.g. {DEFAULT_TPS})",
    )
    parser.add_argument("--stage-seconds", type=float, default=env_float("S3BATCH_STAGE_SECONDS", 1.0))
    parser.add_argument(
        "--tasks-per-second",
        type=float,
        default=env_float("S3BATCH_TASKS_PER_SECOND", 50.0),
        help="task pacing (0: as fast as possible)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return serve(
        lambda: S3BatchEmulator(
            **emulator_options(args),
            lambda_endpoint_url=args.lambda_endpoint_url,
            throttling=args.throttling_tps > 0,
            tps=args.throttling_tps if args.throttling_tps > 0 else DEFAULT_TPS,
            pacing=Pacing.real_time(args.stage_seconds, args.tasks_per_second),
        ),
        "S3BATCH",
    )


if __name__ == "__main__":
    sys.exit(main())
