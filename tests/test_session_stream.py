"""An open Voice Live session over real sockets: a full turn, concurrent sends, callbacks that
fail, drops mid-stream, server close codes, ping/pong and the keep-alive timeout, clean close,
broken frames, and session expiry."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time

import pytest

from edgevoice.voicelive.protocol import server_events as ev
from edgevoice.voicelive.errors import SessionClosed
from edgevoice.voicelive.session import VoiceLiveSession
from session_helpers import (
    OP_BINARY,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    Collector,
    MiniVoiceLive,
    frame,
    send_close,
    send_json,
)

KEY = "sk-stream-0a1b2c3d4e5f"
SESSION = {"modalities": ["text", "audio"], "turn_detection": None}


@pytest.fixture(autouse=True)
def _never_log_the_key(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    yield
    assert KEY not in caplog.text


def open_session(server: MiniVoiceLive, collector: Collector, **kwargs) -> VoiceLiveSession:
    session = VoiceLiveSession(
        server.url(), {"api-key": KEY}, kwargs.pop("session", SESSION),
        on_event=kwargs.pop("on_event", collector.on_event), on_close=collector.on_close, **kwargs,
    )
    session.connect()
    return session


def test_a_full_turn() -> None:
    reply = bytes(range(256)) * 30
    collector = Collector()
    with MiniVoiceLive(reply_pcm=reply, chunk=1000) as server:
        session = open_session(server, collector)
        spoken = b"\x10\x00" * 1600
        for start in range(0, len(spoken), 640):  # 20 ms chunks of 16 kHz audio
            session.append_audio(spoken[start : start + 640])
        session.commit()
        event_id = session.create_response()
        assert event_id.startswith("evt_")
        assert collector.wait_for(lambda: collector.of_type(ev.ResponseDone))
        session.close()
        assert bytes(server.audio_in) == spoken
        assert [e["type"] for e in server.received][-2:] == ["input_audio_buffer.commit", "response.create"]
    deltas = collector.of_type(ev.AudioDelta)
    assert b"".join(d.pcm for d in deltas) == reply and len(deltas) == 8
    done = collector.of_type(ev.ResponseDone)[0]
    assert done.status == "completed" and done.usage.output_tokens == 20
    assert collector.of_type(ev.TranscriptDone)[0].transcript == "Hello."
    assert [type(e) for e in collector.events[:4]] == [ev.SessionCreated, ev.SessionUpdated, ev.InputCommitted, ev.ResponseCreated]
    assert session.stats.errors == 0 and session.stats.events == len(collector.events)
    assert collector.closes == []  # a close we asked for is not a drop


def test_convenience_methods_send_the_right_events() -> None:
    collector = Collector()
    with MiniVoiceLive() as server:
        session = open_session(server, collector)
        session.clear_input()
        session.cancel_response("resp_9")
        session.truncate("item_2", 1500)
        session.send_user_text("hello")
        session.send_function_output("call_1", {"ok": True})
        session.update_session({"instructions": "Be brief."})
        session.create_response(pre_generated_text="One moment.")
        assert collector.wait_for(lambda: collector.of_type(ev.ResponseDone))
        session.close()
    kinds = [e["type"] for e in server.received[1:]]
    assert kinds == ["input_audio_buffer.clear", "response.cancel", "conversation.item.truncate", "conversation.item.create",
                     "conversation.item.create", "session.update", "response.create"]
    assert server.received[3] == {**server.received[3], "item_id": "item_2", "audio_end_ms": 1500, "content_index": 0}
    assert server.received[-1]["response"]["pre_generated_assistant_message"]["content"][0]["text"] == "One moment."


def test_concurrent_senders_do_not_interleave_frames() -> None:
    collector = Collector()
    with MiniVoiceLive() as server:
        session = open_session(server, collector)

        def stream(value: int) -> None:
            for _ in range(50):
                session.append_audio(bytes([value]) * 640)

        threads = [threading.Thread(target=stream, args=(n,)) for n in range(1, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        session.commit()
        assert collector.wait_for(lambda: collector.of_type(ev.InputCommitted))
        session.close()
    appends = [e for e in server.received if e["type"] == "input_audio_buffer.append"]
    assert len(appends) == 200
    chunks = [base64.b64decode(e["audio"]) for e in appends]
    assert all(len(c) == 640 and len(set(c)) == 1 for c in chunks)
    assert sorted(c[0] for c in chunks) == sorted([1, 2, 3, 4] * 50)


def test_failing_callback_is_logged_and_delivery_goes_on(caplog) -> None:
    seen = []

    def explode(event: ev.ServerEvent) -> None:
        seen.append(event)
        raise RuntimeError("callback bug")

    collector = Collector()
    with MiniVoiceLive() as server:
        session = open_session(server, collector, on_event=explode)
        session.create_response()
        deadline = time.monotonic() + 10
        while not any(isinstance(e, ev.ResponseDone) for e in seen) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert session.is_open
        session.close()
    assert any(isinstance(e, ev.ResponseDone) for e in seen)
    assert "on_event callback failed" in caplog.text and "callback bug" in caplog.text


def test_drop_mid_stream_calls_on_close_once() -> None:
    def drop(server: MiniVoiceLive, conn: socket.socket, event: dict) -> None:
        send_json(conn, {"type": "response.created", "event_id": "e", "response": {"id": "r", "status": "in_progress"}})
        send_json(conn, {"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
                         "output_index": 0, "content_index": 0, "delta": "AAAA"})
        conn.shutdown(socket.SHUT_RDWR)

    collector = Collector()
    with MiniVoiceLive(script={"response.create": drop}) as server:
        session = open_session(server, collector)
        session.create_response()
        assert collector.wait_for(lambda: collector.closes)
        assert collector.closes[0][0] == 1006 and "connection lost" in collector.closes[0][1]
        assert session.closed and not session.is_open
        assert collector.of_type(ev.AudioDelta)
        with pytest.raises(SessionClosed, match="closed"):
            session.append_audio(b"\x00\x00")
        session.close()  # harmless after a drop
        time.sleep(0.05)
        assert len(collector.closes) == 1


@pytest.mark.parametrize(("code", "reason"), [(1011, "internal error"), (1000, "session expired"), (4001, "")])
def test_server_close_is_reported_and_answered(code, reason) -> None:
    def close_now(server: MiniVoiceLive, conn: socket.socket, event: dict) -> None:
        send_close(conn, code, reason)

    collector = Collector()
    with MiniVoiceLive(script={"response.create": close_now}) as server:
        session = open_session(server, collector)
        session.create_response()
        assert collector.wait_for(lambda: collector.closes)
        assert collector.closes == [(code, reason)]
        assert server.closed.wait(5) and server.close_codes == [code]  # the client echoed the close
        assert session.closed


def test_close_is_clean_and_idempotent() -> None:
    collector = Collector()
    with MiniVoiceLive() as server:
        session = open_session(server, collector)
        threads_before = {t.name for t in threading.enumerate()}
        assert {"edgevoice-voicelive-rx", "edgevoice-voicelive-ping"} <= threads_before
        session.close()
        session.close()
        assert server.closed.wait(5) and server.close_codes == [1000]
        assert session.closed and collector.closes == []
        alive = {t.name for t in threading.enumerate() if t.is_alive()}
        assert "edgevoice-voicelive-rx" not in alive and "edgevoice-voicelive-ping" not in alive
        with pytest.raises(SessionClosed, match="closed"):
            session.commit()


def test_close_without_an_answer_from_the_server_still_returns() -> None:
    def deaf(server: MiniVoiceLive, conn: socket.socket, event: dict) -> None:
        time.sleep(3)  # ignores everything, including our close frame

    collector = Collector()
    with MiniVoiceLive(script={"response.create": deaf}) as server:
        session = open_session(server, collector, close_timeout=0.2)
        session.create_response()
        started = time.monotonic()
        session.close()
        assert time.monotonic() - started < 5
        assert session.closed and collector.closes == []


def test_close_from_inside_a_callback() -> None:
    collector = Collector()
    holder: dict[str, VoiceLiveSession] = {}

    def on_event(event: ev.ServerEvent) -> None:
        collector.on_event(event)
        if isinstance(event, ev.ResponseCreated):
            holder["s"].close()

    with MiniVoiceLive() as server:
        holder["s"] = open_session(server, collector, on_event=on_event)
        holder["s"].create_response()
        assert server.closed.wait(5) and server.close_codes == [1000]
        assert collector.wait_for(lambda: holder["s"].closed)
    assert collector.closes == []


def test_send_before_connect_is_refused() -> None:
    session = VoiceLiveSession("ws://127.0.0.1:9/", {"api-key": KEY}, None, on_event=print)
    with pytest.raises(SessionClosed, match="not connected yet"):
        session.commit()


def test_pings_keep_the_connection_alive() -> None:
    collector = Collector()
    with MiniVoiceLive() as server:
        # Pings every 50 ms; an answer may take its time on a loaded machine (the unanswered case is below).
        session = open_session(server, collector, ping_interval=0.05, ping_timeout=10)
        deadline = time.monotonic() + 10
        while server.pings < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.pings >= 5
        assert session.is_open and collector.closes == []
        session.close()


def test_unanswered_pings_end_the_session() -> None:
    collector = Collector()
    with MiniVoiceLive(answer_pings=False) as server:
        session = open_session(server, collector, ping_interval=0.05, ping_timeout=0.2)
        assert collector.wait_for(lambda: collector.closes)
        code, reason = collector.closes[0]
        assert code == 1006 and "keep-alive" in reason
        assert session.closed and server.pings >= 1


def test_server_pings_are_answered() -> None:
    def ping(server: MiniVoiceLive, conn: socket.socket, event: dict) -> None:
        conn.sendall(frame(OP_PING, b"are you there"))
        send_json(conn, {"type": "input_audio_buffer.cleared", "event_id": "e"})

    collector = Collector()
    with MiniVoiceLive(script={"input_audio_buffer.clear": ping}) as server:
        session = open_session(server, collector, ping_interval=None)
        session.clear_input()
        assert collector.wait_for(lambda: collector.of_type(ev.InputBufferCleared))
        session.close()
        assert server.closed.wait(5)
    assert server.pongs == [b"are you there"]


def test_broken_events_are_counted_and_the_session_goes_on(caplog) -> None:
    def junk(server: MiniVoiceLive, conn: socket.socket, event: dict) -> None:
        conn.sendall(frame(OP_TEXT, b"{"))
        conn.sendall(frame(OP_TEXT, b'{"type":"response.animation_viseme.delta"}'))
        conn.sendall(frame(OP_TEXT, b'{"type":"response.audio.delta","response_id":"r","item_id":"i",'
                                    b'"output_index":0,"content_index":0,"delta":"not base64!"}'))
        conn.sendall(frame(OP_TEXT, b'{"type":"error","error":{"message":"\xff\xfe"}}'))  # invalid UTF-8
        # a fragmented message and a binary frame carrying JSON
        text = json.dumps({"type": "input_audio_buffer.cleared", "event_id": "frag"}).encode()
        conn.sendall(frame(OP_TEXT, text[:10], fin=False) + frame(OP_CONT, text[10:20], fin=False) + frame(OP_CONT, text[20:]))
        conn.sendall(frame(OP_BINARY, json.dumps({"type": "input_audio_buffer.cleared", "event_id": "bin"}).encode()))

    collector = Collector()
    with MiniVoiceLive(script={"input_audio_buffer.clear": junk}) as server:
        session = open_session(server, collector)
        session.clear_input()
        assert collector.wait_for(lambda: len(collector.of_type(ev.InputBufferCleared)) == 2)
        assert [e.event_id for e in collector.of_type(ev.InputBufferCleared)] == ["frag", "bin"]
        assert session.is_open
        assert session.stats.errors == 3 and session.stats.unknown == 1
        assert "base64" in caplog.text or "not JSON" in caplog.text
        session.close()


def test_an_invalid_frame_ends_the_session_as_a_protocol_error() -> None:
    def bad_frame(server: MiniVoiceLive, conn: socket.socket, event: dict) -> None:
        conn.sendall(bytes([0x80 | 0x40 | OP_TEXT, 2]) + b"{}")  # RSV1 set without an extension

    collector = Collector()
    with MiniVoiceLive(script={"input_audio_buffer.clear": bad_frame}) as server:
        session = open_session(server, collector)
        session.clear_input()
        assert collector.wait_for(lambda: collector.closes)
        assert collector.closes[0][0] == 1002
        assert session.closed


def test_expiry_from_the_server() -> None:
    now = time.time()
    collector = Collector()
    with MiniVoiceLive(expires_at=now + 600) as server:
        session = open_session(server, collector)
        assert session.expires_at == pytest.approx(now + 600)
        assert not session.expires_soon(300) and session.expires_soon(900)
        session.close()


def test_expiry_defaults_to_sixty_minutes_after_connecting() -> None:
    clock = [1_000_000.0]
    collector = Collector()
    with MiniVoiceLive(expires_at=None) as server:
        session = open_session(server, collector, wall_clock=lambda: clock[0])
        assert session.expires_at == 1_000_000.0 + 3600
        assert not session.expires_soon(120)
        clock[0] += 3600 - 100
        assert session.expires_soon(120) and not session.expires_soon(60)
        session.close()


def test_a_later_session_updated_moves_the_expiry() -> None:
    def extend(server: MiniVoiceLive, conn: socket.socket, event: dict) -> None:
        send_json(conn, {"type": "session.updated", "event_id": "e", "session": {"id": "sess_1", "expires_at": 2_000_000_000}})

    collector = Collector()
    with MiniVoiceLive(expires_at=1_900_000_000, script={"input_audio_buffer.clear": extend}) as server:
        session = open_session(server, collector)
        assert session.expires_at == 1_900_000_000
        session.clear_input()
        assert collector.wait_for(lambda: len(collector.of_type(ev.SessionUpdated)) == 2)
        assert session.expires_at == 2_000_000_000
        session.close()


def test_closing_under_load_does_not_hang() -> None:
    """Senders racing close() get SessionClosed, never a hang or another exception."""
    collector = Collector()
    errors: list[BaseException] = []
    with MiniVoiceLive() as server:
        session = open_session(server, collector)

        def stream() -> None:
            try:
                while True:
                    session.append_audio(b"\x00\x00" * 320)
            except SessionClosed:
                pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=stream) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.1)
        session.close()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_close_frame_payload_codes_are_parsed() -> None:
    def close_empty(server: MiniVoiceLive, conn: socket.socket, event: dict) -> None:
        conn.sendall(frame(0x8, b""))

    collector = Collector()
    with MiniVoiceLive(script={"input_audio_buffer.clear": close_empty}) as server:
        session = open_session(server, collector)
        session.clear_input()
        assert collector.wait_for(lambda: collector.closes)
        assert collector.closes == [(1005, "")]
        assert server.closed.wait(5) and server.close_codes == [1000]
