"""`make local`: start the local cloud with the synthesized stack deployed, print its endpoints and names, and
serve until interrupted."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from pathlib import Path

from bedrock_emulator import Pacing as BedrockPacing
from local_cloud.environment import (
    BEDROCK_RECORDS_PER_SECOND,
    BEDROCK_STAGE_SECONDS,
    DEFAULT_STATE_DIR,
    DEFAULT_TEMPLATE,
    IAM_SWITCH_VARIABLE,
    BedrockSettings,
    LocalEnvironment,
    VoiceIdSettings,
)
from voiceid_emulator.clock import Pacing


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local_cloud", description=__doc__)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="synthesized stack template")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="logs and outputs.json")
    parser.add_argument("--no-throttling", action="store_true", help="switch off Voice ID's 2 TPS limit")
    parser.add_argument("--seconds-per-request", type=float, default=0.4, help="Voice ID job pacing")
    parser.add_argument(
        "--bedrock-records-per-second",
        type=float,
        default=BEDROCK_RECORDS_PER_SECOND,
        help="Bedrock job pacing (0: as fast as possible)",
    )
    parser.add_argument(
        "--no-iam",
        action="store_true",
        help=f"accept every call of the stack's roles (IAM is enforced unless this or {IAM_SWITCH_VARIABLE}=off)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)

    stop = threading.Event()
    # Both, explicitly: a shell that starts this in the background makes it ignore SIGINT otherwise.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    settings = VoiceIdSettings(
        pacing=Pacing(submitted_seconds=1.0, seconds_per_request=args.seconds_per_request),
        throttling=not args.no_throttling,
    )
    with LocalEnvironment(
        template_path=args.template,
        state_dir=args.state_dir,
        voice_id=settings,
        bedrock=BedrockSettings(pacing=BedrockPacing.real_time(BEDROCK_STAGE_SECONDS, args.bedrock_records_per_second)),
        enforce_iam=False if args.no_iam else None,
    ) as local:
        outputs = local.outputs()
        print("Local cloud is up (Ctrl-C to stop). Everything listens on 127.0.0.1, except DynamoDB Local,")
        print("which has no bind option.")
        if local.enforce_iam:
            print(f"IAM: the template's policies are enforced ({IAM_SWITCH_VARIABLE}=off or --no-iam to accept all).")
        else:
            print("IAM: not enforced; every call is accepted.")
        print(json.dumps(outputs, indent=2))
        print(f"Written to {local.outputs_path}")
        stop.wait()
    print("Local cloud stopped.")


if __name__ == "__main__":
    main()
