"""``edgevoice demo``: the whole assistant on the embedded default, against the local emulator.

Starts the Voice Live emulator on 127.0.0.1, plays a bundled recording of "okay nabu, what is
the weather like today?" through the daemon at real-time pace (the same code path a microphone
takes), and prints what was heard, what was replied and the latency breakdown. The speaker's
output is written to a WAV file aligned with the input.

The answer is grounded: the demo's knowledge folder (a visitor centre's page, bundled) is indexed
on the spot, the emulator's model calls ``search_knowledge`` as the real model would for a question
about the place, and the reply is read from the passage the device found.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
import tempfile
from importlib import resources
from pathlib import Path

HELP = "the whole loop on the embedded default: emulator + a bundled recording"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-wav", metavar="IN", type=Path, help="a recording to use instead of the bundled one")
    parser.add_argument("--output-wav", metavar="OUT", type=Path, default=Path("out/demo-reply.wav"),
                        help="where to write what the speaker played (default out/demo-reply.wav)")
    parser.add_argument("--events", metavar="FILE", type=Path, default=Path("out/demo-events.jsonl"),
                        help="the events file (default out/demo-events.jsonl)")


def main(args: argparse.Namespace) -> int:
    from edgevoice.commands import run as run_command
    from edgevoice.config.load import load_default_config
    from edgevoice.config.tools import KnowledgeConfig
    from edgevoice.voicelive.emulator.tool_calls import ToolCall
    from edgevoice.config.secrets import ApiKey
    from edgevoice.service.journal import setup_logging
    from edgevoice.voicelive.emulator.server import Emulator

    setup_logging(logging.DEBUG if args.verbose >= 2 else logging.INFO if args.verbose else logging.WARNING)
    key = secrets.token_urlsafe(24)  # a throwaway key shared by the demo's client and emulator
    config = load_default_config()
    demo = resources.files("edgevoice").joinpath("data", "demo")
    search = ToolCall("search_knowledge", '{"query": "weather tour"}')  # what a model asks for this question
    with (Emulator(api_key=key, tool_calls=(search,)) as emulator,
          tempfile.TemporaryDirectory(prefix="edgevoice-demo-") as state,
          resources.as_file(demo.joinpath("knowledge")) as knowledge):
        config = dataclasses.replace(
            config,
            voicelive=dataclasses.replace(config.voicelive, endpoint=emulator.url),
            knowledge=KnowledgeConfig(paths=(knowledge,), index_dir=Path(state)),
        )
        recording = args.input_wav
        print(f"knowledge: {_shown(Path(knowledge))} (indexed into a temporary folder)")
        with resources.as_file(demo.joinpath("okay_nabu_weather.wav")) as bundled:
            recording = recording or bundled
            print(f"emulator:  Voice Live emulator at {emulator.url} (model {config.voicelive.model})")
            print(f"input:     {_shown(Path(recording))} (played at real-time pace)")
            args.events.parent.mkdir(parents=True, exist_ok=True)
            args.events.unlink(missing_ok=True)
            run_args = argparse.Namespace(input_wav=recording, output_wav=args.output_wav, events=args.events,
                                          settle_timeout=60.0, verbose=args.verbose)
            records: list[dict] = []
            code = run_command.run(config, run_args, credential=ApiKey(key), reload_path=None, on_record=records.append)
    _report(records)
    print(f"output:    {args.output_wav} (what the speaker played, aligned with the input)")
    print(f"events:    {args.events}")
    if not any(r["event"] == "playback_start" for r in records):
        print("demo: no reply was played", flush=True)
        return 1
    return code


def _report(records: list[dict]) -> None:
    """Print each turn's transcript, tools and reply, then its latency breakdown.

    The reply's text and the latency record come from different threads, so the breakdown is held
    until the turn is over: the printed order is the same on every run.
    """
    latencies: list[str] = []
    for record in records:
        event = record["event"]
        if event == "wake":
            _print_lines(latencies)
            latencies = []
            print(f"--- turn {record['turn']}\nwake word: {record.get('name', '')}")
        elif event == "transcript":
            print(f"heard:     {record['text']}")
        elif event == "reply_text":
            print(f"reply:     {record['text']}")
        elif event == "tool_call":
            used = ", ".join(Path(s).name for s in record.get("sources", ())) or "no files"
            print(f"tool:      {record['name']} ({record['ms']:.1f} ms, from {used})")
        elif event == "turn_latency":
            latencies = [f"  {name[:-3].replace('_', ' '):<22} {value:7.1f} ms"
                         for name, value in record.items() if name.endswith("_ms") and value is not None]
    _print_lines(latencies)


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)


def _shown(path: Path) -> Path:
    """PATH relative to the working directory when it lies below it (the bundled recording in a checkout)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except (OSError, ValueError):
        return path
