"""Every fault the emulator can inject, seen from a plain client over a real socket."""

from __future__ import annotations

import json
import socket
import time

import pytest
from emulator_helpers import Client, emulator, make_emulator, silence, types  # noqa: F401
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from edgevoice.voicelive.emulator import FaultPlan


def refused_status(emu, **kwargs) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        Client(emu, **kwargs)
    return info.value


def turn(client: Client) -> None:
    client.configure(turn_detection=None)
    client.send({"type": "response.create"})


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_handshake_rejections(emulator, status):
    emulator.set_faults(FaultPlan(reject_status=status))
    exc = refused_status(emulator)
    assert exc.response.status_code == status
    assert json.loads(exc.response.body)["error"]["code"] == str(status)
    assert "Retry-After" not in exc.response.headers


def test_throttled_then_recovers_after_n_connections(emulator):
    emulator.set_faults(FaultPlan(reject_status=429, retry_after_s=2, connections=2))
    for _ in range(2):
        exc = refused_status(emulator)
        assert exc.response.status_code == 429 and exc.response.headers["Retry-After"] == "2"
    with Client(emulator) as client:  # the third connection gets a healthy service
        assert client.recv()["type"] == "session.created"
    assert emulator.rejected == [429, 429] and emulator.accepted == 1
    # faults set at runtime count again from the next connection
    emulator.set_faults(FaultPlan(reject_status=503, connections=1))
    assert refused_status(emulator).response.status_code == 503
    with Client(emulator) as client:
        assert client.recv()["type"] == "session.created"


def test_hang_after_tcp_accept(emulator):
    emulator.set_faults(FaultPlan(hang_on_connect=True, connections=1))
    with pytest.raises(TimeoutError):
        Client(emulator, timeout=0.3)
    emulator.wait_until(lambda e: e.hung == 1)
    # the raw socket sees no HTTP answer at all
    emulator.set_faults(FaultPlan(hang_on_connect=True, connections=1))
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as raw:
        raw.sendall(b"GET /voice-live/realtime?api-version=2026-07-15&model=m HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\napi-key: k\r\n\r\n")
        raw.settimeout(0.3)
        with pytest.raises(TimeoutError):
            raw.recv(100)
    with Client(emulator) as client:  # later connections are answered
        assert client.recv()["type"] == "session.created"


def test_hanging_connections_do_not_block_stop(make_emulator):
    emu = make_emulator(faults=FaultPlan(hang_on_connect=True))
    raw = socket.create_connection(("127.0.0.1", emu.port), timeout=5)
    raw.sendall(b"GET /voice-live/realtime HTTP/1.1\r\nHost: x\r\n\r\n")
    emu.wait_until(lambda e: e.hung == 1)
    emu.stop()
    raw.settimeout(5)
    assert raw.recv(100) == b""  # the emulator closed it
    raw.close()


def test_response_delay(emulator):
    emulator.set_faults(FaultPlan(response_delay_ms=300))
    with Client(emulator) as client:
        turn(client)
        start = time.monotonic()
        client.until("response.created")
        assert time.monotonic() - start >= 0.29


def test_slow_server_delays_every_event(emulator):
    emulator.set_faults(FaultPlan(event_delay_ms=20))
    start = time.monotonic()
    with Client(emulator) as client:
        client.recv()
        client.send({"type": "input_audio_buffer.clear"})
        client.send({"type": "input_audio_buffer.clear"})
        client.until("input_audio_buffer.cleared")
        client.until("input_audio_buffer.cleared")
    assert time.monotonic() - start >= 3 * 0.02


def test_drop_after_audio_deltas(emulator):
    emulator.set_faults(FaultPlan(drop_after_audio_deltas=3))
    with Client(emulator) as client:
        turn(client)
        with pytest.raises(ConnectionClosedError) as info:
            client.until("response.done")
        assert info.value.rcvd is None  # no close frame: the TCP connection was cut
    assert types(client.received).count("response.audio.delta") == 3
    assert emulator.session().dropped


def test_drop_mid_utterance_after_appends(emulator):
    emulator.set_faults(FaultPlan(drop_after_appends=5))
    with Client(emulator) as client:
        client.configure(input_audio_sampling_rate=16000)
        with pytest.raises(ConnectionClosed):
            client.append(silence(2000))  # 100 appends; the 5th one cuts the line
            client.recv()
    emulator.wait_until(lambda e: e.session().closed)
    record = emulator.session()
    assert record.dropped and len(record.events("input_audio_buffer.append")) == 5


def test_malformed_json_and_unknown_event_mid_stream(emulator):
    emulator.set_faults(FaultPlan(malformed_json_after_audio_deltas=1, unknown_event_after_audio_deltas=2))
    frames = []
    with Client(emulator) as client:
        turn(client)
        while True:
            frame = client.ws.recv(timeout=5)
            frames.append(frame)
            try:
                if json.loads(frame)["type"] == "response.done":
                    break
            except ValueError:
                continue
    bad = [f for f in frames if not _is_json(f)]
    assert len(bad) == 1
    kinds = [json.loads(f)["type"] for f in frames if _is_json(f)]
    assert "emulator.unknown_event" in kinds
    assert kinds.index("emulator.unknown_event") > kinds.index("response.audio.delta")
    assert json.loads(frames[-1])["response"]["status"] == "completed"  # the stream went on


def _is_json(frame: str) -> bool:
    try:
        json.loads(frame)
    except ValueError:
        return False
    return True


def test_error_mid_response_fails_it(emulator):
    emulator.set_faults(FaultPlan(error_after_audio_deltas=2))
    with Client(emulator) as client:
        turn(client)
        events = client.until("response.done")
        error = next(e for e in events if e["type"] == "error")["error"]
        assert error["type"] == "server_error"
        assert types(events).count("response.audio.delta") == 2
        assert events[-1]["response"]["status"] == "failed"
        client.send({"type": "input_audio_buffer.clear"})  # the session is still open
        assert client.recv()["type"] == "input_audio_buffer.cleared"


def test_stall(emulator):
    emulator.set_faults(FaultPlan(stall_s=0.4, stall_after_audio_deltas=2))
    with Client(emulator) as client:
        turn(client)
        while types(client.received).count("response.audio.delta") < 2:
            client.recv()
        start = time.monotonic()
        client.recv()  # the first event after the second delta comes only after the stall
        assert time.monotonic() - start >= 0.35
        assert client.until("response.done")[-1]["response"]["status"] == "completed"


def test_session_expiry(emulator):
    emulator.set_faults(FaultPlan(expire_after_s=0.3))
    with Client(emulator) as client:
        created = client.recv()
        assert created["session"]["expires_at"] <= time.time() + 1
        error = client.recv(timeout=5)
        assert error["type"] == "error" and error["error"]["code"] == "session_expired"
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=5)
        assert client.ws.close_code == 1000 and client.ws.close_reason == "session expired"


def test_faulted_plan_is_recorded_per_session(emulator):
    plan = FaultPlan(event_delay_ms=1, connections=1)
    emulator.set_faults(plan)
    with Client(emulator) as first:
        first.recv()
    with Client(emulator) as second:
        second.recv()
    assert [s.faults for s in emulator.sessions] == [plan, FaultPlan()]
