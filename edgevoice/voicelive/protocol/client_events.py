"""Build Voice Live CLIENT events as plain dicts, ready for ``json.dumps``; sans I/O.

Every builder returns a new dict with ``type`` and an ``event_id`` (pass ``event_id=`` to choose
it; by default a random ``evt_...`` id, so an ``error`` event can be matched to what caused it).
Names and shapes follow the official ``azure-ai-voicelive`` SDK models (``ClientEvent*``);
``tests/test_conformance_sdk.py`` checks every builder against them.

The ``session`` dict for :func:`session_update` is built from the config elsewhere
(``edgevoice.voicelive.protocol.session_config.session_payload``).
"""

from __future__ import annotations

import binascii
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "input_audio_append",
    "input_audio_clear",
    "input_audio_commit",
    "item_create_function_output",
    "item_create_user_text",
    "item_truncate",
    "new_event_id",
    "response_cancel",
    "response_create",
    "session_update",
]

_MODALITIES = frozenset({"text", "audio"})
_CONVERSATIONS = frozenset({"auto", "none"})


def new_event_id() -> str:
    """A fresh random client event id (``evt_`` and 20 hex digits)."""
    return "evt_" + os.urandom(10).hex()


def _event(kind: str, event_id: str | None) -> dict[str, Any]:
    return {"type": kind, "event_id": event_id if event_id is not None else new_event_id()}


def session_update(session: Mapping[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """``session.update``: apply ``session`` (a partial session config) to the session."""
    if not isinstance(session, Mapping):
        raise TypeError(f"session must be a mapping, not {type(session).__name__}")
    event = _event("session.update", event_id)
    event["session"] = dict(session)
    return event


def input_audio_append(pcm: bytes | bytearray | memoryview, *, event_id: str | None = None) -> dict[str, Any]:
    """``input_audio_buffer.append``: add audio (in the session's input format) to the input buffer."""
    if not isinstance(pcm, (bytes, bytearray, memoryview)):
        raise TypeError(f"pcm must be bytes-like, not {type(pcm).__name__}")
    event = _event("input_audio_buffer.append", event_id)
    event["audio"] = binascii.b2a_base64(pcm, newline=False).decode("ascii")
    return event


def input_audio_commit(*, event_id: str | None = None) -> dict[str, Any]:
    """``input_audio_buffer.commit``: turn the buffered audio into a user message (error if empty)."""
    return _event("input_audio_buffer.commit", event_id)


def input_audio_clear(*, event_id: str | None = None) -> dict[str, Any]:
    """``input_audio_buffer.clear``: drop the audio buffered so far."""
    return _event("input_audio_buffer.clear", event_id)


def response_create(
    instructions: str | None = None,
    *,
    pre_generated_text: str | None = None,
    conversation: str | None = None,
    voice: str | Mapping[str, Any] | None = None,
    output_audio_format: str | None = None,
    modalities: Sequence[str] | None = None,
    temperature: float | None = None,
    max_output_tokens: int | str | None = None,
    additional_instructions: str | None = None,
    metadata: Mapping[str, str] | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``response.create``: ask for a reply; each option overrides the session for this reply only.

    ``pre_generated_text`` makes the service speak exactly that text without running the model
    (``pre_generated_assistant_message``). ``conversation="none"`` keeps the reply out of the
    conversation history; it is an OpenAI realtime field the Voice Live SDK does not model, so it is
    only sent when given. ``additional_instructions`` is appended to the session's instructions.
    """
    params: dict[str, Any] = {}
    if instructions is not None:
        params["instructions"] = _text("instructions", instructions, allow_empty=True)
    if pre_generated_text is not None:
        params["pre_generated_assistant_message"] = {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": _text("pre_generated_text", pre_generated_text)}],
        }
    if conversation is not None:
        if conversation not in _CONVERSATIONS:
            raise ValueError(f"conversation must be 'auto' or 'none', not {conversation!r}")
        params["conversation"] = conversation
    if voice is not None:
        if isinstance(voice, Mapping):
            params["voice"] = dict(voice)
        else:
            params["voice"] = _text("voice", voice)
    if output_audio_format is not None:
        params["output_audio_format"] = _text("output_audio_format", output_audio_format)
    if modalities is not None:
        mods = list(modalities)
        if isinstance(modalities, str) or not mods or not set(mods) <= _MODALITIES:
            raise ValueError(f"modalities must be a non-empty list of 'text'/'audio', not {modalities!r}")
        params["modalities"] = mods
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise TypeError("temperature must be a number")
        params["temperature"] = float(temperature)
    if max_output_tokens is not None:
        if max_output_tokens != "inf" and (
            isinstance(max_output_tokens, bool) or not isinstance(max_output_tokens, int) or max_output_tokens < 1
        ):
            raise ValueError(f"max_output_tokens must be a positive integer or 'inf', not {max_output_tokens!r}")
        params["max_output_tokens"] = max_output_tokens
    if metadata is not None:
        params["metadata"] = {str(k): str(v) for k, v in metadata.items()}
    event = _event("response.create", event_id)
    if params:
        event["response"] = params
    if additional_instructions is not None:
        event["additional_instructions"] = _text("additional_instructions", additional_instructions)
    return event


def response_cancel(response_id: str | None = None, *, event_id: str | None = None) -> dict[str, Any]:
    """``response.cancel``: stop the reply in progress (or the one named); it ends ``cancelled``."""
    event = _event("response.cancel", event_id)
    if response_id is not None:
        event["response_id"] = _text("response_id", response_id)
    return event


def item_truncate(
    item_id: str, audio_end_ms: int, content_index: int = 0, *, event_id: str | None = None
) -> dict[str, Any]:
    """``conversation.item.truncate``: tell the server only ``audio_end_ms`` of a reply was heard."""
    if isinstance(audio_end_ms, bool) or not isinstance(audio_end_ms, int) or audio_end_ms < 0:
        raise ValueError(f"audio_end_ms must be a non-negative integer, not {audio_end_ms!r}")
    if isinstance(content_index, bool) or not isinstance(content_index, int) or content_index < 0:
        raise ValueError(f"content_index must be a non-negative integer, not {content_index!r}")
    event = _event("conversation.item.truncate", event_id)
    event["item_id"] = _text("item_id", item_id)
    event["content_index"] = content_index
    event["audio_end_ms"] = audio_end_ms
    return event


def item_create_user_text(
    text: str, *, previous_item_id: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """``conversation.item.create`` with a typed user message (no audio)."""
    event = _event("conversation.item.create", event_id)
    if previous_item_id is not None:
        event["previous_item_id"] = _text("previous_item_id", previous_item_id)
    event["item"] = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": _text("text", text)}],
    }
    return event


def item_create_function_output(
    call_id: str, output: Any, *, previous_item_id: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """``conversation.item.create`` with a tool's result; ``output`` that is not a string is sent as JSON."""
    if not isinstance(output, str):
        output = json.dumps(output, separators=(",", ":"), ensure_ascii=False)
    event = _event("conversation.item.create", event_id)
    if previous_item_id is not None:
        event["previous_item_id"] = _text("previous_item_id", previous_item_id)
    event["item"] = {"type": "function_call_output", "call_id": _text("call_id", call_id), "output": output}
    return event


def _text(name: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return value
