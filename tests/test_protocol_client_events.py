"""Client event builders: exact wire shapes, event ids, base64 audio, and refusals of bad input."""

from __future__ import annotations

import base64
import json

import pytest

from edgevoice.voicelive.protocol import client_events as ce


def _roundtrip(event: dict) -> dict:
    return json.loads(json.dumps(event))


def test_every_event_has_a_fresh_event_id() -> None:
    events = [ce.input_audio_commit() for _ in range(200)]
    ids = {e["event_id"] for e in events}
    assert len(ids) == 200
    assert all(i.startswith("evt_") and len(i) == 24 for i in ids)


def test_event_id_can_be_chosen() -> None:
    assert ce.input_audio_clear(event_id="mine")["event_id"] == "mine"
    assert ce.response_create(event_id="r1")["event_id"] == "r1"


def test_session_update_copies_the_session() -> None:
    session = {"modalities": ["text", "audio"], "turn_detection": None}
    event = ce.session_update(session, event_id="e")
    assert event == {"type": "session.update", "event_id": "e", "session": session}
    session["instructions"] = "later change"
    assert "instructions" not in event["session"]
    assert _roundtrip(event) == event


def test_session_update_needs_a_mapping() -> None:
    with pytest.raises(TypeError):
        ce.session_update(["not", "a", "dict"])  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_input_audio_append_is_base64(kind) -> None:
    pcm = bytes(range(256)) * 3
    event = ce.input_audio_append(kind(pcm), event_id="a")
    assert event == {"type": "input_audio_buffer.append", "event_id": "a", "audio": base64.b64encode(pcm).decode()}
    assert "\n" not in event["audio"]
    assert base64.b64decode(event["audio"], validate=True) == pcm


def test_input_audio_append_refuses_text() -> None:
    with pytest.raises(TypeError):
        ce.input_audio_append("pcm")  # type: ignore[arg-type]


def test_commit_and_clear() -> None:
    assert ce.input_audio_commit(event_id="c") == {"type": "input_audio_buffer.commit", "event_id": "c"}
    assert ce.input_audio_clear(event_id="c") == {"type": "input_audio_buffer.clear", "event_id": "c"}


def test_response_create_without_options_has_no_response_object() -> None:
    assert ce.response_create(event_id="r") == {"type": "response.create", "event_id": "r"}


def test_response_create_with_pre_generated_text() -> None:
    event = ce.response_create(pre_generated_text="Sorry, I am offline right now.", event_id="r")
    assert event == {
        "type": "response.create",
        "event_id": "r",
        "response": {
            "pre_generated_assistant_message": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": "Sorry, I am offline right now."}],
            }
        },
    }


def test_response_create_with_every_option() -> None:
    event = ce.response_create(
        "Answer in one sentence.",
        conversation="none",
        voice={"type": "azure-standard", "name": "en-US-AvaNeural"},
        output_audio_format="pcm16_16000hz",
        modalities=("text", "audio"),
        temperature=1,
        max_output_tokens="inf",
        additional_instructions="The user is in a hurry.",
        metadata={"turn": 3},
        event_id="r",
    )
    assert event == {
        "type": "response.create",
        "event_id": "r",
        "additional_instructions": "The user is in a hurry.",
        "response": {
            "instructions": "Answer in one sentence.",
            "conversation": "none",
            "voice": {"type": "azure-standard", "name": "en-US-AvaNeural"},
            "output_audio_format": "pcm16_16000hz",
            "modalities": ["text", "audio"],
            "temperature": 1.0,
            "max_output_tokens": "inf",
            "metadata": {"turn": "3"},
        },
    }
    assert _roundtrip(event) == event


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"conversation": "sometimes"}, ValueError),
        ({"modalities": ["audio", "video"]}, ValueError),
        ({"modalities": []}, ValueError),
        ({"modalities": "audio"}, ValueError),
        ({"max_output_tokens": 0}, ValueError),
        ({"max_output_tokens": True}, ValueError),
        ({"max_output_tokens": "lots"}, ValueError),
        ({"temperature": "hot"}, TypeError),
        ({"temperature": True}, TypeError),
        ({"pre_generated_text": ""}, ValueError),
        ({"pre_generated_text": 5}, TypeError),
        ({"voice": ""}, ValueError),
        ({"instructions": 5}, TypeError),
    ],
)
def test_response_create_refuses_bad_options(kwargs, error) -> None:
    with pytest.raises(error):
        ce.response_create(**kwargs)


def test_response_cancel() -> None:
    assert ce.response_cancel(event_id="x") == {"type": "response.cancel", "event_id": "x"}
    assert ce.response_cancel("resp_1", event_id="x") == {"type": "response.cancel", "event_id": "x", "response_id": "resp_1"}


def test_item_truncate() -> None:
    assert ce.item_truncate("item_2", 1530, event_id="t") == {
        "type": "conversation.item.truncate", "event_id": "t", "item_id": "item_2", "content_index": 0, "audio_end_ms": 1530,
    }


@pytest.mark.parametrize(("item_id", "end", "index"), [("i", -1, 0), ("i", 1.5, 0), ("i", True, 0), ("i", 10, -1), ("", 10, 0)])
def test_item_truncate_refuses_bad_values(item_id, end, index) -> None:
    with pytest.raises(ValueError):
        ce.item_truncate(item_id, end, index)


def test_user_text_item() -> None:
    event = ce.item_create_user_text("What time is it?", previous_item_id="item_0", event_id="u")
    assert event == {
        "type": "conversation.item.create",
        "event_id": "u",
        "previous_item_id": "item_0",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What time is it?"}]},
    }


def test_function_output_item_serializes_non_strings() -> None:
    event = ce.item_create_function_output("call_1", {"time": "12:00", "ok": True}, event_id="f")
    assert event["item"] == {"type": "function_call_output", "call_id": "call_1", "output": '{"time":"12:00","ok":true}'}
    assert ce.item_create_function_output("call_1", "plain")["item"]["output"] == "plain"


def test_builders_keep_non_ascii_text() -> None:
    event = ce.item_create_user_text("Wie spät ist es? 今何時")
    assert json.loads(json.dumps(event, ensure_ascii=False))["item"]["content"][0]["text"] == "Wie spät ist es? 今何時"
