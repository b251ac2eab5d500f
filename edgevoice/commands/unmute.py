"""``edgevoice unmute``: switch the running assistant's microphone back on (not while the mute switch is on)."""

from __future__ import annotations

import argparse

from edgevoice.commands.mute import describe
from edgevoice.control.client import add_socket_arguments, run_command
from edgevoice.control.protocol import Request

HELP = "unmute the running assistant (refused while the hardware mute switch is on)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_socket_arguments(parser)


def main(args: argparse.Namespace) -> int:
    return run_command(args, Request("unmute"), describe)
