"""``edgevoice emulator``: run the local Voice Live emulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
from typing import Any

HELP = "run the local Voice Live emulator"

KEY_ENV = "AZURE_VOICELIVE_API_KEY"
# Nobody reads the session records here (tests do, in process): a long run (a soak) keeps the latest few,
# so its memory stays flat however many sessions it serves.
KEEP_SESSIONS = 10

_EPILOG = """\
Scenario file (TOML, or JSON with the same shape; flags override it):
  pacing = "realtime"                 # "fast" (default) or "realtime" audio deltas
  transcripts = ["what time is it"]   # transcript of the 1st, 2nd, ... user audio item
  replies = ["It is nine o'clock."]   # text of the 1st, 2nd, ... reply
  tool_calls = ['search_knowledge:{"query": "opening hours"}']   # like --tool-call
  [faults]
  connections = 1                     # only the first connection misbehaves
  reject_status = 503                 # any fault flag above, with _ for -

"After N audio deltas" faults fire within every response of an affected connection.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edgevoice.voicelive.emulator.faults import FaultPlan

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on, 0 for any free port (default: %(default)s)")
    parser.add_argument(
        "--api-key", help=f"the key clients must present (default: ${KEY_ENV}; with neither, any key is accepted)"
    )
    parser.add_argument("--scenario", metavar="FILE", help="TOML or JSON scenario: faults, transcripts, replies, pacing")
    parser.add_argument("--pacing", choices=("fast", "realtime"), help="send reply audio as fast as possible or in real time")
    parser.add_argument("--transcript", action="append", default=[], metavar="TEXT", help="script a user transcript (repeatable)")
    parser.add_argument("--reply", action="append", default=[], metavar="TEXT", help="script a reply text (repeatable)")
    parser.add_argument(
        "--tool-call", action="append", default=[], metavar="NAME:JSON_ARGS",
        help="the next model response calls this function tool, then answers from its output (repeatable)",
    )
    faults = parser.add_argument_group("faults", "misbehave on purpose (see the list below)")
    for f in dataclasses.fields(FaultPlan):
        flag = "--" + f.name.replace("_", "-")
        if "bool" in str(f.type):
            faults.add_argument(flag, dest=f"fault_{f.name}", action="store_true", default=None, help=f.metadata["doc"])
        else:
            kind: Any = float if "float" in str(f.type) else int
            faults.add_argument(flag, dest=f"fault_{f.name}", type=kind, metavar="N", help=f.metadata["doc"])


def main(args: argparse.Namespace) -> int:
    from edgevoice.voicelive.emulator import Emulator, Scenario, load_scenario
    from edgevoice.voicelive.emulator.faults import fault_plan_from_mapping

    from edgevoice.voicelive.emulator.tool_calls import parse_tool_call

    scenario = load_scenario(args.scenario) if args.scenario else Scenario()
    try:
        tool_calls = tuple(parse_tool_call(spec) for spec in args.tool_call) or scenario.tool_calls
    except ValueError as exc:
        print(f"edgevoice emulator: --tool-call: {exc}", file=sys.stderr)
        return 2
    overrides = {k[len("fault_") :]: v for k, v in vars(args).items() if k.startswith("fault_") and v is not None}
    faults = fault_plan_from_mapping({**dataclasses.asdict(scenario.faults), **overrides}) if overrides else scenario.faults
    api_key = args.api_key or os.environ.get(KEY_ENV) or None
    emulator = Emulator(
        args.host,
        args.port,
        api_key,
        faults=faults,
        transcripts=args.transcript or scenario.transcripts,
        replies=args.reply or scenario.replies,
        pacing=args.pacing or scenario.pacing,
        keep_sessions=KEEP_SESSIONS,
        tool_calls=tool_calls,
    )
    try:
        emulator.start()
    except OSError as exc:
        print(f"edgevoice emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    speech = "espeak-ng speech" if emulator.speech.real else "synthetic tones (espeak-ng not found)"
    print(
        f"Voice Live emulator on {emulator.url} (key: {'required' if api_key else 'any'}; replies: {speech}; "
        f"pacing: {emulator.pacing}; faults: {faults.describe()}; speaks Voice Live on /voice-live/realtime and "
        f"Azure OpenAI's GA realtime API on /openai/v1/realtime). Ctrl-C to stop.",
        flush=True,
    )
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
    print(f"Emulator stopped: {emulator.accepted} sessions, {len(emulator.rejected)} refused connections.", flush=True)
    return 0
