"""The emulator over real loopback sockets, driven by a plain websockets client."""

from __future__ import annotations

import base64
import json
import threading

import numpy as np
import pytest
from emulator_helpers import KEY, Client, emulator, make_emulator, silence, speech_pcm, types  # noqa: F401
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from edgevoice.voicelive.emulator import Emulator, FaultPlan, Scenario


def refused(url: str, headers: dict[str, str] | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        connect(url, additional_headers=headers or {}, open_timeout=5)
    return info.value


def body(exc: InvalidStatus) -> dict:
    assert exc.response.headers["Content-Type"] == "application/json"
    return json.loads(exc.response.body)


# --- handshake -------------------------------------------------------------------------------


def test_auth_is_checked(emulator):
    url = f"{emulator.ws_url}?api-version=2026-07-15&model=gpt-realtime"
    for headers in (None, {"api-key": "wrong"}, {"Authorization": "Bearer wrong"}):
        exc = refused(url, headers)
        assert exc.response.status_code == 401
        assert "invalid subscription key" in body(exc)["error"]["message"]
    with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "session.created"
    assert emulator.rejected == [401, 401, 401] and emulator.accepted == 1


def test_any_key_accepted_without_a_configured_key_but_one_is_required(make_emulator):
    emu = make_emulator(api_key=None)
    with Client(emu, key="whatever") as client:
        assert client.recv()["type"] == "session.created"
    exc = refused(f"{emu.ws_url}?api-version=2026-07-15&model=m")
    assert exc.response.status_code == 401


def test_bad_path_version_and_model(emulator):
    base = emulator.url.replace("http", "ws")
    headers = {"api-key": KEY}
    exc = refused(f"{base}/openai/realtime?api-version=2026-07-15&model=m", headers)
    assert exc.response.status_code == 404 and body(exc)["error"]["message"] == "Resource not found"
    exc = refused(f"{emulator.ws_url}?api-version=2023-01-01&model=m", headers)
    assert exc.response.status_code == 400 and "2023-01-01" in body(exc)["error"]["message"]
    exc = refused(f"{emulator.ws_url}?model=m", headers)
    assert exc.response.status_code == 400 and "api-version" in body(exc)["error"]["message"]
    exc = refused(f"{emulator.ws_url}?api-version=2025-10-01&model=", headers)
    assert exc.response.status_code == 400 and "model" in body(exc)["error"]["message"]


# --- session and turns -----------------------------------------------------------------------


def test_session_created_then_updated(emulator):
    with Client(emulator, model="gpt-4o-mini", api_version="2025-10-01") as client:
        created = client.recv()
        assert created["type"] == "session.created" and created["session"]["model"] == "gpt-4o-mini"
        updated = client.configure(instructions="You are a kiosk.", input_audio_sampling_rate=16000)["session"]
        assert updated["instructions"] == "You are a kiosk." and updated["input_audio_sampling_rate"] == 16000
        assert updated["id"] == created["session"]["id"] and updated["expires_at"] == created["session"]["expires_at"]
    record = emulator.session()
    assert (record.model, record.api_version) == ("gpt-4o-mini", "2025-10-01")


def test_full_turn_with_turn_detection_off(emulator):
    with Client(emulator) as client:
        client.configure(input_audio_sampling_rate=16000, turn_detection=None)  # output stays pcm16 = 24 kHz
        utterance = speech_pcm("what is the weather like today")
        client.append(utterance)
        client.send({"type": "input_audio_buffer.commit"})
        client.send({"type": "response.create"})
        events = client.until("response.done")
    kinds = types(events)
    assert kinds[:2] == ["input_audio_buffer.committed", "conversation.item.created"]
    assert kinds.index("response.created") < kinds.index("response.audio.delta") < kinds.index("response.audio.done")
    audio = np.concatenate([np.frombuffer(base64.b64decode(e["delta"]), dtype="<i2") for e in events if e["type"] == "response.audio.delta"])
    transcript = next(e for e in events if e["type"] == "response.audio_transcript.done")["transcript"]
    assert audio.tobytes() == emulator.speech.render(transcript, 24000, "alloy")  # 24 kHz PCM of the reply
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["usage"]["output_token_details"]["audio_tokens"] == round(len(audio) / 24000 * 20)
    record = emulator.session()
    assert record.audio_bytes == len(utterance)
    assert record.events("input_audio_buffer.append")[0]["audio_bytes"] == 640
    assert record.responses == [{"id": done["id"], "status": "completed", "reason": None}]


def test_server_vad_turn(emulator):
    with Client(emulator) as client:
        client.configure(input_audio_sampling_rate=16000, output_audio_format="pcm16_16000hz")
        client.append(silence(500) + speech_pcm("please call my daughter") + silence(1000))
        events = client.until("response.done")
    kinds = types(events)
    assert kinds[:4] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.created"]
    assert events[0]["audio_start_ms"] < events[1]["audio_end_ms"]
    assert events[-1]["response"]["status"] == "completed"


def test_cancel_stops_a_paced_reply(make_emulator):
    emu = make_emulator(pacing="realtime", replies=["This reply is long enough to still be playing when the client cancels it."])
    with Client(emu) as client:
        client.configure(turn_detection=None)
        client.send({"type": "response.create"})
        head = client.until("response.audio.delta")
        client.send({"type": "response.cancel", "response_id": head[0]["response"]["id"]})
        rest = client.until("response.done")
    deltas = types(head + rest).count("response.audio.delta")
    done = rest[-1]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("cancelled", "client_cancelled")
    assert deltas < 20  # the reply is ~5 s of 100 ms chunks; cancel stopped it early
    assert emu.responses_cancelled == 1


def test_barge_in_cancels_a_paced_reply(make_emulator):
    emu = make_emulator(pacing="realtime", replies=["Here is a long answer that keeps talking for several seconds, on and on."])
    with Client(emu) as client:
        client.configure(input_audio_sampling_rate=16000, turn_detection={"type": "server_vad", "silence_duration_ms": 300})
        client.append(silence(300) + speech_pcm("tell me something") + silence(500))
        client.until("response.audio.delta")
        client.append(speech_pcm("stop"))
        done = client.until("response.done")[-1]["response"]
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}


def test_truncate_is_checked_and_recorded(emulator):
    with Client(emulator) as client:
        client.configure(turn_detection=None)
        client.send({"type": "response.create"})
        events = client.until("response.done")
        item_id = events[-1]["response"]["output"][0]["id"]
        client.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 400})
        assert client.recv() == {**client.received[-1], "type": "conversation.item.truncated", "audio_end_ms": 400}
        client.send({"type": "conversation.item.truncate", "event_id": "t2", "item_id": item_id, "content_index": 0, "audio_end_ms": 60_000})
        error = client.recv()["error"]
    assert (error["param"], error["event_id"]) == ("audio_end_ms", "t2")
    assert [t["audio_end_ms"] for t in emulator.session().truncates] == [400, 60_000]


def test_pre_generated_assistant_message(emulator):
    text = "Welcome to the museum. The exhibition starts on your left."
    with Client(emulator) as client:
        client.send({"type": "response.create", "response": {"pre_generated_assistant_message": {"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}]}}})
        events = client.until("response.done")
    assert next(e for e in events if e["type"] == "response.audio_transcript.done")["transcript"] == text
    assert "".join(e["delta"] for e in events if e["type"] == "response.audio_transcript.delta").strip() == text


def test_bad_input_gets_errors_and_the_session_goes_on(emulator):
    with Client(emulator) as client:
        client.recv()
        client.ws.send("{this is not json")
        assert client.recv()["error"]["code"] == "invalid_json"
        client.send({"type": "no.such.event", "event_id": "x1"})
        error = client.recv()["error"]
        assert (error["code"], error["param"], error["event_id"]) == ("invalid_value", "type", "x1")
        client.send({"type": "input_audio_buffer.append", "audio": "%%%"})
        assert client.recv()["error"]["param"] == "audio"
        client.send({"type": "input_audio_buffer.clear"})
        assert client.recv()["type"] == "input_audio_buffer.cleared"


def test_three_concurrent_sessions_are_independent(make_emulator):
    emu = make_emulator(pacing="realtime")
    all_open = threading.Barrier(3, timeout=10)
    results: dict[int, dict] = {}
    failures: list[BaseException] = []

    def talk(n: int) -> None:
        try:
            with Client(emu, timeout=20) as client:
                client.configure(turn_detection=None, voice=["alloy", "coral", "sage"][n])
                all_open.wait()  # from here on, three sessions are open at once
                client.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"number {n}"}]}})
                client.send({"type": "response.create"})
                events = client.until("response.done")
                results[n] = {
                    "session": client.received[0]["session"]["id"],
                    "voice": events[-1]["response"]["voice"],
                    "transcript": events[-1]["response"]["output"][0]["content"][0]["transcript"],
                }
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=talk, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures, failures
    assert {n: (r["transcript"], r["voice"]) for n, r in results.items()} == {
        0: ("You said: number 0", "alloy"), 1: ("You said: number 1", "coral"), 2: ("You said: number 2", "sage")
    }
    assert len({r["session"] for r in results.values()}) == 3
    assert emu.accepted == 3


def test_stop_closes_open_sessions_with_going_away():
    emu = Emulator(api_key=KEY).start()
    client = Client(emu)
    client.recv()
    emu.stop()
    with pytest.raises(ConnectionClosed):
        client.recv(timeout=5)
    assert client.ws.close_code == 1001
    assert emu.session().closed


def test_port_in_use_is_reported():
    with Emulator(api_key=KEY) as first:
        with pytest.raises(OSError):
            Emulator(port=first.port).start()


def test_wait_until_and_repr_hide_the_key(emulator):
    assert KEY not in repr(emulator)
    with Client(emulator) as client:
        client.recv()
        client.send({"type": "input_audio_buffer.clear"})
        emulator.wait_until(lambda e: len(e.session().client_events) == 1)
    with pytest.raises(TimeoutError):
        emulator.wait_until(lambda e: e.accepted == 5, timeout=0.05)


def test_restart_keeps_the_port_so_clients_can_reconnect():
    emu = Emulator(api_key=KEY).start()
    port = emu.port
    emu.stop()
    with pytest.raises(OSError):
        Client(emu, timeout=1)  # nobody listening
    emu.start()
    try:
        assert emu.port == port
        with Client(emu) as client:
            assert client.recv()["type"] == "session.created"
        assert emu.accepted == 1  # records survive a restart
    finally:
        emu.stop()


def test_from_scenario():
    scenario = Scenario(FaultPlan(reject_status=503, connections=1), transcripts=("hi",), replies=("Hello.",), pacing="realtime")
    with Emulator.from_scenario(scenario, api_key=KEY) as emu:
        assert (emu.faults, emu.transcripts, emu.replies, emu.pacing) == (scenario.faults, ("hi",), ("Hello.",), "realtime")
        with pytest.raises(InvalidStatus):
            Client(emu)
        with Client(emu) as client:
            client.send({"type": "response.create"})
            assert client.until("response.done")[-1]["response"]["output"][0]["content"][0]["transcript"] == "Hello."
