"""The control socket's wire format, version 1: one JSON object per line each way (sans I/O).

A request is one line of UTF-8 JSON, at most ``MAX_LINE`` bytes with its newline::

    {"v": 1, "cmd": "status"}
    {"v": 1, "cmd": "say", "text": "The shop closes in ten minutes.", "interrupt": false}
    {"v": 1, "cmd": "mute"}      {"v": 1, "cmd": "unmute"}      {"v": 1, "cmd": "reload"}

``v`` may be left out (it means 1); an optional ``id`` (string or integer) is echoed. The daemon
answers with one line and closes the connection::

    {"v": 1, "ok": true, "cmd": "say", ...what the command reports...}
    {"v": 1, "ok": false, "error": {"code": "bad_request", "message": "..."}}

Error codes: ``bad_json``, ``bad_request``, ``unknown_command``, ``unsupported_version``,
``line_too_long``, ``timeout`` (no complete line in time), ``busy`` (too many clients, or the
assistant did not answer in time), ``failed`` (the command could not be carried out).
:func:`parse_request` never raises: bad input becomes a :class:`ProtocolError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VERSION = 1
MAX_LINE = 4096  # bytes, newline included
MAX_SAY_CHARS = 1000
COMMANDS = ("status", "say", "mute", "unmute", "reload")


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request."""

    cmd: str
    text: str = ""  # say
    interrupt: bool = False  # say
    id: str | int | None = None


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Why a line is not a request (``code`` one of the error codes above)."""

    code: str
    message: str
    id: str | int | None = None


def parse_request(line: bytes) -> Request | ProtocolError:
    """The request on one line (without or with its newline)."""
    if len(line) > MAX_LINE:
        return ProtocolError("line_too_long", f"a request is at most {MAX_LINE} bytes")
    try:
        data = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return ProtocolError("bad_json", "the request is not UTF-8 text")
    except ValueError as exc:
        return ProtocolError("bad_json", f"the request is not JSON: {exc}")
    if not isinstance(data, dict):
        return ProtocolError("bad_request", "the request must be a JSON object")
    rid = data.get("id")
    if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (str, int)) or len(str(rid)) > 64):
        return ProtocolError("bad_request", "id must be a string or an integer (64 characters at most)")
    version = data.get("v", VERSION)
    if version != VERSION or isinstance(version, bool):
        return ProtocolError("unsupported_version", f"protocol version {version!r} is not supported; this daemon "
                             f"speaks version {VERSION}", rid)
    cmd = data.get("cmd")
    if not isinstance(cmd, str):
        return ProtocolError("bad_request", "cmd (a string) is missing", rid)
    if cmd not in COMMANDS:
        return ProtocolError("unknown_command", f"unknown command {cmd[:40]!r}; known: {', '.join(COMMANDS)}", rid)
    if cmd != "say":
        return Request(cmd, id=rid)
    text, interrupt = data.get("text"), data.get("interrupt", False)
    if not isinstance(text, str) or not text.strip():
        return ProtocolError("bad_request", "say needs text: a non-empty string", rid)
    if len(text) > MAX_SAY_CHARS:
        return ProtocolError("bad_request", f"say text is {len(text)} characters; at most {MAX_SAY_CHARS}", rid)
    if not isinstance(interrupt, bool):
        return ProtocolError("bad_request", "interrupt must be true or false", rid)
    return Request("say", text=" ".join(text.split()), interrupt=interrupt, id=rid)


def encode_request(request: Request) -> bytes:
    """The line a client sends for ``request``."""
    data: dict[str, Any] = {"v": VERSION, "cmd": request.cmd}
    if request.cmd == "say":
        data.update(text=request.text, interrupt=request.interrupt)
    if request.id is not None:
        data["id"] = request.id
    return (json.dumps(data) + "\n").encode("utf-8")


def ok_reply(cmd: str, body: dict[str, Any], rid: str | int | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"v": VERSION, "ok": True, "cmd": cmd, **body}
    if rid is not None:
        reply["id"] = rid
    return reply


def error_reply(code: str, message: str, rid: str | int | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"v": VERSION, "ok": False, "error": {"code": code, "message": message}}
    if rid is not None:
        reply["id"] = rid
    return reply


def encode_reply(reply: dict[str, Any]) -> bytes:
    """One reply line (non-JSON values, such as paths, as strings)."""
    return (json.dumps(reply, default=str, separators=(",", ":")) + "\n").encode("utf-8")


def decode_reply(line: bytes) -> dict[str, Any]:
    """A reply line; raises ValueError if it is not a reply of this protocol."""
    data = json.loads(line.decode("utf-8"))
    if not isinstance(data, dict) or "ok" not in data:
        raise ValueError("not a control reply")
    return data
