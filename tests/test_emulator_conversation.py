"""The emulator's sans-I/O session state machine, driven directly (no sockets)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import numpy as np
import pytest
from emulator_helpers import silence, speech_pcm, types

from edgevoice.voicelive.emulator.conversation import Conversation, SpeechRequest
from edgevoice.audio.speech import Speech

SPEECH = Speech()


def drain(conv: Conversation, limit: int | None = None) -> list[dict[str, Any]]:
    """Pull events until idle (or ``limit`` events), rendering speech when asked."""
    out: list[dict[str, Any]] = []
    while limit is None or len(out) < limit:
        event = conv.next_event()
        if event is None:
            return out
        if isinstance(event, SpeechRequest):
            conv.provide_speech(event, SPEECH.render(event.text, event.sample_rate, event.voice))
            continue
        out.append(event)
    return out


def send(conv: Conversation, event: dict[str, Any]) -> list[dict[str, Any]]:
    conv.receive(json.dumps(event))
    return drain(conv)


def append(conv: Conversation, pcm: bytes, chunk_bytes: int = 640) -> None:
    for i in range(0, len(pcm), chunk_bytes):
        conv.receive(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + chunk_bytes]).decode()}))


def new(**session: Any) -> Conversation:
    """A conversation at 16 kHz in and out, after session.created/updated were drained."""
    conv = Conversation(model="gpt-realtime", now=time.time())
    settings = {"input_audio_sampling_rate": 16000, "output_audio_format": "pcm16_16000hz", **session}
    events = send(conv, {"type": "session.update", "session": settings})
    assert types(events) == ["session.created", "session.updated"]
    return conv


def errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["error"] for e in events if e["type"] == "error"]


# --- session ---------------------------------------------------------------------------------


def test_session_created_first_with_defaults_and_expiry():
    now = time.time()
    conv = Conversation(model="gpt-4o", now=now)
    [created] = drain(conv)
    session = created["session"]
    assert created["type"] == "session.created" and created["event_id"]
    assert session["model"] == "gpt-4o"
    assert session["expires_at"] == int(now + 3600)
    assert session["input_audio_format"] == "pcm16" and session["input_audio_sampling_rate"] == 24000
    assert session["turn_detection"]["type"] == "server_vad"
    assert session["voice"]["type"] == "azure-standard"  # cascaded model: an Azure voice


def test_session_update_merges_partial_updates():
    conv = new(instructions="Be brief.")
    [updated] = send(conv, {"type": "session.update", "session": {"voice": "coral", "turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}})
    session = updated["session"]
    assert session["instructions"] == "Be brief."  # kept from the first update
    assert session["input_audio_sampling_rate"] == 16000
    assert session["voice"] == "coral"
    assert session["turn_detection"] == {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 400, "silence_duration_ms": 300,
        "create_response": True, "interrupt_response": True, "auto_truncate": False,
    }


@pytest.mark.parametrize(
    ("update", "code", "param"),
    [
        ({"output_audio_format": "mp3"}, "invalid_value", "session.output_audio_format"),
        ({"input_audio_sampling_rate": 44100}, "invalid_value", "session.input_audio_sampling_rate"),
        ({"voice": "nobody"}, "invalid_value", "session.voice"),
        ({"voice": {"type": "azure-custom", "name": "x"}}, "missing_required_parameter", "session.voice.endpoint_id"),
        ({"turn_detection": {"type": "semantic_vad"}}, "invalid_value", "session.turn_detection.type"),
        ({"turn_detection": {"threshold": 0.5}}, "missing_required_parameter", "session.turn_detection.type"),
        ({"turn_detection": {"type": "server_vad", "silence_duration_ms": "long"}}, "invalid_type", "session.turn_detection.silence_duration_ms"),
        ({"turn_detection": {"type": "azure_semantic_vad", "end_of_utterance_detection": {"model": "v9"}}}, "invalid_value", "session.turn_detection.end_of_utterance_detection.model"),
        ({"input_audio_noise_reduction": {"type": "loud"}}, "invalid_value", "session.input_audio_noise_reduction.type"),
        ({"input_audio_transcription": {"model": "ears-1"}}, "invalid_value", "session.input_audio_transcription.model"),
        ({"modalities": ["audio"]}, "invalid_value", "session.modalities"),
        ({"temperature": 2.0}, "decimal_above_max_value", "session.temperature"),
        ({"max_response_output_tokens": 0}, "integer_below_min_value", "session.max_response_output_tokens"),
        ({"tool_choice": "sometimes"}, "invalid_value", "session.tool_choice"),
        ({"colour": "blue"}, "unknown_parameter", "session.colour"),
        ({"model": "gpt-4o"}, "invalid_value", "session.model"),
    ],
)
def test_session_update_rejects_bad_values_and_changes_nothing(update, code, param):
    conv = new()
    before = dict(conv.session)
    events = send(conv, {"type": "session.update", "event_id": "evt_1", "session": update})
    [error] = errors(events)
    assert (error["type"], error["code"], error["param"], error["event_id"]) == ("invalid_request_error", code, param, "evt_1")
    assert error["message"]
    assert conv.session == before
    assert "session.updated" not in types(events)


def test_input_format_can_change_before_audio_but_not_after():
    conv = new()
    assert types(send(conv, {"type": "session.update", "session": {"input_audio_sampling_rate": 24000}})) == ["session.updated"]
    append(conv, silence(200, 24000))
    [error] = errors(send(conv, {"type": "session.update", "session": {"input_audio_sampling_rate": 16000}}))
    assert error["param"] == "session.input_audio_sampling_rate"
    [error] = errors(send(conv, {"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}}))
    assert error["param"] == "session.input_audio_format"
    # the same value again is fine (a client re-sending its whole session)
    assert types(send(conv, {"type": "session.update", "session": {"input_audio_sampling_rate": 24000, "instructions": "x"}})) == ["session.updated"]


# --- client event validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "code", "param"),
    [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "invalid_type", "event"),
        ('{"event_id": "e"}', "missing_required_parameter", "type"),
        ('{"type": "response.dance"}', "invalid_value", "type"),
        ('{"type": "input_audio.turn.start"}', "unsupported_event", "type"),
        ('{"type": "input_audio_buffer.append"}', "missing_required_parameter", "audio"),
        ('{"type": "input_audio_buffer.append", "audio": "***"}', "invalid_value", "audio"),
        ('{"type": "session.update"}', "missing_required_parameter", "session"),
        ('{"type": "session.update", "session": "x"}', "invalid_type", "session"),
        ('{"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}}', "invalid_value", "item.role"),
        ('{"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text"}]}}', "missing_required_parameter", "item.content[0].text"),
        ('{"type": "conversation.item.truncate", "item_id": "nope", "content_index": 0, "audio_end_ms": 5}', "invalid_value", "item_id"),
        ('{"type": "conversation.item.delete", "item_id": "nope"}', "invalid_value", "item_id"),
        ('{"type": "response.create", "response": {"speed": 2}}', "unknown_parameter", "response.speed"),
        ('{"type": "response.create", "response": {"conversation": "maybe"}}', "invalid_value", "response.conversation"),
        ('{"type": "response.cancel"}', "response_cancel_not_active", None),
        ('{"type": "input_audio_buffer.commit"}', "input_audio_buffer_commit_empty", None),
    ],
)
def test_bad_client_events_get_error_events_and_the_session_stays_usable(message, code, param):
    conv = new()
    conv.receive(message)
    [error] = errors(drain(conv))
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param), error
    assert error["message"]
    assert types(send(conv, {"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]


def test_odd_byte_count_is_an_error_for_pcm16():
    conv = new()
    [error] = errors(send(conv, {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x00\x01\x02").decode()}))
    assert error["param"] == "audio" and "16-bit" in error["message"]


def test_commit_needs_100_ms():
    conv = new(turn_detection=None)
    append(conv, silence(60))
    [error] = errors(send(conv, {"type": "input_audio_buffer.commit"}))
    assert error["code"] == "input_audio_buffer_commit_empty" and "60.00ms" in error["message"]
    append(conv, silence(60))
    assert types(send(conv, {"type": "input_audio_buffer.commit"}))[:2] == ["input_audio_buffer.committed", "conversation.item.created"]


# --- turns -----------------------------------------------------------------------------------

TURN = [
    "response.created",
    "response.output_item.added",
    "response.content_part.added",
]
TAIL = ["response.audio.done", "response.audio_transcript.done", "response.content_part.done", "response.output_item.done", "response.done"]


def test_manual_turn_full_event_sequence_and_audio():
    conv = new(turn_detection=None, input_audio_transcription={"model": "azure-speech"})
    append(conv, speech_pcm("what time is it"))
    committed = send(conv, {"type": "input_audio_buffer.commit"})
    deltas = [e for e in committed if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert types(committed) == ["input_audio_buffer.committed", "conversation.item.created",
                                *[d["type"] for d in deltas], "conversation.item.input_audio_transcription.completed"]
    item = committed[1]["item"]
    assert (item["role"], item["content"][0]["type"]) == ("user", "input_audio")
    assert committed[0]["item_id"] == item["id"] == committed[-1]["item_id"]
    assert "not recognised" in committed[-1]["transcript"]  # honest: no speech recognition
    assert "".join(d["delta"] for d in deltas) == committed[-1]["transcript"]

    events = send(conv, {"type": "response.create"})
    kinds = types(events)
    assert kinds[:3] == TURN and kinds[-5:] == TAIL
    middle = set(kinds[3:-5])
    assert middle == {"response.audio.delta", "response.audio_transcript.delta"}
    deltas = [e for e in events if e["type"] == "response.audio.delta"]
    audio = np.concatenate([np.frombuffer(base64.b64decode(d["delta"]), dtype="<i2") for d in deltas])
    assert all(len(base64.b64decode(d["delta"])) <= 2 * 1600 for d in deltas)  # 100 ms chunks at 16 kHz
    transcript = events[-4]["transcript"]
    assert transcript.startswith("I heard ") and transcript.endswith(" seconds of speech.")
    assert "".join(e["delta"] for e in events if e["type"] == "response.audio_transcript.delta").strip() == transcript
    expected = SPEECH.render(transcript, 16000, "alloy")
    assert audio.tobytes() == expected  # the reply audio is the rendered speech, in order
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["status_details"] is None
    usage = done["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert usage["output_token_details"]["audio_tokens"] == round(len(audio) / 16000 * 20)
    assert usage["input_token_details"]["audio_tokens"] > 0
    assert done["output"][0]["content"][0] == {"type": "audio", "transcript": transcript}


def test_server_vad_turn_detects_speech_and_answers():
    conv = new(turn_detection={"type": "server_vad", "prefix_padding_ms": 300, "silence_duration_ms": 500})
    words = speech_pcm("turn on the kitchen lights")
    append(conv, silence(1000) + words + silence(800))
    events = drain(conv)
    kinds = types(events)
    assert kinds[:4] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.created"]
    assert kinds[4:7] == TURN and kinds[-1] == "response.done"
    started, stopped = events[0], events[1]
    assert started["item_id"] == stopped["item_id"] == events[2]["item_id"] == events[3]["item"]["id"]
    # speech begins a little after 1000 ms (espeak's leading silence); start includes 300 ms padding
    assert 600 <= started["audio_start_ms"] <= 1000
    speech_end = 1000 + len(words) / 32
    assert speech_end - 300 <= stopped["audio_end_ms"] <= speech_end + 600
    assert events[-1]["response"]["status"] == "completed"


def test_silence_duration_decides_whether_a_pause_ends_the_turn():
    phrase = speech_pcm("hello") + silence(400) + speech_pcm("there")
    short = new(turn_detection={"type": "server_vad", "silence_duration_ms": 200, "create_response": False})
    append(short, silence(300) + phrase + silence(1000))
    long = new(turn_detection={"type": "server_vad", "silence_duration_ms": 900, "create_response": False})
    append(long, silence(300) + phrase + silence(1500))
    assert types(drain(short)).count("input_audio_buffer.committed") == 2
    events = drain(long)
    assert types(events).count("input_audio_buffer.committed") == 1
    assert "response.created" not in types(events)  # create_response false


def test_speech_during_a_reply_cancels_it_when_interrupt_response():
    conv = new(turn_detection={"type": "server_vad", "silence_duration_ms": 300})
    append(conv, silence(300) + speech_pcm("tell me a long story") + silence(600))
    first = drain(conv, limit=12)  # the reply is only partly sent
    assert "response.created" in types(first)
    append(conv, speech_pcm("stop"))
    rest = drain(conv)
    kinds = types(rest)
    assert "input_audio_buffer.speech_started" in kinds
    cancelled = [e for e in rest if e["type"] == "response.done"][0]
    assert cancelled["response"]["status"] == "cancelled"
    assert cancelled["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")


def test_no_interrupt_when_interrupt_response_is_false():
    conv = new(turn_detection={"type": "server_vad", "silence_duration_ms": 300, "interrupt_response": False})
    append(conv, silence(300) + speech_pcm("tell me a story") + silence(600))
    drain(conv, limit=8)
    append(conv, speech_pcm("stop") + silence(600))
    dones = [e["response"] for e in drain(conv) if e["type"] == "response.done"]
    assert [d["status"] for d in dones] == ["completed", "completed"]  # the second turn waited its turn


def test_response_cancel_by_client():
    conv = new(turn_detection=None)
    conv.receive(json.dumps({"type": "response.create"}))
    head = drain(conv, limit=4)
    response_id = head[0]["response"]["id"]
    events = send(conv, {"type": "response.cancel", "response_id": response_id})
    assert types(events)[-5:] == TAIL
    done = events[-1]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("cancelled", "client_cancelled")
    assert done["output"][0]["status"] == "incomplete"
    [error] = errors(send(conv, {"type": "response.cancel"}))
    assert error["code"] == "response_cancel_not_active"


def test_second_response_while_one_is_active_is_an_error():
    conv = new(turn_detection=None)
    conv.receive(json.dumps({"type": "response.create"}))
    drain(conv, limit=2)
    conv.receive(json.dumps({"type": "response.create", "event_id": "again"}))
    events = drain(conv)
    [error] = errors(events)
    assert (error["code"], error["event_id"]) == ("conversation_already_has_active_response", "again")
    assert [e["response"]["status"] for e in events if e["type"] == "response.done"] == ["completed"]


def test_truncate_within_and_beyond_the_reply_audio():
    conv = new(turn_detection=None)
    events = send(conv, {"type": "response.create"})
    item_id = events[1]["item"]["id"]
    audio_ms = sum(len(base64.b64decode(e["delta"])) for e in events if e["type"] == "response.audio.delta") / 32
    [truncated] = send(conv, {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 500})
    assert truncated == {**truncated, "type": "conversation.item.truncated", "item_id": item_id, "content_index": 0, "audio_end_ms": 500}
    [error] = errors(send(conv, {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 501}))
    assert (error["code"], error["param"]) == ("invalid_value", "audio_end_ms")  # now only 500 ms remain
    conv2 = new(turn_detection=None)
    events = send(conv2, {"type": "response.create"})
    too_long = int(audio_ms) + 1000
    [error] = errors(send(conv2, {"type": "conversation.item.truncate", "item_id": events[1]["item"]["id"], "content_index": 0, "audio_end_ms": too_long}))
    assert error["param"] == "audio_end_ms" and str(too_long) in error["message"]


def test_truncate_refuses_user_items():
    conv = new(turn_detection=None)
    [created] = send(conv, {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
    [error] = errors(send(conv, {"type": "conversation.item.truncate", "item_id": created["item"]["id"], "content_index": 0, "audio_end_ms": 0}))
    assert error["param"] == "item_id"


def test_pre_generated_message_is_spoken_verbatim_out_of_band():
    conv = new(turn_detection=None)
    text = "The shop closes at six, see you soon!"
    events = send(conv, {"type": "response.create", "response": {
        "conversation": "none",
        "pre_generated_assistant_message": {"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}]},
    }})
    assert events[-4]["transcript"] == text
    done = events[-1]["response"]
    assert done["conversation_id"] is None
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta")
    assert audio == SPEECH.render(text, 16000, "alloy")
    # out of band: the reply is not in the conversation
    [error] = errors(send(conv, {"type": "conversation.item.retrieve", "item_id": events[1]["item"]["id"]}))
    assert error["param"] == "item_id"


def test_user_text_item_and_default_reply():
    conv = new(turn_detection=None)
    [created] = send(conv, {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "open the door"}]}})
    assert created["item"]["role"] == "user" and created["item"]["status"] == "completed"
    assert created["previous_item_id"] is None
    events = send(conv, {"type": "response.create"})
    assert events[-4]["transcript"] == "You said: open the door"


def test_scripted_transcripts_and_replies():
    conv = Conversation(model="gpt-realtime", now=0, transcripts=["lights on"], replies=["Done."])
    send(conv, {"type": "session.update", "session": {"input_audio_sampling_rate": 16000, "turn_detection": None, "input_audio_transcription": {"model": "whisper-1"}}})
    append(conv, speech_pcm("lights on"))
    events = send(conv, {"type": "input_audio_buffer.commit"})
    assert events[-1]["transcript"] == "lights on"
    assert send(conv, {"type": "response.create"})[-4]["transcript"] == "Done."
    append(conv, speech_pcm("thank you"))
    send(conv, {"type": "input_audio_buffer.commit"})
    # scripts used up: honest defaults again
    assert send(conv, {"type": "response.create"})[-4]["transcript"].startswith("I heard ")


def test_no_transcription_event_unless_configured():
    conv = new(turn_detection=None)
    append(conv, silence(300))
    assert types(send(conv, {"type": "input_audio_buffer.commit"})) == ["input_audio_buffer.committed", "conversation.item.created"]


def test_clear_empties_the_buffer():
    conv = new(turn_detection=None)
    append(conv, silence(500))
    assert types(send(conv, {"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]
    assert errors(send(conv, {"type": "input_audio_buffer.commit"}))[0]["code"] == "input_audio_buffer_commit_empty"


def test_text_only_response():
    conv = new(turn_detection=None)
    events = send(conv, {"type": "response.create", "response": {"modalities": ["text"]}})
    kinds = types(events)
    assert "response.audio.delta" not in kinds and "response.text.delta" in kinds
    assert kinds[-4] == "response.text.done"


@pytest.mark.parametrize(("fmt", "rate", "width"), [("pcm16", 24000, 2), ("pcm16_8000hz", 8000, 2), ("g711_ulaw", 8000, 1), ("g711_alaw", 8000, 1)])
def test_response_level_output_format(fmt, rate, width):
    conv = new(turn_detection=None)
    events = send(conv, {"type": "response.create", "response": {"output_audio_format": fmt}})
    size = sum(len(base64.b64decode(e["delta"])) for e in events if e["type"] == "response.audio.delta")
    text = events[-4]["transcript"]
    assert size == len(SPEECH.render(text, rate, "alloy")) // 2 * width
    assert events[-1]["response"]["output_audio_format"] == fmt


def test_failed_response_hook():
    conv = new(turn_detection=None)
    conv.receive(json.dumps({"type": "response.create"}))
    drain(conv, limit=5)
    assert conv.fail_response("server_error", "boom")
    events = drain(conv)
    assert errors(events)[0]["type"] == "server_error"
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["status_details"]["error"]["message"] == "boom"
    assert not conv.fail_response("server_error", "no response active")
