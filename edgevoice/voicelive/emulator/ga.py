"""The emulator speaking the GA realtime dialect of Azure OpenAI (``/openai/v1/realtime``); sans-I/O.

The conversation is written in the Voice Live shape. :class:`GaWire` sits at its edges: GA client
events become Voice Live ones on the way in (a field GA does not have, such as
``pre_generated_assistant_message``, is refused as the service refuses it), and server events get
the GA names and shapes on the way out (``response.output_audio.delta``, ``conversation.item.added``,
the session's ``audio.input``/``audio.output``). ``tests/test_dialect_conformance.py`` checks what
comes out against the ``openai`` package's realtime models.
"""

from __future__ import annotations

import copy
from typing import Any

from edgevoice.voicelive.dialects.azure_openai import DIALECT
from edgevoice.voicelive.emulator.errors import ClientError, invalid_value, unknown_parameter

PATH = DIALECT.path
RATE = DIALECT.input_rate

_NAMES = DIALECT.event_names  # the Voice Live names the GA dialect spells otherwise
_GA_TO_VL_FORMAT = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_VL_TO_GA_FORMAT = {"pcm16": {"type": "audio/pcm", "rate": RATE}, "g711_ulaw": {"type": "audio/pcmu"}, "g711_alaw": {"type": "audio/pcma"}}
_SESSION_KEYS = ("type", "output_modalities", "instructions", "audio", "max_output_tokens", "tools", "tool_choice", "model")
_RESPONSE_KEYS = ("output_modalities", "instructions", "audio", "max_output_tokens", "conversation", "metadata", "tools", "tool_choice", "input")
_CONTENT_TYPES = {"audio": "output_audio", "text": "output_text"}
_GA_TURN_DETECTION = ("type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response",
                      "idle_timeout_ms", "eagerness")


class GaWire:
    """Translates one connection's events between the GA dialect and the emulator's Voice Live core."""

    def __init__(self) -> None:
        self._rate = RATE
        self._pending_bytes = 0  # input audio since the last commit (for the transcription's billed duration)
        self._committed_s: dict[str, float] = {}  # user item id -> seconds of audio committed

    def incoming(self, event: dict[str, Any]) -> dict[str, Any]:
        """A GA client event as the Voice Live conversation reads it; raises ClientError for GA-unknown fields."""
        kind = event.get("type")
        if kind == "input_audio_buffer.append" and isinstance(event.get("audio"), str):
            self._pending_bytes += len(event["audio"]) * 3 // 4
        elif kind == "input_audio_buffer.clear":
            self._pending_bytes = 0
        if kind == "session.update" and isinstance(event.get("session"), dict):
            return {**event, "session": _session_in(event["session"])}
        if kind == "response.create" and isinstance(event.get("response"), dict):
            return {**event, "response": _response_in(event["response"])}
        if kind == "response.create" and "additional_instructions" in event:
            raise unknown_parameter("additional_instructions")
        return event

    def outgoing(self, event: dict[str, Any]) -> dict[str, Any]:
        """A Voice Live server event with the GA name and shape."""
        out = copy.deepcopy(event)
        kind = out.get("type", "")
        if kind == "input_audio_buffer.committed":
            self._committed_s[str(out.get("item_id"))] = self._pending_bytes / 2 / self._rate
            self._pending_bytes = 0
        elif kind == "conversation.item.input_audio_transcription.completed":
            out["usage"] = {"type": "duration", "seconds": round(self._committed_s.pop(str(out.get("item_id")), 0.0), 3)}
        out["type"] = _NAMES.get(kind, kind)
        if isinstance(out.get("session"), dict):
            out["session"] = _session_out(out["session"])
        if isinstance(out.get("response"), dict):
            out["response"] = _response_out(out["response"])
        if isinstance(out.get("item"), dict):
            out["item"] = _item_out(out["item"])
        return out


def _format_in(fmt: Any, param: str) -> str:
    if not isinstance(fmt, dict) or fmt.get("type") not in _GA_TO_VL_FORMAT:
        raise invalid_value(param, fmt, ("audio/pcm", "audio/pcmu", "audio/pcma"))
    if fmt["type"] == "audio/pcm" and fmt.get("rate", RATE) != RATE:
        raise invalid_value(f"{param}.rate", fmt.get("rate"), (RATE,))
    return _GA_TO_VL_FORMAT[fmt["type"]]


def _modalities_in(value: Any, param: str) -> list[str]:
    if value == ["audio"]:
        return ["text", "audio"]
    if value == ["text"]:
        return ["text"]
    raise invalid_value(param, value, (["audio"], ["text"]))


def _session_in(ga: dict[str, Any]) -> dict[str, Any]:
    for key in ga:
        if key not in _SESSION_KEYS:
            raise unknown_parameter(f"session.{key}")
    if ga.get("type", "realtime") != "realtime":
        raise invalid_value("session.type", ga.get("type"), ("realtime",))
    vl: dict[str, Any] = {k: copy.deepcopy(ga[k]) for k in ("instructions", "tools", "tool_choice", "model") if k in ga}
    if "output_modalities" in ga:
        vl["modalities"] = _modalities_in(ga["output_modalities"], "session.output_modalities")
    if "max_output_tokens" in ga:
        vl["max_response_output_tokens"] = ga["max_output_tokens"]
    audio = ga.get("audio", {})
    if not isinstance(audio, dict):
        raise ClientError("invalid_type", "session.audio must be an object", "session.audio")
    inp, outp = audio.get("input", {}), audio.get("output", {})
    for where, part in (("input", inp), ("output", outp)):
        if not isinstance(part, dict):
            raise ClientError("invalid_type", f"session.audio.{where} must be an object", f"session.audio.{where}")
    if "format" in inp:
        vl["input_audio_format"] = _format_in(inp["format"], "session.audio.input.format")
        if vl["input_audio_format"] == "pcm16":
            vl["input_audio_sampling_rate"] = RATE
    if "turn_detection" in inp:
        vl["turn_detection"] = copy.deepcopy(inp["turn_detection"])
    if "noise_reduction" in inp:
        vl["input_audio_noise_reduction"] = copy.deepcopy(inp["noise_reduction"])
    if "transcription" in inp:
        vl["input_audio_transcription"] = copy.deepcopy(inp["transcription"])
    if "format" in outp:
        vl["output_audio_format"] = _format_in(outp["format"], "session.audio.output.format")
    if "voice" in outp:
        vl["voice"] = outp["voice"]
    for where, part, known in (("input", inp, ("format", "turn_detection", "noise_reduction", "transcription")), ("output", outp, ("format", "voice"))):
        for key in part:
            if key not in known:
                raise unknown_parameter(f"session.audio.{where}.{key}")
    return vl


def _response_in(ga: dict[str, Any]) -> dict[str, Any]:
    for key in ga:
        if key not in _RESPONSE_KEYS:
            raise unknown_parameter(f"response.{key}")
    vl = {k: copy.deepcopy(v) for k, v in ga.items() if k not in ("output_modalities", "audio")}
    if "output_modalities" in ga:
        vl["modalities"] = _modalities_in(ga["output_modalities"], "response.output_modalities")
    audio = ga.get("audio", {})
    output = audio.get("output", {}) if isinstance(audio, dict) else None
    if not isinstance(output, dict):
        raise ClientError("invalid_type", "response.audio.output must be an object", "response.audio.output")
    if "voice" in output:
        vl["voice"] = output["voice"]
    if "format" in output:
        vl["output_audio_format"] = _format_in(output["format"], "response.audio.output.format")
    return vl


def _output_modalities(modalities: Any) -> list[str]:
    return ["audio"] if isinstance(modalities, list) and "audio" in modalities else ["text"]


def _voice_out(voice: Any) -> Any:
    return voice.get("name") if isinstance(voice, dict) else voice


def _session_out(vl: dict[str, Any]) -> dict[str, Any]:
    audio_in: dict[str, Any] = {
        "format": copy.deepcopy(_VL_TO_GA_FORMAT.get(vl.get("input_audio_format", "pcm16"), _VL_TO_GA_FORMAT["pcm16"])),
        "turn_detection": _turn_detection_out(vl.get("turn_detection")),
        "noise_reduction": copy.deepcopy(vl.get("input_audio_noise_reduction")),
        "transcription": copy.deepcopy(vl.get("input_audio_transcription")),
    }
    audio_out = {
        "format": copy.deepcopy(_VL_TO_GA_FORMAT.get(vl.get("output_audio_format", "pcm16"), _VL_TO_GA_FORMAT["pcm16"])),
        "voice": _voice_out(vl.get("voice")),
    }
    ga: dict[str, Any] = {
        "type": "realtime",
        "model": vl.get("model"),
        "output_modalities": _output_modalities(vl.get("modalities")),
        "instructions": vl.get("instructions", ""),
        "audio": {"input": audio_in, "output": audio_out},
        "max_output_tokens": vl.get("max_response_output_tokens", "inf"),
        "tools": copy.deepcopy(vl.get("tools", [])),
        "tool_choice": copy.deepcopy(vl.get("tool_choice", "auto")),
    }
    return ga


def _turn_detection_out(td: Any) -> Any:
    if not isinstance(td, dict):
        return td
    return {k: copy.deepcopy(v) for k, v in td.items() if k in _GA_TURN_DETECTION}


def _response_out(vl: dict[str, Any]) -> dict[str, Any]:
    ga = {k: copy.deepcopy(vl[k]) for k in ("object", "id", "conversation_id", "status", "status_details", "usage", "metadata") if k in vl}
    ga["output_modalities"] = _output_modalities(vl.get("modalities"))
    ga["max_output_tokens"] = vl.get("max_output_tokens", "inf")
    ga["audio"] = {"output": {
        "format": copy.deepcopy(_VL_TO_GA_FORMAT.get(vl.get("output_audio_format", "pcm16"), _VL_TO_GA_FORMAT["pcm16"])),
        "voice": _voice_out(vl.get("voice")),
    }}
    ga["output"] = [_item_out(item) for item in vl.get("output", []) if isinstance(item, dict)]
    return ga


def _item_out(item: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(item)
    if out.get("role") == "assistant" and isinstance(out.get("content"), list):
        for part in out["content"]:
            if isinstance(part, dict) and part.get("type") in _CONTENT_TYPES:
                part["type"] = _CONTENT_TYPES[part["type"]]
    return out
