"""`python -m bedrock_emulator` (`make bedrock`): run the Bedrock emulator alone until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from bedrock_emulator.emulator import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, BedrockEmulator
from bedrock_emulator.faults import DEFAULT_TPS
from bedrock_emulator.jobs import Pacing

DEFAULT_PORT = 8767


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bedrock_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or DEFAULT_PORT))
    parser.add_argument("--region", default=os.environ.get("BEDROCK_REGION", DEFAULT_REGION))
    parser.add_argument("--account-id", default=os.environ.get("BEDROCK_ACCOUNT_ID", DEFAULT_ACCOUNT_ID))
    parser.add_argument("--s3-endpoint-url", default=os.environ.get("BEDROCK_S3_ENDPOINT_URL"))
    parser.add_argument("--events-endpoint-url", default=os.environ.get("BEDROCK_EVENTS_ENDPOINT_URL"))
    parser.add_argument("--event-bus", default=os.environ.get("BEDROCK_EVENT_BUS", "default"))
    parser.add_argument(
        "--throttling-tps",
        type=float,
        default=_env_float("BEDROCK_THROTTLING_TPS", 0.0),
        help=f"throttle the API at this many calls per second (0: off, the default; e.g. {DEFAULT_TPS})",
    )
    parser.add_argument("--stage-seconds", type=float, default=_env_float("BEDROCK_STAGE_SECONDS", 1.0))
    parser.add_argument(
        "--records-per-second",
        type=float,
        default=_env_float("BEDROCK_RECORDS_PER_SECOND", 20.0),
        help="record pacing (0: as fast as possible)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=os.environ.get("BEDROCK_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    emulator = BedrockEmulator(
        port=args.port,
        region=args.region,
        account_id=args.account_id,
        s3_endpoint_url=args.s3_endpoint_url,
        events_endpoint_url=args.events_endpoint_url,
        event_bus=args.event_bus,
        throttling=args.throttling_tps > 0,
        tps=args.throttling_tps if args.throttling_tps > 0 else DEFAULT_TPS,
        pacing=Pacing.real_time(args.stage_seconds, args.records_per_second),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with emulator:
        print(f"Bedrock emulator listening on {emulator.endpoint_url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
