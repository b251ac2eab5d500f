"""The ``edgevoice`` command: one subcommand per module in :mod:`edgevoice.commands`.

Subcommand modules are imported only when chosen, so ``edgevoice check`` starts without
loading numpy or the audio libraries. Each module has ``HELP`` (one line),
``add_arguments(parser)`` and ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence

from edgevoice import __version__
from edgevoice.config.errors import EX_CONFIG, ConfigError

# name -> (module, one-line help). Help lives here too so that --help needs no imports.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("edgevoice.commands.run", "run the assistant: listen, wake, talk to Voice Live, play replies"),
    "check": ("edgevoice.commands.check", "validate the config and print the session it would send"),
    "detect": ("edgevoice.commands.detect", "run the listening front-end over a WAV file and print wake words"),
    "devices": ("edgevoice.commands.devices", "list capture and playback devices"),
    "tune": ("edgevoice.commands.tune", "listen to the room and recommend a wake word sensitivity (prints the config line)"),
    "emulator": ("edgevoice.commands.emulator", "run the local Voice Live emulator"),
    "demo": ("edgevoice.commands.demo", "one spoken round trip against the emulator from a bundled recording"),
    "bench": ("edgevoice.commands.bench", "measure CPU, memory and latencies on this machine (--json: one JSON object)"),
    "cache": ("edgevoice.commands.cache", "render (warm) or list the cached phrases spoken when Voice Live cannot answer"),
    "knowledge": ("edgevoice.commands.knowledge", "index the [knowledge] documents, search them as the assistant would, or list them"),
    "cost": ("edgevoice.commands.cost", "print per-day token usage and cost from the usage ledger (--json: one JSON object)"),
    "soak": ("edgevoice.commands.soak", "hundreds of turns with the daemon, faster than real time: nothing may grow"),
    "install-service": ("edgevoice.commands.install_service", "install the systemd service (--dry-run shows the steps)"),
    "status": ("edgevoice.commands.status", "what the running assistant is doing: state, connectivity, turns, latencies, devices (--json for scripts)"),
    "say": ("edgevoice.commands.say", "make the running assistant say TEXT (after the current turn; --interrupt: now)"),
    "mute": ("edgevoice.commands.mute", "mute the running assistant: nothing is heard or sent until `edgevoice unmute`"),
    "unmute": ("edgevoice.commands.unmute", "unmute the running assistant (refused while the hardware mute switch is on)"),
    "reload": ("edgevoice.commands.reload", "re-read the config file (between turns) and say whether the new config was applied"),
}


def build_parser(available: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command."""
    parser = argparse.ArgumentParser(prog="edgevoice", description="Device-side voice assistant for Azure Voice Live.")
    parser.add_argument("--version", action="version", version=f"edgevoice {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if available is None else available:
        sub.add_parser(name, help=COMMANDS[name][1], description=COMMANDS[name][1])
    return parser


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run one subcommand, and turn a bad config into exit status 78."""
    argv = list(sys.argv[1:] if argv is None else argv)
    available = [name for name, (module, _) in COMMANDS.items() if _module_exists(module)]
    parser = build_parser(available)
    # Let the chosen subcommand add its own arguments before the full parse.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    module = None
    if chosen in available:
        module = importlib.import_module(COMMANDS[chosen][0])
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        module.add_arguments(subparsers.choices[chosen])
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    assert module is not None
    try:
        return int(module.main(args) or 0)
    except ConfigError as exc:
        print(f"edgevoice: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except KeyboardInterrupt:
        return 130


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
