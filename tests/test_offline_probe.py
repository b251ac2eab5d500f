"""Finding the service: the cheap reachability check, the black-hole relay, and the link noticing a silent session.

All against real sockets on 127.0.0.1: the emulator, a closed port, a server that accepts TCP and
never answers, a name that cannot resolve, a server that is not HTTP or not TLS.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from websockets.sync.server import ServerConnection, serve

from edgevoice.assistant import events as E
from edgevoice.config.load import parse_config
from edgevoice.config.secrets import ApiKey
from edgevoice.daemon.link import SessionLink, failure_kind
from edgevoice.daemon.sessions import session_factory
from edgevoice.bench.blackhole import BlackholeRelay
from edgevoice.offline.probe import probe
from edgevoice.voicelive.emulator import Emulator, FaultPlan
from edgevoice.voicelive.errors import ConnectTimeout, NetworkError, ProtocolFailure, ServiceError, TlsError
from offline_helpers import closed_port_url
from session_helpers import RawServer

KEY = "probe-test-key"
PATH = "/voice-live/realtime"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=KEY) as emulator:
        yield emulator


def test_the_check_gets_an_http_answer_without_sending_credentials(emu):
    result = probe(emu.ws_url, 1.0)
    assert result.ok and result.status == 401 and result.detail == "HTTP 401" and result.error is None
    assert emu.rejected == [401] and emu.accepted == 0, "no session, no key"


def test_a_refused_port_fails_the_check_at_once():
    result = probe(closed_port_url().replace("http", "ws") + PATH, 1.0)
    assert not result.ok and isinstance(result.error, NetworkError) and "connection refused" in result.detail


def test_a_server_that_accepts_tcp_and_never_answers_fails_the_check_at_the_deadline():
    with RawServer(None, accept=False) as silent:
        result = probe(silent.url(), 0.3)
    assert not result.ok and isinstance(result.error, ConnectTimeout) and "within 0.3 s" in result.detail
    assert result.ms >= 300


def test_the_emulator_hanging_after_tcp_accept_fails_the_check(emu):
    emu.set_faults(FaultPlan(hang_on_connect=True))
    result = probe(emu.ws_url, 0.3)
    assert not result.ok and isinstance(result.error, ConnectTimeout)


def test_a_name_that_does_not_resolve_fails_the_check():
    result = probe("wss://edgevoice-probe-test.invalid/voice-live/realtime", 1.0)
    assert not result.ok and isinstance(result.error, NetworkError) and "cannot resolve" in result.detail


def _answer(data: bytes):
    def handler(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
    return handler


def test_a_server_that_is_not_http_or_closes_without_an_answer_fails_the_check():
    with RawServer(_answer(b"SSH-2.0-OpenSSH_9.2\r\n")) as ssh:
        result = probe(ssh.url(), 1.0)
        assert not result.ok and "not HTTP" in result.detail
    with RawServer(_answer(b"")) as mute:
        result = probe(mute.url(), 1.0)
        assert not result.ok and "without an answer" in result.detail
    with RawServer(_answer(b"HTTP/1.1 404 Not Found\r\n\r\n")) as plain:
        assert probe(plain.url(), 1.0).status == 404
        result = probe(plain.url().replace("ws://", "wss://"), 1.0)  # TLS expected, plain HTTP answered
        assert not result.ok and isinstance(result.error, TlsError)
    assert not probe("ftp://example.invalid/", 1.0).ok


# --- the relay ------------------------------------------------------------------------------------------


def test_the_relay_forwards_until_cut_then_swallows_everything_silently(emu):
    with BlackholeRelay(emu.port) as relay:
        url = relay.url.replace("http", "ws") + PATH
        assert probe(url, 1.0).ok
        relay.cut()
        result = probe(url, 0.3)
        assert not result.ok and isinstance(result.error, ConnectTimeout)
        assert relay.swallowed == 1
        relay.restore()
        assert probe(url, 1.0).ok


# --- the session link notices a session that went silent --------------------------------------------------


def link_for(endpoint: str, events: queue.SimpleQueue, answer_timeout_s: float | None) -> SessionLink:
    cfg = parse_config(f'[voicelive]\nendpoint = "{endpoint}"\n[voicelive.turn_detection]\ntype = "none"\n', "<t>").voicelive
    return SessionLink(session_factory(cfg, ApiKey(KEY)), events.put, output_rate=16000, answer_timeout_s=answer_timeout_s)


def next_of(events: queue.SimpleQueue, kind: type, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        item = events.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(item, kind):
            return item


def test_a_session_that_goes_silent_after_a_commit_is_dropped_and_reported_lost(emu):
    with BlackholeRelay(emu.port) as relay:
        events: queue.SimpleQueue = queue.SimpleQueue()
        link = link_for(relay.url, events, answer_timeout_s=0.3)
        link.open()
        next_of(events, E.SessionReady)
        relay.cut()  # the network dies; TCP says nothing
        link.start_streaming()
        link.send_audio(bytes(3200))
        link.commit()
        link.request_response()
        failed = next_of(events, E.SessionFailed)
        assert failed.lost and failed.kind is E.FailureKind.OFFLINE and "did not answer within 0.3 s" in failed.detail
        assert not link.is_open and link.failures == 1
        link.close()


def test_a_session_that_answers_is_left_alone(emu):
    events: queue.SimpleQueue = queue.SimpleQueue()
    link = link_for(emu.url, events, answer_timeout_s=0.3)
    link.open()
    next_of(events, E.SessionReady)
    link.start_streaming()
    link.send_audio(bytes(6400))
    link.commit()
    link.request_response()
    next_of(events, E.ReplyDone)
    time.sleep(0.4)  # past the answer deadline
    assert link.is_open and link.failures == 0
    assert not any(isinstance(item, E.SessionFailed) for item in _drain(events))
    link.close()


class SilentAfterSetup:
    """Completes the session setup, then reads everything and never says another word."""

    def __init__(self) -> None:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.socket.getsockname()[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "session.created", "event_id": "e0", "session": {"id": "sess_1"}}))
        for message in ws:
            if json.loads(message)["type"] == "session.update":
                ws.send(json.dumps({"type": "session.updated", "event_id": "e1", "session": {"id": "sess_1"}}))

    def close(self) -> None:
        self._server.shutdown()


def test_the_deadline_also_covers_a_commit_sent_while_the_session_was_opening():
    server = SilentAfterSetup()
    try:
        events: queue.SimpleQueue = queue.SimpleQueue()
        link = link_for(server.url, events, answer_timeout_s=0.3)
        link.open()
        link.start_streaming()
        link.send_audio(bytes(3200))
        link.commit()  # into the outbox; the deadline starts when the outbox goes out
        next_of(events, E.SessionReady)
        failed = next_of(events, E.SessionFailed)
        assert failed.lost and "did not answer" in failed.detail
        link.close()
    finally:
        server.close()


def _drain(events: queue.SimpleQueue) -> list:
    out = []
    while True:
        try:
            out.append(events.get_nowait())
        except queue.Empty:
            return out


def test_connect_failures_map_to_the_right_kind_with_the_servers_wait(emu):
    events: queue.SimpleQueue = queue.SimpleQueue()
    emu.set_faults(FaultPlan(reject_status=429, retry_after_s=7))
    link = link_for(emu.url, events, None)
    link.open()
    failed = next_of(events, E.SessionFailed)
    assert (failed.kind, failed.retry_after, failed.lost) == (E.FailureKind.THROTTLED, 7.0, False)
    emu.set_faults(FaultPlan(reject_status=503))
    link.open()
    assert next_of(events, E.SessionFailed).kind is E.FailureKind.SERVICE
    assert failure_kind(ServiceError(500, "h")) is E.FailureKind.SERVICE
    assert failure_kind(ProtocolFailure("bad upgrade")) is E.FailureKind.SERVICE
    assert failure_kind(ConnectTimeout("slow")) is E.FailureKind.OFFLINE
