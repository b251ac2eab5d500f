"""Opening a Voice Live session against real sockets on 127.0.0.1: the happy path, and every
handshake failure told apart (401/403, 429, 5xx, 4xx, redirect, silence, trickle, refused, DNS,
bad upgrade, TLS), all within the hard connect deadline and without leaking the key."""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edgevoice.voicelive.backoff import Backoff
from edgevoice.voicelive.protocol import server_events as ev
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
from edgevoice.voicelive.session import VoiceLiveSession, connect_with_backoff
from session_helpers import (
    Collector,
    MiniVoiceLive,
    RawServer,
    accept_upgrade,
    http_response,
    read_request,
    send_close,
    send_json,
)

KEY = "sk-test-9f8e7d6c5b4a"
SESSION = {"modalities": ["text", "audio"], "turn_detection": None, "input_audio_sampling_rate": 16000}
LOOSE = 20.0  # a sanity bound for "the deadline held": far above any deadline used here


@pytest.fixture(autouse=True)
def _never_log_the_key(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    yield
    assert KEY not in caplog.text


def make(url: str, collector: Collector | None = None, **kwargs) -> VoiceLiveSession:
    collector = collector or Collector()
    kwargs.setdefault("connect_timeout", 1.5)
    return VoiceLiveSession(url, {"api-key": KEY}, kwargs.pop("session", SESSION),
                            on_event=collector.on_event, on_close=collector.on_close, **kwargs)


def failing(error: type[SessionError], url: str, **kwargs) -> SessionError:
    session = make(url, **kwargs)
    with pytest.raises(error) as info:
        session.connect()
    exc = info.value
    assert session.closed and not session.is_open
    for text in (str(exc), repr(exc), repr(session)):
        assert KEY not in text
    return exc


def http_server(status: int, reason: str, headers: dict[str, str] | None = None, body: bytes = b"") -> RawServer:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(http_response(status, reason, headers, body))

    return RawServer(handler)


# --------------------------------------------------------------------------------------------
# success
# --------------------------------------------------------------------------------------------


def test_connect_sends_headers_and_session_then_is_ready() -> None:
    collector = Collector()
    with MiniVoiceLive(key=KEY) as server:
        session = make(server.url(), collector)
        session.connect()
        try:
            assert session.is_open and not session.closed
            assert session.session_id == "sess_1"
            assert session.connect_ms is not None and session.connect_ms > 0
            headers = server.request_headers[0]
            assert headers["api-key"] == KEY
            assert headers["user-agent"].startswith("edgevoice/")
            assert "origin" not in headers
            assert server.request_lines[0] == "GET /voice-live/realtime?api-version=2026-07-15&model=gpt-realtime HTTP/1.1"
            update = server.received[0]
            assert update["type"] == "session.update" and update["session"] == SESSION
            assert update["event_id"].startswith("evt_")
            assert collector.wait_for(lambda: len(collector.events) >= 2)
            assert [type(e) for e in collector.events[:2]] == [ev.SessionCreated, ev.SessionUpdated]
            assert KEY not in repr(session) and "api-key" not in repr(session)
        finally:
            session.close()


def test_without_a_session_config_no_update_is_sent() -> None:
    collector = Collector()
    with MiniVoiceLive() as server:
        session = make(server.url(), collector, session=None)
        session.connect()
        assert collector.wait_for(lambda: len(collector.events) == 1)
        session.close()
        assert server.received == []


def test_connect_only_once() -> None:
    with MiniVoiceLive() as server:
        session = make(server.url())
        session.connect()
        with pytest.raises(RuntimeError):
            session.connect()
        session.close()


# --------------------------------------------------------------------------------------------
# HTTP answers to the upgrade
# --------------------------------------------------------------------------------------------


def test_wrong_key_is_auth_rejected() -> None:
    with MiniVoiceLive(key="another-key") as server:
        exc = failing(AuthRejected, server.url())
    assert exc.status == 401 and not exc.retryable
    assert "rejected the credentials" in str(exc)


def test_forbidden_is_auth_rejected() -> None:
    with http_server(403, "Forbidden") as server:
        exc = failing(AuthRejected, server.url())
    assert exc.status == 403 and not exc.retryable


@pytest.mark.parametrize(
    ("header", "expected"),
    [({"Retry-After": "7"}, 7.0), ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0), ({}, None)],
)
def test_throttled_with_retry_after(header, expected) -> None:
    with http_server(429, "Too Many Requests", header) as server:
        exc = failing(Throttled, server.url())
    assert exc.retry_after == expected and exc.retryable and exc.status == 429


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_service_errors(status) -> None:
    with http_server(status, "Oops", {"Retry-After": "3"}) as server:
        exc = failing(ServiceError, server.url())
    assert exc.status == status and exc.retry_after == 3.0 and exc.retryable


def test_other_client_errors_are_protocol_failures_not_retried() -> None:
    body = f'{{"error": "model not found", "echo": "{KEY}"}}'.encode()
    with http_server(404, "Not Found", body=body) as server:
        exc = failing(ProtocolFailure, server.url())
    assert exc.status == 404 and not exc.retryable
    assert "model not found" in str(exc) and "***" in str(exc)  # the echoed key is redacted


def test_redirects_are_not_followed() -> None:
    with MiniVoiceLive() as target:
        location = target.url()
        with http_server(307, "Temporary Redirect", {"Location": location}) as server:
            exc = failing(ProtocolFailure, server.url())
        assert target.request_headers == []  # the key never went to the redirect target
    assert exc.status == 307 and not exc.retryable and "redirect" in str(exc)


def test_ok_instead_of_upgrade_is_a_protocol_failure() -> None:
    with http_server(200, "OK", body=b"hello") as server:
        exc = failing(ProtocolFailure, server.url())
    assert exc.retryable


def test_garbage_answer_is_a_protocol_failure() -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")

    with RawServer(handler) as server:
        failing(ProtocolFailure, server.url())


def test_upgrade_without_valid_accept_key_is_a_protocol_failure() -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: bm9wZQ==\r\n\r\n")

    with RawServer(handler) as server:
        failing(ProtocolFailure, server.url())


def test_connection_closed_during_upgrade() -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)

    with RawServer(handler) as server:
        failing(ProtocolFailure, server.url())


# --------------------------------------------------------------------------------------------
# the deadline
# --------------------------------------------------------------------------------------------


def test_server_that_never_answers_hits_the_deadline() -> None:
    with RawServer(None, accept=False) as server:  # TCP completes in the kernel; nobody answers
        started = time.monotonic()
        exc = failing(ConnectTimeout, server.url(), connect_timeout=0.5)
        assert time.monotonic() - started < LOOSE
    assert exc.retryable and "0.5 s" in str(exc)


def test_trickling_server_cannot_stretch_the_deadline() -> None:
    """websocket-client's timeout is per socket read; the watchdog bounds the whole handshake."""
    stop = threading.Event()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        for byte in b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Slow: " + b"y" * 400:
            if stop.wait(0.05):
                return
            conn.sendall(bytes([byte]))

    with RawServer(handler) as server:
        started = time.monotonic()
        failing(ConnectTimeout, server.url(), connect_timeout=0.6)
        assert time.monotonic() - started < LOOSE
        stop.set()


def test_no_session_created_after_upgrade_hits_the_deadline() -> None:
    def silent(server: MiniVoiceLive, conn: socket.socket) -> None:
        pass  # upgraded, then says nothing

    with MiniVoiceLive(on_connect=silent) as server:
        exc = failing(ConnectTimeout, server.url(), connect_timeout=0.5)
    assert "session.created" in str(exc)


def test_no_session_updated_hits_the_deadline() -> None:
    with MiniVoiceLive(script={"session.update": lambda *a: None}) as server:
        exc = failing(ConnectTimeout, server.url(), connect_timeout=0.5)
    assert "session.updated" in str(exc)


def test_close_frame_instead_of_session_created() -> None:
    def closer(server: MiniVoiceLive, conn: socket.socket) -> None:
        send_close(conn, 1008, "policy")

    with MiniVoiceLive(on_connect=closer) as server:
        exc = failing(ProtocolFailure, server.url())
    assert "1008" in str(exc) and "session.created" in str(exc)


def test_error_event_during_setup_is_session_rejected() -> None:
    def reject(server: MiniVoiceLive, conn: socket.socket, event: dict) -> None:
        send_json(conn, {"type": "error", "event_id": "e", "error": {
            "type": "invalid_request_error", "code": "invalid_value", "message": "Voice 'nope' is not supported",
            "param": "session.voice", "event_id": event["event_id"]}})

    with MiniVoiceLive(script={"session.update": reject}) as server:
        exc = failing(SessionRejected, server.url())
    assert not exc.retryable and exc.code == "invalid_value" and exc.param == "session.voice"
    assert "Voice 'nope' is not supported" in str(exc)


def test_close_during_connect_ends_it_at_once() -> None:
    with RawServer(None, accept=False) as server:
        session = make(server.url(), connect_timeout=30)
        threading.Timer(0.2, session.close).start()
        started = time.monotonic()
        with pytest.raises(SessionClosed):
            session.connect()
        assert time.monotonic() - started < LOOSE
        assert session.closed


# --------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------


def test_refused_port_is_a_network_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    exc = failing(NetworkError, f"ws://127.0.0.1:{port}/voice-live/realtime")
    assert "refused" in str(exc) and exc.retryable


def test_unresolvable_name_is_a_network_error() -> None:
    exc = failing(SessionError, "wss://edgevoice-test.invalid/voice-live/realtime?api-version=2026-07-15", connect_timeout=3)
    if isinstance(exc, ConnectTimeout):  # a resolver that does not answer at all (no DNS server reachable)
        assert "looking up edgevoice-test.invalid" in str(exc)
    else:
        assert isinstance(exc, NetworkError) and "cannot resolve edgevoice-test.invalid" in str(exc)
    assert exc.retryable and "api-version" not in str(exc)


def test_reset_during_upgrade_is_a_network_error() -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close

    with RawServer(handler) as server:
        exc = failing(SessionError, server.url())
    assert isinstance(exc, (NetworkError, ProtocolFailure)) and exc.retryable


# --------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    return context


def test_untrusted_certificate_is_refused(certificate) -> None:
    with MiniVoiceLive(tls=_server_context(certificate)) as server:
        exc = failing(TlsError, server.url())
        assert server.request_headers == []  # nothing, not even the headers, was sent
    assert "not trusted" in str(exc) and isinstance(exc, NetworkError)


def test_trusted_certificate_connects(certificate) -> None:
    client = ssl.create_default_context(cafile=str(certificate[0]))
    with MiniVoiceLive(tls=_server_context(certificate), key=KEY) as server:
        session = make(server.url(), ssl_context=client)
        session.connect()
        assert session.is_open
        session.close()
        assert server.closed.wait(5) and server.close_codes == [1000]


def test_unverified_tls_context_is_refused() -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError):
        make("wss://example.com/voice-live/realtime", ssl_context=context)


# --------------------------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://example.com/x", "example.com", "ws:///nohost"])
def test_bad_urls_are_refused(url) -> None:
    with pytest.raises(ValueError):
        make(url)


def test_header_injection_is_refused_without_showing_the_value() -> None:
    with pytest.raises(ValueError) as info:
        VoiceLiveSession("ws://127.0.0.1:1/", {"api-key": KEY + "\r\nX-Evil: 1"}, None, on_event=print)
    assert KEY not in str(info.value)


# --------------------------------------------------------------------------------------------
# reconnecting with backoff
# --------------------------------------------------------------------------------------------


def test_connect_with_backoff_retries_transient_failures() -> None:
    attempts = []

    def twice_503(conn: socket.socket) -> None:
        headers = read_request(conn)[1]
        attempts.append(1)
        if len(attempts) <= 2:
            conn.sendall(http_response(503, "Unavailable"))
            return
        accept_upgrade(conn, headers)
        send_json(conn, {"type": "session.created", "event_id": "e", "session": {"id": "s"}})
        send_json(conn, {"type": "session.updated", "event_id": "e", "session": {"id": "s"}})
        while conn.recv(65536):  # stay open until the client goes
            pass

    with RawServer(twice_503) as server:
        backoff = Backoff(base=0.01, cap=0.02)
        session = connect_with_backoff(lambda: make(server.url(), close_timeout=0.2), backoff)
        assert session is not None and session.is_open
        assert len(attempts) == 3 and backoff.attempts == 0  # reset after success
        session.close()


def test_connect_with_backoff_gives_up_on_rejected_credentials() -> None:
    made = []
    with MiniVoiceLive(key="other") as server:
        def factory() -> VoiceLiveSession:
            made.append(1)
            return make(server.url())

        with pytest.raises(AuthRejected):
            connect_with_backoff(factory, Backoff(base=0.01, cap=0.02))
    assert len(made) == 1


def test_connect_with_backoff_stops_after_max_attempts() -> None:
    with http_server(503, "Unavailable") as server:
        with pytest.raises(ServiceError):
            connect_with_backoff(lambda: make(server.url()), Backoff(base=0.01, cap=0.02), max_attempts=3)
        assert len(server.connections) == 3


def test_connect_with_backoff_can_be_stopped_while_waiting() -> None:
    stop = threading.Event()
    with http_server(429, "Too Many Requests", {"Retry-After": "60"}) as server:
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        assert connect_with_backoff(lambda: make(server.url()), Backoff(), stop=stop) is None
        assert time.monotonic() - started < LOOSE
