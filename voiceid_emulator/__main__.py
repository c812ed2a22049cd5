"""`python -m voiceid_emulator`: run the emulator alone until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from voiceid_emulator.clock import Pacing
from voiceid_emulator.emulator import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_MIN_SPEECH_SECONDS,
    DEFAULT_REGION,
    VoiceIdEmulator,
)

DEFAULT_PORT = 8766


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m voiceid_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or DEFAULT_PORT))
    parser.add_argument("--region", default=os.environ.get("VOICEID_REGION", DEFAULT_REGION))
    parser.add_argument("--account-id", default=os.environ.get("VOICEID_ACCOUNT_ID", DEFAULT_ACCOUNT_ID))
    parser.add_argument("--s3-endpoint-url", default=os.environ.get("VOICEID_S3_ENDPOINT_URL"))
    parser.add_argument("--events-endpoint-url", default=os.environ.get("VOICEID_EVENTS_ENDPOINT_URL"))
    parser.add_argument("--event-bus", default=os.environ.get("VOICEID_EVENT_BUS", "default"))
    parser.add_argument(
        "--no-throttling",
        action="store_true",
        default=os.environ.get("VOICEID_THROTTLING", "1").lower() in {"0", "false", "no", "off"},
        help="disable the 2 TPS token bucket (env VOICEID_THROTTLING=0)",
    )
    parser.add_argument("--submitted-seconds", type=float, default=_env_float("VOICEID_SUBMITTED_SECONDS", 1.0))
    parser.add_argument("--seconds-per-request", type=float, default=_env_float("VOICEID_SECONDS_PER_REQUEST", 0.5))
    parser.add_argument(
        "--min-speech-seconds",
        type=float,
        default=_env_float("VOICEID_MIN_SPEECH_SECONDS", DEFAULT_MIN_SPEECH_SECONDS),
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=os.environ.get("VOICEID_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    emulator = VoiceIdEmulator(
        port=args.port,
        region=args.region,
        account_id=args.account_id,
        s3_endpoint_url=args.s3_endpoint_url,
        events_endpoint_url=args.events_endpoint_url,
        event_bus=args.event_bus,
        throttling=not args.no_throttling,
        pacing=Pacing.real_time(args.submitted_seconds, args.seconds_per_request),
        min_speech_seconds=args.min_speech_seconds,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with emulator:
        print(f"Voice ID emulator listening on {emulator.endpoint_url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
