"""``edgevoice mute``: switch the running assistant's microphone off (a hardware mute switch wins)."""

from __future__ import annotations

import argparse
from typing import Any

from edgevoice.control.client import add_socket_arguments, run_command
from edgevoice.control.protocol import Request

HELP = "mute the running assistant: nothing is heard or sent until `edgevoice unmute`"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_socket_arguments(parser)


def main(args: argparse.Namespace) -> int:
    return run_command(args, Request("mute"), describe)


def describe(reply: dict[str, Any]) -> str:
    """What mute or unmute left the assistant in."""
    if not reply.get("muted"):
        return f"unmuted ({reply.get('state')})"
    return "muted" + (" (the hardware mute switch is on)" if reply.get("switch") else "")
