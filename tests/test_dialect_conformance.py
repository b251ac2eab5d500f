"""Conformance of the Azure OpenAI (GA) dialect with the ``openai`` package's realtime types, the way
``test_conformance_sdk.py`` checks Voice Live against ``azure-ai-voicelive``:

1. every client event edgevoice sends in this dialect (built by ``client_events``, rewritten by the
   dialect, ``session.update`` from real configs and with tools) is a ``RealtimeClientEventParam``
   with no key the types do not have;
2. every server event the emulator sends in this dialect, over a turn with server VAD, a
   transcription, a reply, a barge-in (cancel and truncate), a tool call and an error, parses into
   the right ``RealtimeServerEvent`` model with no field the models do not know.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from emulator_helpers import silence, speech_pcm

from edgevoice.config.load import parse_config
from edgevoice.voicelive.dialects import dialect_for
from edgevoice.voicelive.emulator.conversation import Conversation, SpeechRequest
from edgevoice.voicelive.emulator.ga import GaWire
from edgevoice.voicelive.emulator.tool_calls import ToolCall
from edgevoice.voicelive.protocol import client_events as ce
from edgevoice.voicelive.wire_events import WireEvents

pytest.importorskip("openai.types.realtime", reason="the openai package is in the test extra")
from openai_oracle import client_problems, server_problems  # noqa: E402

GA = dialect_for("azure-openai")
AOAI = 'service = "azure-openai"\nendpoint = "https://my-resource.openai.azure.com"'

BUILT = {
    "session.update": ce.session_update({"tools": [], "tool_choice": "auto"}),
    "input_audio_buffer.append": ce.input_audio_append(b"\x01\x00" * 480),
    "input_audio_buffer.commit": ce.input_audio_commit(),
    "input_audio_buffer.clear": ce.input_audio_clear(),
    "response.create": ce.response_create(),
    "response.create+options": ce.response_create("Answer briefly.", voice="alloy", output_audio_format="pcm16",
                                                  modalities=["text", "audio"], max_output_tokens=200, metadata={"k": "v"},
                                                  conversation="none"),
    "response.cancel": ce.response_cancel(),
    "response.cancel+id": ce.response_cancel("resp_1"),
    "conversation.item.truncate": ce.item_truncate("item_1", 1200),
    "conversation.item.create+user_text": ce.item_create_user_text("hello", previous_item_id="item_0"),
    "conversation.item.create+function_output": ce.item_create_function_output("call_1", {"ok": True}),
}


@pytest.mark.parametrize("name", list(BUILT))
def test_client_events_conform_to_the_openai_types(name: str) -> None:
    assert client_problems(GA.client_event(BUILT[name])) == []


def test_the_wire_at_24_khz_conforms() -> None:
    wire = WireEvents(GA)
    sent = wire.convert(ce.input_audio_append(b"\x01\x00" * 320)) + wire.convert(ce.input_audio_commit())
    assert [e["type"] for e in sent] == ["input_audio_buffer.append", "input_audio_buffer.append", "input_audio_buffer.commit"]
    assert all(client_problems(e) == [] for e in sent)
    samples = sum(len(base64.b64decode(e["audio"])) // 2 for e in sent if "audio" in e)
    assert samples == pytest.approx(480, abs=2)  # 20 ms at 24 kHz, the filter's tail flushed at the commit


CONFIGS = {
    "defaults": "",
    "server-vad": '[voicelive.turn_detection]\ntype = "server_vad"\nthreshold = 0.6\nprefix_padding_ms = 300\n'
                  "silence_duration_ms = 500\ncreate_response = true\ninterrupt_response = true\n",
    "everything": 'voice = "cedar"\nnoise_reduction = "near_field"\nmax_response_output_tokens = "inf"\n'
                  '[voicelive.transcription]\nmodel = "gpt-4o-mini-transcribe"\nlanguage = "de"\nprompt = "Kiosk"\n',
    "deployment": 'model = "gpt-realtime-mini"\ndeployment = "kiosk"\nmax_response_output_tokens = 250\n',
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_session_update_from_config_conforms(name: str) -> None:
    extra = CONFIGS[name]
    td = "" if "[voicelive.turn_detection]" in extra else '[voicelive.turn_detection]\ntype = "none"\n'
    head, _, tables = extra.partition("[")
    cfg = parse_config(f"[voicelive]\n{AOAI}\n{head}\n{td}{'[' + tables if tables else ''}", "<test>")
    tools = {"tools": [{"type": "function", "name": "get_time", "description": "now", "parameters": {"type": "object", "properties": {}}}],
             "tool_choice": "auto"}
    event = GA.client_event(ce.session_update({**GA.session_payload(cfg.voicelive), **tools}))
    assert client_problems(event) == []


def test_the_checker_catches_voice_live_shapes() -> None:
    assert client_problems(ce.session_update({"type": "realtime", "modalities": ["text", "audio"]}))
    assert client_problems(ce.session_update({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}))
    assert client_problems(ce.response_create(pre_generated_text="Hi."))
    assert server_problems({"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
                            "output_index": 0, "content_index": 0, "delta": "AAAA"})
    assert server_problems({"type": "session.created", "event_id": "e", "session": {"type": "realtime", "voice": "alloy"}})


# --- the emulator's server events in this dialect ------------------------------------------------


def _drain(conv: Conversation, rate: int = 24000) -> list[dict[str, Any]]:
    from edgevoice.audio.speech import Speech

    out: list[dict[str, Any]] = []
    while (event := conv.next_event()) is not None:
        if isinstance(event, SpeechRequest):
            conv.provide_speech(event, Speech().render(event.text, event.sample_rate, "alloy"))
            continue
        out.append(event)
    return out


def _send(conv: Conversation, event: dict[str, Any]) -> list[dict[str, Any]]:
    conv.receive(json.dumps(event))
    return _drain(conv)


def _ga_session_events() -> list[dict[str, Any]]:
    cfg = parse_config(f"[voicelive]\n{AOAI}\n[voicelive.turn_detection]\ntype = \"server_vad\"\n"
                       '[voicelive.transcription]\nmodel = "whisper-1"\n', "<test>").voicelive
    conv = Conversation(model="gpt-realtime", now=0.0, wire=GaWire(), transcripts=("what time is it",),
                        tool_calls=(ToolCall("get_time", json.dumps({"tz": "UTC"})),))
    events = _drain(conv)
    events += _send(conv, GA.client_event(ce.session_update(GA.session_payload(cfg))))
    wire = WireEvents(GA)
    pcm = silence(300) + speech_pcm("what time is it") + silence(900)
    for start in range(0, len(pcm), 640):
        for sent in wire.convert(ce.input_audio_append(pcm[start:start + 640])):
            events += _send(conv, sent)
    events += _send(conv, GA.client_event(ce.item_create_function_output("call_x", {"time": "noon"})))
    events += _send(conv, GA.client_event(ce.response_create()))  # answers the tool output
    events += _send(conv, GA.client_event(ce.item_create_user_text("and the weather?")))
    conv.receive(json.dumps(GA.client_event(ce.response_create())))
    first = conv.next_event()
    events.append(first)
    assert first["type"] == "response.created"
    events += _send(conv, GA.client_event(ce.response_cancel()))
    item = next(e["item"]["id"] for e in events if e["type"] == "response.output_item.added" and e["item"]["type"] == "message")
    events += _send(conv, GA.client_event(ce.item_truncate(item, 0)))
    events += _send(conv, GA.client_event(ce.input_audio_clear()))
    events += _send(conv, {"type": "conversation.item.truncate", "event_id": "evt_bad", "item_id": "nope", "content_index": 0, "audio_end_ms": 1})
    return events


@pytest.fixture(scope="module")
def ga_events() -> list[dict[str, Any]]:
    return _ga_session_events()


def test_the_emulator_sends_a_whole_ga_conversation(ga_events: list[dict[str, Any]]) -> None:
    kinds = {e["type"] for e in ga_events}
    assert {"session.created", "session.updated", "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed", "conversation.item.added", "response.created", "response.output_item.added",
            "response.output_audio.delta", "response.output_audio_transcript.delta", "response.output_audio_transcript.done",
            "response.function_call_arguments.done", "response.done", "conversation.item.truncated",
            "input_audio_buffer.cleared", "error"} <= kinds, sorted(kinds)
    assert not kinds & {"response.audio.delta", "response.audio_transcript.done", "conversation.item.created"}


def test_every_emulator_event_conforms_to_the_openai_types(ga_events: list[dict[str, Any]]) -> None:
    problems = {e["type"]: server_problems(e) for e in ga_events}
    assert {kind: found for kind, found in problems.items() if found} == {}


def test_the_parser_types_every_ga_event(ga_events: list[dict[str, Any]]) -> None:
    from edgevoice.voicelive.protocol.parser import ServerEventParser

    parser = ServerEventParser()
    for event in ga_events:
        parser.parse(json.dumps(event))
    assert parser.stats.errors == 0 and parser.stats.unknown == 0
