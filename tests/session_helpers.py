"""Tiny purpose-built servers on 127.0.0.1 for the Voice Live session tests.

They are written on plain sockets so a test controls every byte: HTTP error answers, silence,
trickling, redirects, pings that are never answered, broken frames, abrupt drops. ``MiniVoiceLive``
speaks just enough of the Voice Live protocol for one turn; the full emulator lives in
``edgevoice/voicelive/emulator``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class RawServer:
    """Accepts TCP connections on 127.0.0.1 and runs ``handler(conn)`` for each in a thread."""

    def __init__(
        self,
        handler: Callable[[socket.socket], None] | None,
        *,
        accept: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = None
        if accept:  # accept=False: the kernel completes TCP handshakes, nobody ever answers
            self._thread = threading.Thread(target=self._serve, daemon=True)
            self._thread.start()

    def url(self, path: str = "/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime") -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(None)
            self.connections.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
                self.connections.append(conn)
            if self.handler is not None:
                self.handler(conn)
        except (OSError, ConnectionError, EOFError):
            pass
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.errors.append(exc)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()
        if self._thread is not None:
            self._thread.join(2)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# HTTP and WebSocket framing, server side
# --------------------------------------------------------------------------------------------


def recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError("peer closed")
        data += chunk
    return data


def read_request(conn: socket.socket) -> tuple[str, dict[str, str]]:
    """The request line and headers (names lower-cased) of an HTTP request."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise EOFError("peer closed during request")
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    line, *rest = head.split("\r\n")
    headers = {}
    for entry in rest:
        name, _, value = entry.partition(":")
        headers[name.strip().lower()] = value.strip()
    return line, headers


def http_response(status: int, reason: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def accept_upgrade(conn: socket.socket, headers: dict[str, str]) -> None:
    accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
    conn.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def read_frame(conn: socket.socket) -> tuple[int, bool, bytes]:
    b1, b2 = recv_exact(conn, 2)
    n = b2 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(conn, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(conn, 8))[0]
    mask = recv_exact(conn, 4) if b2 & 0x80 else None
    data = recv_exact(conn, n)
    if mask:
        key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        data = (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")
    return b1 & 0x0F, bool(b1 & 0x80), data


def send_json(conn: socket.socket, event: dict[str, Any]) -> None:
    conn.sendall(frame(OP_TEXT, json.dumps(event).encode()))


def send_close(conn: socket.socket, code: int, reason: str = "") -> None:
    conn.sendall(frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()))


# --------------------------------------------------------------------------------------------
# A minimal Voice Live server
# --------------------------------------------------------------------------------------------


class MiniVoiceLive(RawServer):
    """Just enough Voice Live for the session tests: one connection at a time, scripted replies.

    Checks the ``api-key`` header when ``key`` is given (401 otherwise); sends ``session.created``;
    answers ``session.update`` with ``session.updated``; on ``response.create`` sends a reply with
    ``reply_pcm`` split into ``chunk`` byte audio deltas. ``script[type](server, conn, event)``
    replaces the default answer to one client event type. Every client event is recorded.
    """

    def __init__(
        self,
        *,
        key: str | None = None,
        expires_at: float | None = None,
        answer_pings: bool = True,
        reply_pcm: bytes = b"\x01\x00" * 2400,
        chunk: int = 1600,
        script: dict[str, Callable[[MiniVoiceLive, socket.socket, dict[str, Any]], None]] | None = None,
        on_connect: Callable[[MiniVoiceLive, socket.socket], None] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.key = key
        self.expires_at = expires_at
        self.answer_pings = answer_pings
        self.reply_pcm = reply_pcm
        self.chunk = chunk
        self.script = script or {}
        self.on_connect = on_connect
        self.received: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self.request_lines: list[str] = []
        self.pings = 0
        self.pongs: list[bytes] = []
        self.close_codes: list[int] = []
        self.audio_in = bytearray()
        self.closed = threading.Event()
        self._counter = 0
        super().__init__(self._handle, tls=tls)

    def next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    def session_object(self) -> dict[str, Any]:
        session: dict[str, Any] = {"id": "sess_1", "model": "gpt-realtime"}
        if self.expires_at is not None:
            session["expires_at"] = self.expires_at
        return session

    def _handle(self, conn: socket.socket) -> None:
        line, headers = read_request(conn)
        self.request_lines.append(line)
        self.request_headers.append(headers)
        if self.key is not None and headers.get("api-key") != self.key:
            conn.sendall(http_response(401, "Unauthorized", body=b'{"error":"invalid key"}'))
            return
        accept_upgrade(conn, headers)
        if self.on_connect is not None:
            self.on_connect(self, conn)
        else:
            send_json(conn, {"type": "session.created", "event_id": self.next_id("event"), "session": self.session_object()})
        while True:
            opcode, _fin, data = read_frame(conn)
            if opcode == OP_PING:
                self.pings += 1
                if self.answer_pings:
                    conn.sendall(frame(OP_PONG, data))
                continue
            if opcode == OP_PONG:
                self.pongs.append(data)
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                self.close_codes.append(code)
                try:
                    conn.sendall(frame(OP_CLOSE, data[:2]))
                except OSError:
                    pass
                self.closed.set()
                return
            if opcode != OP_TEXT:
                continue
            event = json.loads(data)
            self.received.append(event)
            handler = self.script.get(event.get("type"))
            if handler is not None:
                handler(self, conn, event)
            else:
                self.answer(conn, event)

    def answer(self, conn: socket.socket, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session.update":
            session = {**self.session_object(), **event["session"]}
            send_json(conn, {"type": "session.updated", "event_id": self.next_id("event"), "session": session})
        elif kind == "input_audio_buffer.append":
            self.audio_in += base64.b64decode(event["audio"])
        elif kind == "input_audio_buffer.commit":
            send_json(conn, {"type": "input_audio_buffer.committed", "event_id": self.next_id("event"), "item_id": "item_user_1", "previous_item_id": None})
        elif kind == "response.create":
            self.send_reply(conn)

    def send_reply(self, conn: socket.socket, response_id: str = "resp_1", item_id: str = "item_asst_1") -> None:
        base = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        send_json(conn, {"type": "response.created", "event_id": self.next_id("event"), "response": {"id": response_id, "status": "in_progress"}})
        for start in range(0, len(self.reply_pcm), self.chunk):
            piece = self.reply_pcm[start : start + self.chunk]
            send_json(conn, {"type": "response.audio.delta", "event_id": self.next_id("event"), **base, "delta": base64.b64encode(piece).decode()})
        send_json(conn, {"type": "response.audio_transcript.done", "event_id": self.next_id("event"), **base, "transcript": "Hello."})
        send_json(conn, {"type": "response.audio.done", "event_id": self.next_id("event"), **base})
        send_json(
            conn,
            {
                "type": "response.done",
                "event_id": self.next_id("event"),
                "response": {"id": response_id, "status": "completed", "usage": {"total_tokens": 30, "input_tokens": 10, "output_tokens": 20}},
            },
        )


class Collector:
    """Collects ``on_event`` / ``on_close`` callbacks and lets a test wait for them."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.closes: list[tuple[int, str]] = []
        self._cond = threading.Condition()

    def on_event(self, event: Any) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def on_close(self, code: int, reason: str) -> None:
        with self._cond:
            self.closes.append((code, reason))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.02))  # also polls predicates no callback signals
            return True

    def of_type(self, cls: type) -> list[Any]:
        with self._cond:
            return [e for e in self.events if isinstance(e, cls)]
