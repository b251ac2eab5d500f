"""The Voice Live WebSocket session: a thin I/O shell around the sans-I/O protocol.

``VoiceLiveSession(url, headers, session, on_event=...)`` opens the realtime WebSocket
(websocket-client), sends ``session.update`` and waits for ``session.updated``, all within one
hard deadline; then a receive thread turns frames into typed events (``on_event``) and a keep-alive
thread pings the service and notices a dead connection. ``send()`` and the helpers
(``append_audio()``, ``commit()``, ``create_response()``, ...) may be called from any thread.

Why the connect is done by hand: websocket-client's ``timeout`` bounds each socket operation,
not the whole handshake, and cannot interrupt DNS. Here the dialler (:mod:`edgevoice.voicelive.dial`)
makes the DNS lookup, the TCP connection and the TLS handshake within the deadline, and a watchdog
timer shuts the socket down at the deadline, which unblocks whatever step is waiting. Redirects are
never followed (they would carry the key). The errors are in :mod:`edgevoice.voicelive.errors`.

Credentials travel only in the headers given; they never appear in logs, exceptions or reprs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import websocket
from websocket import ABNF

from edgevoice import __version__
from edgevoice.voicelive.backoff import Backoff, parse_retry_after
from edgevoice.voicelive.dial import Deadline, Watchdog, describe, open_tcp, resolve, shutdown, wrap_tls
from edgevoice.voicelive.dialects.base import Dialect
from edgevoice.voicelive.dialects.voice_live import DIALECT as VOICE_LIVE
from edgevoice.voicelive.protocol import client_events
from edgevoice.voicelive.protocol.server_events import Error, ServerEvent, SessionCreated, SessionUpdated
from edgevoice.voicelive.protocol.parser import ParserStats, ServerEventParser
from edgevoice.voicelive.errors import (
    AuthRejected,
    ConnectTimeout,
    NetworkError,
    ProtocolFailure,
    ServiceError,
    SessionClosed,
    SessionError,
    SessionRejected,
    Throttled,
    TlsError,
)
from edgevoice.voicelive.wire_events import WireEvents

logger = logging.getLogger(__name__)

__all__ = [
    "VoiceLiveSession",
    "connect_with_backoff",
]

DEFAULT_SESSION_LIFETIME_S = 3600.0  # Voice Live sessions last at most 60 minutes
_CLOSE_NORMAL = 1000
_CLOSE_ABNORMAL = 1006  # no close frame: reset, EOF, keep-alive timeout
_CLOSE_PROTOCOL = 1002
_CLOSE_INTERNAL = 1011


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


class _Headers:
    """Handshake headers whose values (keys, tokens) stay out of reprs, logs and messages."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        items = []
        for name, value in headers.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"header {name!r} must have a string name and value")
            if not name or any(c in name for c in "\r\n:") or any(c in value for c in "\r\n"):
                raise ValueError(f"header {name!r} contains a line break or colon")  # value not shown
            items.append((name, value))
        if not any(name.lower() == "user-agent" for name, _ in items):
            items.append(("User-Agent", f"edgevoice/{__version__}"))
        self._items = tuple(items)

    def lines(self) -> list[str]:
        return [f"{name}: {value}" for name, value in self._items]

    def redact(self, text: str) -> str:
        """``text`` with every header value of four or more characters replaced by ``***``."""
        for name, value in self._items:
            if name.lower() == "user-agent":
                continue
            for secret in (value, value.rpartition(" ")[2]):  # "Bearer <token>": the token alone too
                if len(secret) >= 4:
                    text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return "<headers " + ", ".join(f"{name}=***" for name, _ in self._items) + ">"


def _close_info(data: bytes) -> tuple[int, str]:
    if len(data) < 2:
        return 1005, ""  # no status code in the close frame
    code = int.from_bytes(data[:2], "big")
    return code, data[2:].decode("utf-8", "replace")[:123]


# --------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------

_NEW, _CONNECTING, _OPEN, _CLOSED = "new", "connecting", "open", "closed"


class VoiceLiveSession:
    """One Voice Live realtime session over a WebSocket; make a new one to reconnect.

    ``on_event(event)`` runs on the receive thread for every typed server event (keep it quick:
    hand work to a queue). ``on_close(code, reason)`` runs once if the connection ends without
    ``close()`` being called (server close, reset, keep-alive timeout); the caller reconnects with
    backoff. Exceptions in either callback are logged and never stop the session.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        session: Mapping[str, Any] | None,
        *,
        on_event: Callable[[ServerEvent], None],
        on_close: Callable[[int, str], None] | None = None,
        connect_timeout: float = 1.5,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 10.0,
        close_timeout: float = 2.0,
        session_lifetime_s: float = DEFAULT_SESSION_LIFETIME_S,
        ssl_context: ssl.SSLContext | None = None,
        wall_clock: Callable[[], float] = time.time,
        dialect: Dialect = VOICE_LIVE,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError("url must be a ws:// or wss:// URL with a host")
        if ssl_context is not None and (
            ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname
        ):
            raise ValueError("ssl_context must verify certificates and host names")
        if not connect_timeout > 0:
            raise ValueError("connect_timeout must be positive")
        if ping_interval is not None and not ping_interval > 0:
            raise ValueError("ping_interval must be positive (or None to disable pings)")
        if not ping_timeout > 0:
            raise ValueError("ping_timeout must be positive")
        self._url = url
        self._secure = parts.scheme == "wss"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._secure else 80)
        self._where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"  # no query, no userinfo
        self._headers = _Headers(headers)
        self._session = dict(session) if session is not None else None
        self._on_event = on_event
        self._on_close = on_close
        self._connect_timeout = float(connect_timeout)
        self._ping_interval = ping_interval
        self._ping_timeout = float(ping_timeout)
        self._close_timeout = float(close_timeout)
        self._lifetime = float(session_lifetime_s)
        self._ssl_context = ssl_context
        self._wall_clock = wall_clock

        self.dialect = dialect  # the service's shape of client events (Voice Live unless told)
        self._wire = WireEvents(dialect)
        self._parser = ServerEventParser()
        self._state = _NEW
        self._state_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._closing = False
        self._ws: websocket.WebSocket | None = None
        self._sock: socket.socket | None = None
        self._pending: list[ServerEvent] = []
        self._rx_thread: threading.Thread | None = None
        self._ka_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_rx = 0.0
        self._drop: tuple[int, str] | None = None
        self._expires_at: float | None = None
        self._session_id: str | None = None
        self._connect_ms: float | None = None

    # ----------------------------------------------------------------------------------------
    # state
    # ----------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<VoiceLiveSession {self._where} {self._state}{' closing' if self._closing else ''}>"

    @property
    def is_open(self) -> bool:
        """Connected, session configured, not closing."""
        return self._state == _OPEN and not self._closing

    @property
    def closed(self) -> bool:
        """Closed by ``close()``, by a failed ``connect()`` or by a dropped connection."""
        return self._state == _CLOSED

    @property
    def stats(self) -> ParserStats:
        """Protocol counters: events parsed, unknown types ignored, malformed frames dropped."""
        return self._parser.stats

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def connect_ms(self) -> float | None:
        """How long ``connect()`` took, from DNS to ``session.updated``."""
        return self._connect_ms

    @property
    def expires_at(self) -> float | None:
        """When the service will end the session (Unix seconds): ``session.expires_at``, else 60
        minutes after connecting."""
        return self._expires_at

    def expires_soon(self, margin_s: float = 0.0) -> bool:
        """True when the session ends within ``margin_s``: reconnect between turns, not during one."""
        return self._expires_at is not None and self._wall_clock() + margin_s >= self._expires_at

    # ----------------------------------------------------------------------------------------
    # connect
    # ----------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the WebSocket and configure the session, all within ``connect_timeout`` seconds.

        Raises a :class:`SessionError` subclass saying what failed; the session is then closed.
        """
        with self._state_lock:
            if self._state != _NEW:
                raise RuntimeError("connect() can be called once; make a new VoiceLiveSession to reconnect")
            self._state = _CONNECTING
        started = time.monotonic()
        deadline = Deadline(self._connect_timeout)
        watchdog = Watchdog(self._connect_timeout)
        stage = "DNS lookup"
        error: BaseException | None = None
        ws: websocket.WebSocket | None = None
        sock: socket.socket | None = None
        watchdog.start()
        try:
            addrs = resolve(self._host, self._port, deadline)
            stage = "TCP connect"
            sock = self._sock = open_tcp(addrs, self._host, self._port, deadline)
            watchdog.watch(sock)
            if self._secure:
                stage = "TLS handshake"

                def watched(tls: ssl.SSLSocket) -> None:
                    self._sock = tls
                    watchdog.watch(tls)

                sock = wrap_tls(sock, self._host, deadline, self._ssl_context, on_wrapped=watched)
            stage = "WebSocket upgrade"
            sock.settimeout(deadline.left(stage, self._host))
            ws = self._ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True)
            ws.connect(
                self._url,
                socket=sock,
                header=self._headers.lines(),
                suppress_origin=True,
                redirect_limit=0,
            )
            self._last_rx = time.monotonic()
            self._expires_at = self._wall_clock() + self._lifetime
            stage = "session.created"
            self._await(SessionCreated, stage, deadline)
            if self._session is not None:
                stage = "session.updated"
                update = self.dialect.client_event(client_events.session_update(self._session))
                ws.send(json.dumps(update, separators=(",", ":"), ensure_ascii=False))
                self._await(SessionUpdated, stage, deadline)
        except KeyboardInterrupt:
            watchdog.cancel()
            self._fail_connect()
            raise
        except SessionError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - every failure becomes a SessionError below
            error = self._classify(exc, stage, ws)
        fired = watchdog.cancel()
        with self._state_lock:
            cancelled = self._state != _CONNECTING  # close() was called meanwhile
            if not (fired or cancelled or error is not None):
                assert sock is not None
                sock.settimeout(None)  # the receive thread blocks; close() and the keep-alive wake it
                self._connect_ms = (time.monotonic() - started) * 1000.0
                self._state = _OPEN
                self._start_threads()  # under the lock, so close() always finds them
        if fired or cancelled or error is not None:
            self._fail_connect()
            if cancelled:
                error = SessionClosed(f"close() was called while connecting to {self._host}")
            elif fired and not isinstance(error, (ConnectTimeout, SessionRejected, AuthRejected)):
                error = ConnectTimeout(
                    f"connecting to {self._host} took longer than {self._connect_timeout:g} s (during {stage})"
                )
            assert error is not None
            logger.info("Voice Live connection to %s failed: %s", self._where, error)
            raise error from None
        logger.info(
            "Voice Live session %s ready at %s in %.0f ms", self._session_id or "?", self._where, self._connect_ms
        )

    def _start_threads(self) -> None:
        self._rx_thread = threading.Thread(target=self._receive_loop, name="edgevoice-voicelive-rx", daemon=True)
        self._rx_thread.start()
        if self._ping_interval is not None:
            self._ka_thread = threading.Thread(
                target=self._keepalive_loop, name="edgevoice-voicelive-ping", daemon=True
            )
            self._ka_thread.start()

    def _await(self, wanted: type[ServerEvent], stage: str, deadline: Deadline) -> None:
        """Read frames until the ``wanted`` event; queue everything for ``on_event``."""
        assert self._ws is not None and self._sock is not None
        while True:
            self._sock.settimeout(deadline.left(stage, self._host))
            opcode, data = self._recv_message()
            if opcode == ABNF.OPCODE_CLOSE:
                code, reason = _close_info(data)
                detail = f"{code} {reason}".strip()
                raise ProtocolFailure(f"{self._host} closed the connection before {stage} (close code {detail})")
            event = self._parse(data)
            if event is None:
                continue
            if isinstance(event, Error):
                raise SessionRejected(
                    f"Voice Live refused the session during setup: {event.message or event.code or event.type}",
                    code=event.code,
                    param=event.param,
                )
            self._note_session(event)
            self._pending.append(event)
            if isinstance(event, wanted):
                return

    def _classify(self, exc: BaseException, stage: str, ws: websocket.WebSocket | None) -> SessionError:
        """Turn what a connect step raised into a SessionError with a clear message."""
        host = self._host
        if isinstance(exc, websocket.WebSocketBadStatusException):
            status = int(exc.status_code)
            headers = {str(k).lower(): str(v) for k, v in (exc.resp_headers or {}).items()}
            retry_after = parse_retry_after(headers.get("retry-after"))
            if status in (401, 403):
                return AuthRejected(status, host)
            if status == 429:
                return Throttled(retry_after, host)
            if 500 <= status <= 599:
                return ServiceError(status, host, retry_after)
            body = exc.resp_body.decode("utf-8", "replace") if isinstance(exc.resp_body, bytes) else ""
            snippet = self._headers.redact(" ".join(body.split()))[:160]
            return ProtocolFailure(
                f"{host} refused the WebSocket upgrade with HTTP {status}"
                + (f" ({snippet})" if snippet else "")
                + ": check the endpoint, api-version and model",
                status=status,
                retryable=not 400 <= status <= 499,
            )
        response = getattr(ws, "handshake_response", None) if ws is not None else None
        if response is not None and 300 <= int(getattr(response, "status", 0)) <= 399:
            return ProtocolFailure(
                f"{host} answered the WebSocket upgrade with a redirect (HTTP {response.status}); "
                "redirects are not followed: configure the final endpoint",
                status=int(response.status),
                retryable=False,
            )
        if isinstance(exc, (TimeoutError, websocket.WebSocketTimeoutException)):
            return ConnectTimeout(f"connecting to {host} took longer than {self._connect_timeout:g} s (during {stage})")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return TlsError(
                f"the TLS certificate of {host} is not trusted ({exc.verify_message}); "
                "if the system clock is wrong (no RTC before NTP sync) this resolves once it is set"
            )
        if isinstance(exc, ssl.SSLError):
            return TlsError(f"TLS handshake with {host} failed: {describe(exc)}")
        if isinstance(exc, websocket.WebSocketConnectionClosedException):
            return ProtocolFailure(f"{host} closed the connection during {stage}")
        if isinstance(exc, (websocket.WebSocketProtocolException, websocket.WebSocketPayloadException)):
            return ProtocolFailure(f"{host} sent an invalid WebSocket frame during {stage}: {describe(exc)}")
        if isinstance(exc, websocket.WebSocketException):
            return ProtocolFailure(f"{host} gave a bad answer during {stage}: {self._headers.redact(describe(exc))}")
        if isinstance(exc, OSError):
            return NetworkError(f"network error during {stage} with {host}: {describe(exc)}")
        return ProtocolFailure(f"{host} gave an unreadable answer during {stage} ({type(exc).__name__})")

    def _fail_connect(self) -> None:
        with self._state_lock:
            self._state = _CLOSED
        shutdown(self._sock)
        self._close_socket()
        self._pending.clear()

    # ----------------------------------------------------------------------------------------
    # receiving
    # ----------------------------------------------------------------------------------------

    def _recv_message(self) -> tuple[int, bytes]:
        """The next whole data message (text or binary) or a close frame; answers pings."""
        ws = self._ws
        assert ws is not None
        cont = ws.cont_frame
        while True:
            frame = ws.recv_frame()
            self._last_rx = time.monotonic()
            opcode = frame.opcode
            if opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT):
                cont.validate(frame)
                cont.add(frame)
                if frame.fin:
                    opcode, whole = cont.extract(frame)
                    return opcode, whole.data
            elif opcode == ABNF.OPCODE_PING:
                with self._send_lock:
                    ws.pong(frame.data)
            elif opcode == ABNF.OPCODE_CLOSE:
                return opcode, frame.data
            # PONG: only refreshes _last_rx

    def _parse(self, data: bytes) -> ServerEvent | None:
        stats = self._parser.stats
        errors = stats.errors
        event = self._parser.parse(data)
        if stats.errors != errors and _is_power_of_ten(stats.errors):
            logger.warning(
                "ignored a malformed Voice Live event (%d so far): %s", stats.errors, stats.last_error
            )
        if isinstance(event, Error) and event.message:  # a server may quote the key back ("key X is not valid")
            message = self._headers.redact(event.message)
            if message != event.message:
                event = dataclasses.replace(event, message=message)
        return event

    def _note_session(self, event: ServerEvent) -> None:
        if isinstance(event, (SessionCreated, SessionUpdated)):
            if event.session_id:
                self._session_id = event.session_id
            if event.expires_at is not None:
                self._expires_at = event.expires_at

    def _receive_loop(self) -> None:
        pending, self._pending = self._pending, []
        for event in pending:
            self._deliver(event)
        code, reason = _CLOSE_ABNORMAL, "connection lost"
        try:
            while True:
                opcode, data = self._recv_message()
                if opcode == ABNF.OPCODE_CLOSE:
                    code, reason = _close_info(data)
                    if not self._closing:  # answer the server's close handshake
                        echo = code if 1000 <= code <= 4999 and code not in (1005, 1006, 1015) else _CLOSE_NORMAL
                        with self._send_lock:
                            try:
                                self._ws.send_close(echo)  # type: ignore[union-attr]
                            except (OSError, websocket.WebSocketException):
                                pass
                    break
                event = self._parse(data)
                if event is not None:
                    self._note_session(event)
                    self._deliver(event)
        except (websocket.WebSocketProtocolException, websocket.WebSocketPayloadException) as exc:
            code, reason = _CLOSE_PROTOCOL, f"invalid frame from the server: {describe(exc)}"
        except (OSError, websocket.WebSocketException) as exc:
            code, reason = _CLOSE_ABNORMAL, f"connection lost: {describe(exc)}"
        except Exception as exc:  # noqa: BLE001 - the thread must end cleanly whatever happens
            logger.exception("Voice Live receive thread failed")
            code, reason = _CLOSE_INTERNAL, f"receive thread failed: {type(exc).__name__}"
        finally:
            unexpected = not self._closing
            if self._drop is not None:
                code, reason = self._drop
            self._teardown()
        if unexpected:
            logger.warning("Voice Live connection to %s ended: %d %s", self._where, code, reason)
            if self._on_close is not None:
                try:
                    self._on_close(code, reason)
                except Exception:  # noqa: BLE001
                    logger.exception("on_close callback failed")
        else:
            logger.info("Voice Live session %s closed", self._session_id or "?")

    def _deliver(self, event: ServerEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # noqa: BLE001 - a bad callback must not end the session
            logger.exception("on_event callback failed on %s", type(event).__name__)

    def _keepalive_loop(self) -> None:
        interval = float(self._ping_interval or 0)
        timeout = self._ping_timeout
        tick = max(min(interval, timeout) / 2.0, 0.02)
        last_ping = time.monotonic()
        waiting_since: float | None = None
        while not self._stop.wait(tick):
            now = time.monotonic()
            if waiting_since is not None:
                if self._last_rx >= waiting_since:
                    waiting_since = None
                elif now - waiting_since >= timeout:
                    self._drop = (_CLOSE_ABNORMAL, f"no answer to keep-alive ping within {timeout:g} s")
                    logger.warning("Voice Live at %s stopped answering pings", self._where)
                    shutdown(self._sock)
                    return
            if now - last_ping >= interval and self._send_lock.acquire(blocking=False):
                try:
                    if self._closing or self._ws is None:
                        return
                    self._ws.ping()
                except (OSError, websocket.WebSocketException):
                    return  # the receive thread sees the broken connection
                finally:
                    self._send_lock.release()
                last_ping = now
                if waiting_since is None:
                    waiting_since = now

    def _teardown(self) -> None:
        """End of the receive thread: stop the keep-alive, close the socket, mark closed."""
        self._stop.set()
        with self._state_lock:
            self._state = _CLOSED
        shutdown(self._sock)
        acquired = self._send_lock.acquire(timeout=self._close_timeout)
        try:
            self._close_socket()
        finally:
            if acquired:
                self._send_lock.release()

    def _close_socket(self) -> None:
        ws, sock = self._ws, self._sock
        if ws is not None:
            ws.shutdown()
        elif sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    # ----------------------------------------------------------------------------------------
    # sending
    # ----------------------------------------------------------------------------------------

    def send(self, event: Mapping[str, Any]) -> None:
        """Send one client event (a dict from :mod:`~.protocol.client_events`); thread-safe.

        Raises :class:`SessionClosed` when the session is not open or the connection fails.
        """
        kind = event.get("type", "event")
        with self._send_lock:
            if self._state != _OPEN or self._closing or self._ws is None:
                raise SessionClosed(f"cannot send {kind}: the Voice Live session is {self._state_word()}")
            try:
                for wire in self._wire.convert(event):
                    self._ws.send(json.dumps(wire, separators=(",", ":"), ensure_ascii=False))
            except (OSError, websocket.WebSocketException) as exc:
                if self._drop is None:
                    self._drop = (_CLOSE_ABNORMAL, f"send failed: {describe(exc)}")
                shutdown(self._sock)
                raise SessionClosed(f"cannot send {kind}: the connection failed ({describe(exc)})") from None

    def _state_word(self) -> str:
        if self._closing and self._state == _OPEN:
            return "closing"
        return {_NEW: "not connected yet", _CONNECTING: "still connecting"}.get(self._state, "closed")

    def _send_built(self, event: dict[str, Any]) -> str:
        self.send(event)
        return str(event["event_id"])

    def update_session(self, session: Mapping[str, Any]) -> str:
        """Send a partial ``session.update``; returns its event_id."""
        return self._send_built(client_events.session_update(session))

    def append_audio(self, pcm: bytes | bytearray | memoryview) -> str:
        """Stream input audio (in the session's input format); returns the event_id."""
        return self._send_built(client_events.input_audio_append(pcm))

    def commit(self) -> str:
        """Commit the streamed audio as the user's turn."""
        return self._send_built(client_events.input_audio_commit())

    def clear_input(self) -> str:
        """Drop audio streamed since the last commit."""
        return self._send_built(client_events.input_audio_clear())

    def create_response(self, instructions: str | None = None, **options: Any) -> str:
        """Ask for a reply; options as :func:`~.protocol.client_events.response_create`."""
        return self._send_built(client_events.response_create(instructions, **options))

    def cancel_response(self, response_id: str | None = None) -> str:
        """Stop the reply in progress (barge-in)."""
        return self._send_built(client_events.response_cancel(response_id))

    def truncate(self, item_id: str, audio_end_ms: int, content_index: int = 0) -> str:
        """Tell the service how much of a reply was heard before the person interrupted."""
        return self._send_built(client_events.item_truncate(item_id, audio_end_ms, content_index))

    def send_user_text(self, text: str) -> str:
        """Add a typed user message to the conversation."""
        return self._send_built(client_events.item_create_user_text(text))

    def extend_session(self, fields: Mapping[str, Any]) -> None:
        """Add ``fields`` (tools, say) to the session.update sent when connecting; before ``connect()``."""
        if self._state != _NEW:
            raise RuntimeError("extend_session() must come before connect()")
        self._session = {**(self._session or {}), **fields}

    def send_function_output(self, call_id: str, output: Any) -> str:
        """Return a tool's result for ``call_id`` (then call ``create_response()``)."""
        return self._send_built(client_events.item_create_function_output(call_id, output))

    # ----------------------------------------------------------------------------------------
    # closing
    # ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close cleanly (close frame 1000, wait for the server's answer); safe to call twice."""
        with self._state_lock:
            if self._state in (_NEW, _CONNECTING):
                if self._state == _CONNECTING:
                    shutdown(self._sock)  # connect() fails at once with SessionClosed
                self._state = _CLOSED
                return
            first = not self._closing
            self._closing = True
            state = self._state
        if state == _OPEN and first and self._send_lock.acquire(timeout=self._close_timeout):
            try:
                if self._ws is not None:
                    self._ws.send_close(_CLOSE_NORMAL)
            except (OSError, websocket.WebSocketException):
                shutdown(self._sock)
            finally:
                self._send_lock.release()
        rx = self._rx_thread
        if rx is None:
            return
        if rx is threading.current_thread():  # close() from inside a callback: cannot join ourselves
            timer = threading.Timer(self._close_timeout, shutdown, args=(self._sock,))
            timer.daemon = True
            timer.start()
            return
        rx.join(self._close_timeout)
        if rx.is_alive():  # the server did not answer the close: cut the connection
            shutdown(self._sock)
            rx.join(self._close_timeout)
        if self._ka_thread is not None and self._ka_thread is not threading.current_thread():
            self._ka_thread.join(self._close_timeout)

    def __enter__(self) -> VoiceLiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1


# --------------------------------------------------------------------------------------------
# Reconnecting
# --------------------------------------------------------------------------------------------


def connect_with_backoff(
    make_session: Callable[[], VoiceLiveSession],
    backoff: Backoff,
    *,
    stop: threading.Event | None = None,
    max_attempts: int | None = None,
) -> VoiceLiveSession | None:
    """Connect a fresh session from ``make_session()``, retrying transient failures with backoff.

    Returns the open session, or ``None`` if ``stop`` was set while waiting. Failures that a retry
    cannot fix (rejected credentials, a refused session config, a redirect) are raised at once,
    as is the last failure after ``max_attempts`` tries.
    """
    stop = stop if stop is not None else threading.Event()
    tries = 0
    while not stop.is_set():
        session = make_session()
        try:
            session.connect()
        except SessionError as exc:
            tries += 1
            if not exc.retryable or (max_attempts is not None and tries >= max_attempts):
                raise
            delay = backoff.next_delay(getattr(exc, "retry_after", None))
            logger.warning("Voice Live connection failed (%s); retrying in %.1f s", exc, delay)
            if stop.wait(delay):
                return None
            continue
        backoff.reset()
        return session
    return None
