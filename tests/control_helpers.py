"""Talk to a running daemon's control socket from tests: the real CLI commands, and raw clients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from daemon_helpers import EDGEVOICE
from edgevoice.control.client import ControlError, ask
from edgevoice.control.protocol import Request


def cli(sock: Path, *args: str, timeout: float = 60.0) -> tuple[int, dict[str, Any]]:
    """``edgevoice ARGS --socket SOCK --json`` in a subprocess: its exit status and the JSON it printed."""
    env = {k: v for k, v in os.environ.items() if k != "EDGEVOICE_CONFIG"}
    proc = subprocess.run([*EDGEVOICE, *args, "--socket", str(sock), "--json"], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.stdout.strip(), f"`edgevoice {' '.join(args)}` printed nothing; stderr: {proc.stderr[-2000:]}"
    return proc.returncode, json.loads(proc.stdout)


def status(sock: Path) -> dict[str, Any]:
    """The daemon's status, asked in-process (for polling: cheaper than a CLI process each time)."""
    return ask(sock, Request("status"), timeout_s=10.0)


def wait_for_socket(sock: Path, proc: subprocess.Popen, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the daemon answers on its socket; its first status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the daemon exited ({proc.returncode}) before its socket answered"
        if sock.exists():
            try:
                return status(sock)
            except ControlError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no control socket at {sock} within {timeout} s")


def wait_for_state(sock: Path, wanted: str | set[str], seen: set[str] | None = None, timeout: float = 60.0,
                   quiet: bool = False) -> dict[str, Any]:
    """Poll status until the assistant is in ``wanted`` (and, with ``quiet``, plays and announces nothing);
    every state seen meanwhile goes into ``seen``."""
    wanted = {wanted} if isinstance(wanted, str) else wanted
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = status(sock)
        state = last["assistant"]["state"]
        if seen is not None:
            seen.add(state)
        assistant = last["assistant"]
        if state in wanted and not (quiet and (assistant["playing"] != "nothing" or assistant["announcing"]
                                               or assistant["announcements_waiting"])):
            return last
        time.sleep(0.02)
    raise AssertionError(f"the assistant was not {sorted(wanted)} within {timeout} s; last status: {last.get('assistant')}")


def raw(sock: Path, data: bytes, *, timeout: float = 20.0) -> bytes:
    """Send ``data`` as it is (no newline added) and read until the daemon closes the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        if data:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # it answered and closed before taking everything (an oversized line)
        out = bytearray()
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)
