"""``edgevoice say "TEXT"``: an announcement in the assistant's voice, from a script."""

from __future__ import annotations

import argparse
from typing import Any

from edgevoice.control.client import add_socket_arguments, run_command
from edgevoice.control.protocol import MAX_SAY_CHARS, Request

HELP = "make the running assistant say TEXT (after the current turn; --interrupt: now)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", metavar="TEXT", help=f"what to say (at most {MAX_SAY_CHARS} characters)")
    parser.add_argument("--interrupt", action="store_true", help="stop the current reply (or turn) and say it now")
    add_socket_arguments(parser)


def main(args: argparse.Namespace) -> int:
    return run_command(args, Request("say", text=args.text, interrupt=args.interrupt), describe)


def describe(reply: dict[str, Any]) -> str:
    if reply.get("said") == "now":
        how = "through the session" if reply.get("via") == "session" else "with the device's own voice (offline)"
        return f"saying it now, {how}"
    return f"queued (number {reply.get('position')}): said when the current turn is over"
