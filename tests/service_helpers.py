"""Test helpers for the systemd face: a real notify socket that records sd_notify datagrams."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path


class NotifySocket:
    """A bound AF_UNIX/SOCK_DGRAM socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def receive(self, timeout: float = 10.0) -> str | None:
        """The next datagram, or None if none arrives within ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536).decode("utf-8")
        except TimeoutError:
            return None

    def drain(self) -> list[str]:
        """Every datagram already queued, without waiting."""
        messages = []
        self.sock.setblocking(False)
        try:
            while True:
                messages.append(self.sock.recv(65536).decode("utf-8"))
        except BlockingIOError:
            return messages
        finally:
            self.sock.setblocking(True)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> tuple[str, list[str]]:
        """Read datagrams until one matches; returns it and everything read before it."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None:
                break
            if predicate(message):
                return message, seen
            seen.append(message)
        raise AssertionError(f"no matching notify message within {timeout} s; got {seen!r}")

    def close(self) -> None:
        self.sock.close()


def fields(message: str) -> dict[str, str]:
    """``"READY=1\\nSTATUS=x"`` -> ``{"READY": "1", "STATUS": "x"}``."""
    return dict(line.split("=", 1) for line in message.splitlines() if line)
