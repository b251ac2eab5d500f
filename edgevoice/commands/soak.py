"""``edgevoice soak``: hundreds of turns with the whole daemon against the local emulator; does anything grow?"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
from pathlib import Path

HELP = "hundreds of turns with the daemon, faster than real time: nothing may grow"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--turns", type=int, default=500, metavar="N", help="turns to hold (default 500)")
    parser.add_argument("--warmup", type=int, default=50, metavar="N",
                        help="turns before memory, threads and files are held constant (default 50)")
    parser.add_argument("--speed", type=float, default=20.0, metavar="X",
                        help="play the conversation at up to X times real time; the daemon's timers follow "
                             "(default 20; 0: as fast as the daemon listens)")
    parser.add_argument("--reload-every", type=int, default=0, metavar="N",
                        help="reload the config (as SIGHUP does) after every N-th cycle of 10 turns instead of "
                             "waiting out the idle timeout (default 0: never)")
    parser.add_argument("--output-wav", metavar="OUT", type=Path, help="record what the speaker played (default: nowhere)")
    parser.add_argument("--events", metavar="FILE", type=Path, help="append one JSON object per milestone to FILE")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def main(args: argparse.Namespace) -> int:
    from edgevoice.bench.soak import SoakOptions, run_soak
    from edgevoice.config.secrets import API_KEY_ENV
    from edgevoice.service.journal import setup_logging

    if args.turns < 1 or not 0 <= args.warmup < args.turns or args.speed < 0 or args.reload_every < 0:
        print("edgevoice soak: need --turns >= 1, 0 <= --warmup < --turns, --speed >= 0 and --reload-every >= 0",
              file=sys.stderr)
        return 2
    redactor = setup_logging(logging.DEBUG if args.verbose >= 2 else logging.INFO if args.verbose else logging.WARNING)
    # The daemon and the emulator share a key: $AZURE_VOICELIVE_API_KEY if set (it never leaves this
    # machine: the emulator runs on 127.0.0.1), else a throwaway one.
    key = os.environ.get(API_KEY_ENV, "").strip() or secrets.token_urlsafe(24)
    redactor.add_secret(key)
    if args.events is not None:
        args.events.parent.mkdir(parents=True, exist_ok=True)
    if args.output_wav is not None:
        args.output_wav.parent.mkdir(parents=True, exist_ok=True)
    options = SoakOptions(turns=args.turns, warmup_turns=args.warmup, speed=args.speed,
                          reload_every=args.reload_every, output_wav=args.output_wav, events=args.events)
    report = run_soak(options, api_key=key, progress=lambda text: print(f"soak: {text}", file=sys.stderr, flush=True))
    print(json.dumps(report.as_json(), indent=2) if args.json else report.table(), flush=True)
    return 0 if not report.problems() else 1
