"""What `python -m voiceid_emulator` and `python -m bedrock_emulator` share: the options every emulator takes
(each from an environment variable under the emulator's own prefix), and serving until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from emulator_core.emulator import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Emulator


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def emulator_parser(prog: str, description: str | None, env_prefix: str, default_port: int) -> argparse.ArgumentParser:
    """A parser with the options every emulator takes; `env_prefix` (e.g. VOICEID) names their variables."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or default_port))
    parser.add_argument("--region", default=os.environ.get(f"{env_prefix}_REGION", DEFAULT_REGION))
    parser.add_argument("--account-id", default=os.environ.get(f"{env_prefix}_ACCOUNT_ID", DEFAULT_ACCOUNT_ID))
    parser.add_argument("--s3-endpoint-url", default=os.environ.get(f"{env_prefix}_S3_ENDPOINT_URL"))
    parser.add_argument("--events-endpoint-url", default=os.environ.get(f"{env_prefix}_EVENTS_ENDPOINT_URL"))
    parser.add_argument("--event-bus", default=os.environ.get(f"{env_prefix}_EVENT_BUS", "default"))
    return parser


def emulator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The constructor arguments every emulator takes, from the options `emulator_parser` added."""
    return {
        "port": args.port,
        "region": args.region,
        "account_id": args.account_id,
        "s3_endpoint_url": args.s3_endpoint_url,
        "events_endpoint_url": args.events_endpoint_url,
        "event_bus": args.event_bus,
    }


def serve(build: Callable[[], Emulator[Any, Any]], env_prefix: str) -> int:
    """Log at `<env_prefix>_LOG_LEVEL` (INFO), build the emulator and run it until SIGINT or SIGTERM."""
    logging.basicConfig(
        level=os.environ.get(f"{env_prefix}_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    emulator = build()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with emulator:
        print(f"{emulator.service_name} emulator listening on {emulator.endpoint_url}", flush=True)
        stop.wait()
    return 0
