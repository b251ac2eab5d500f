"""The client side of the control socket: one request, one reply, and clear words when that fails."""

from __future__ import annotations

import argparse
import errno
import json
import socket
import sys
from pathlib import Path
from typing import Any

from edgevoice.control import protocol as P

TIMEOUT_S = 40.0  # the daemon answers a reload within 30 s


class ControlError(Exception):
    """The daemon could not be asked: no socket, no permission, no answer."""


def socket_path(given: str | None, config_path: str | None = None) -> Path:
    """``--socket``, else [control] socket of the config (when it can be read), else the default."""
    if given:
        return Path(given)
    from edgevoice.config.control import default_socket

    try:
        from edgevoice.config.load import load_config

        return load_config(config_path).control.socket_path()
    except Exception:  # no config here (a client on a machine with only the socket): the default
        return default_socket()


def ask(path: str | Path, request: P.Request, *, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """Send ``request`` to the daemon at ``path`` and return its reply (ok or not)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(str(path))
        except FileNotFoundError:
            raise ControlError(f"no control socket at {path}: is the daemon running (systemctl status edgevoice)?") from None
        except PermissionError:
            raise ControlError(f"permission denied on {path}: run as root or as a member of the daemon's group "
                               "([control] group, 'edgevoice' by default: sudo usermod -aG edgevoice $USER)") from None
        except ConnectionRefusedError:
            raise ControlError(f"nothing listens on {path}: the daemon is not running") from None
        except OSError as exc:
            raise ControlError(f"cannot connect to {path}: {exc.strerror or exc}") from None
        try:
            sock.sendall(P.encode_request(request))
            data = bytearray()
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise ControlError(f"the daemon did not answer within {timeout_s:g} s") from None
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                raise ControlError("the daemon closed the connection without answering") from None
            raise ControlError(f"talking to the daemon failed: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        return P.decode_reply(bytes(data))
    except ValueError:
        raise ControlError("the daemon's answer is not a control reply") from None


def add_socket_arguments(parser: argparse.ArgumentParser) -> None:
    """--socket, --config and --json, common to the control commands."""
    parser.add_argument("--socket", metavar="PATH", help="the daemon's control socket (default: [control] socket of "
                        "the config, else /run/edgevoice/control.sock)")
    parser.add_argument("--config", metavar="PATH", help="config file to find the socket in (default: "
                        "$EDGEVOICE_CONFIG, else /etc/edgevoice/edgevoice.toml)")
    parser.add_argument("--json", action="store_true", help="print the daemon's reply as one JSON object")


def run_command(args: argparse.Namespace, request: P.Request, describe) -> int:
    """Ask, print the reply (``describe(reply)`` for people, or JSON) and return the exit status:
    0 done, 1 the daemon refused or failed, 69 (EX_UNAVAILABLE) the daemon could not be asked."""
    try:
        reply = ask(socket_path(args.socket, args.config), request)
    except ControlError as exc:
        if args.json:
            print(json.dumps(P.error_reply("unavailable", str(exc))))
        else:
            print(f"edgevoice: {exc}", file=sys.stderr)
        return 69
    if args.json:
        print(json.dumps(reply, indent=None))
    elif reply.get("ok"):
        print(describe(reply))
    else:
        error = reply.get("error") or {}
        print(f"edgevoice: the daemon refused: {error.get('message', 'unknown error')}", file=sys.stderr)
    return 0 if reply.get("ok") else 1
