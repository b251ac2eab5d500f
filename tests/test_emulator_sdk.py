"""Conformance with the official SDK: its client holds a turn, and every server event deserializes.

The SDK (azure-ai-voicelive) is the machine-readable reference for field names: each event the
emulator sends must map to the right ``ServerEvent`` subclass and carry every field the SDK
declares as required, recursively (session, response, usage, items, content parts).
"""

from __future__ import annotations

import asyncio
import base64
import json
import types as pytypes
import typing
from typing import Any

import azure.ai.voicelive.models as sdk_models
import pytest
from azure.ai.voicelive import _unions
from azure.ai.voicelive.aio import ConnectionError as SdkConnectionError
from azure.ai.voicelive.aio import connect as sdk_connect
from azure.ai.voicelive.models import (
    AudioInputTranscriptionOptions,
    AzureStandardVoice,
    InputAudioFormat,
    Modality,
    OutputAudioFormat,
    RequestSession,
    ServerEvent,
    ServerVad,
    _models,
)
from azure.core.credentials import AzureKeyCredential
from emulator_helpers import KEY, Client, emulator, make_emulator, silence, speech_pcm  # noqa: F401
from websockets.exceptions import ConnectionClosed

from edgevoice.voicelive.emulator import FaultPlan

# The service leaves the audio out of input_audio parts it echoes; the SDK model reuses the
# request type there, which marks "audio" required.
EXEMPT = {("RequestAudioContentPart", "audio")}


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, pytypes.UnionType) and type(None) in typing.get_args(hint)


def conformance_problems(model: Any, where: str) -> list[str]:
    """Required SDK fields missing from a deserialized model, recursively."""
    problems = []
    cls = type(model)
    hints = typing.get_type_hints(cls, {**vars(_models), "_models": sdk_models, "_unions": _unions})
    for attr, rest in cls._attr_to_rest_field.items():  # noqa: SLF001 - the SDK's field table
        name = rest._rest_name  # noqa: SLF001
        value = model.get(name)
        if value is None:
            if not _optional(hints.get(attr)) and (cls.__name__, name) not in EXEMPT:
                problems.append(f"{where}.{name} ({cls.__name__}) is required")
            continue
        value = getattr(model, attr)  # must convert without error
        children = value if isinstance(value, list) else [value]
        for i, child in enumerate(children):
            if hasattr(type(child), "_attr_to_rest_field"):
                problems += conformance_problems(child, f"{where}.{name}" + (f"[{i}]" if isinstance(value, list) else ""))
    return problems


def check_event(payload: dict[str, Any]) -> ServerEvent:
    event = ServerEvent._deserialize(payload, [])  # noqa: SLF001 - what the SDK's recv() does
    assert type(event) is not ServerEvent, f"no SDK class for {payload['type']}"
    assert event.type == payload["type"]
    assert not conformance_problems(event, payload["type"])
    return event


def test_the_conformance_check_catches_missing_fields():
    delta = {"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i", "output_index": 0, "content_index": 0, "delta": ""}
    assert not conformance_problems(ServerEvent._deserialize(delta, []), "delta")  # noqa: SLF001
    del delta["item_id"]
    assert conformance_problems(ServerEvent._deserialize(delta, []), "delta") == ["delta.item_id (ServerEventResponseAudioDelta) is required"]  # noqa: SLF001
    done = {"type": "response.done", "response": {"id": "r", "usage": {"total_tokens": 1, "input_tokens": 1, "output_tokens": 0}}}
    problems = conformance_problems(ServerEvent._deserialize(done, []), "done")  # noqa: SLF001
    assert "done.response.usage.input_token_details (TokenUsage) is required" in problems


def test_every_event_of_rich_sessions_deserializes_in_the_sdk(make_emulator):
    emu = make_emulator(transcripts=["open the gate"], replies=["The gate is opening now.", "OK."], pacing="realtime")
    seen: dict[str, dict[str, Any]] = {}
    with Client(emu) as client:
        client.configure(
            input_audio_sampling_rate=16000,
            input_audio_transcription={"model": "azure-speech"},
            turn_detection={"type": "azure_semantic_vad", "silence_duration_ms": 300, "end_of_utterance_detection": {"model": "semantic_detection_v1"}},
            voice={"type": "azure-standard", "name": "en-US-AvaNeural", "temperature": 0.7},
            input_audio_noise_reduction={"type": "azure_deep_noise_suppression"},
        )
        client.append(silence(300) + speech_pcm("open the gate please") + silence(500))
        client.until("response.audio.delta")
        client.append(speech_pcm("wait") + silence(500))  # barge in: cancelled with turn_detected
        client.until("response.done")
        client.until("response.done")  # the reply to "wait"
        item_id = client.received[-1]["response"]["output"][0]["id"]
        client.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 100})
        client.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
        client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        client.send({"type": "conversation.item.delete", "item_id": item_id})
        client.send({"type": "input_audio_buffer.clear"})
        client.send({"type": "response.create", "response": {"modalities": ["text"]}})
        client.send({"type": "bogus"})
        client.until("error")
        client.until("response.done")
        for event in client.received:
            seen.setdefault(event["type"], event)
            check_event(event)
    assert {
        "session.created", "session.updated", "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed", "conversation.item.created", "conversation.item.input_audio_transcription.completed",
        "response.created", "response.output_item.added", "response.content_part.added", "response.audio.delta",
        "response.audio_transcript.delta", "response.audio.done", "response.audio_transcript.done", "response.content_part.done",
        "response.output_item.done", "response.done", "conversation.item.truncated", "conversation.item.retrieved",
        "conversation.item.deleted", "input_audio_buffer.cleared", "response.text.delta", "response.text.done", "error",
    } <= set(seen)
    cancelled = check_event(next(e for e in client.received if e["type"] == "response.done"))
    assert cancelled.response.status_details.reason == "turn_detected"
    assert check_event(seen["session.created"]).session.expires_at is not None


def test_failed_response_and_expiry_errors_deserialize(emulator):
    emulator.set_faults(FaultPlan(error_after_audio_deltas=1, expire_after_s=0.5))
    with Client(emulator) as client:
        client.configure(turn_detection=None)
        client.send({"type": "response.create"})
        failed = client.until("response.done")[-1]
        with pytest.raises(ConnectionClosed):
            client.until("never")
    assert check_event(failed).response.status == "failed"
    for event in client.received:
        check_event(event)
    assert client.received[-1]["error"]["code"] == "session_expired"


async def _sdk_turn(url: str) -> list[ServerEvent]:
    events: list[ServerEvent] = []
    async with sdk_connect(endpoint=url, credential=AzureKeyCredential(KEY), model="gpt-4o") as conn:
        events.append(await conn.recv())
        await conn.session.update(
            session=RequestSession(
                modalities=[Modality.TEXT, Modality.AUDIO],
                instructions="You are a helpful kiosk.",
                voice=AzureStandardVoice(name="en-US-Ava:DragonHDLatestNeural"),
                input_audio_format=InputAudioFormat.PCM16,
                input_audio_sampling_rate=16000,
                output_audio_format=OutputAudioFormat.PCM16_16000_HZ,
                turn_detection=ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=400),
                input_audio_transcription=AudioInputTranscriptionOptions(model="azure-speech"),
            )
        )
        pcm = silence(300) + speech_pcm("where is the exit") + silence(700)
        for i in range(0, len(pcm), 640):
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i : i + 640]).decode())
        async for event in conn:
            events.append(event)
            if event.type == "response.done":
                break
        await conn.conversation.item.truncate(item_id=events[-1].response.output[0].id, content_index=0, audio_end_ms=200)
        events.append(await conn.recv())
    return events


def test_official_sdk_client_holds_a_complete_turn(emulator):
    events = asyncio.run(asyncio.wait_for(_sdk_turn(emulator.url), 20))
    names = [type(e).__name__ for e in events]
    assert "ServerEvent" not in names and "ServerEventError" not in names, names
    assert names[:2] == ["ServerEventSessionCreated", "ServerEventSessionUpdated"]
    assert names[-2:] == ["ServerEventResponseDone", "ServerEventConversationItemTruncated"]
    assert events[1].session.turn_detection.silence_duration_ms == 400
    audio = b"".join(e.delta for e in events if type(e).__name__ == "ServerEventResponseAudioDelta")
    done = events[-2].response
    assert done.status == "completed" and done.usage.output_token_details.audio_tokens == round(len(audio) / 32000 * 20)
    record = emulator.session()
    assert record.model == "gpt-4o" and record.truncates[0]["audio_end_ms"] == 200
    assert json.loads(json.dumps(record.client_events[0]))["type"] == "session.update"


async def _sdk_connect_with(url: str, key: str) -> None:
    async with sdk_connect(endpoint=url, credential=AzureKeyCredential(key), model="gpt-realtime") as conn:
        await conn.recv()


def test_official_sdk_sees_auth_failure(emulator):
    with pytest.raises(SdkConnectionError, match="401"):
        asyncio.run(_sdk_connect_with(emulator.url, "not-the-key"))
