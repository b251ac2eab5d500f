"""``edgevoice reload``: re-read the config, as ``systemctl reload`` (SIGHUP) does, and say whether it took."""

from __future__ import annotations

import argparse
from typing import Any

from edgevoice.control.client import add_socket_arguments, run_command
from edgevoice.control.protocol import Request

HELP = "re-read the config file (between turns) and say whether the new config was applied"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_socket_arguments(parser)


def main(args: argparse.Namespace) -> int:
    return run_command(args, Request("reload"), describe)


def describe(reply: dict[str, Any]) -> str:
    return f"reloaded: {reply.get('message')}"
