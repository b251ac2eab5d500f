"""The session object: its defaults, and ``session.update`` validated and merged the way the service does.

Top-level fields merge (a partial update changes only the fields it names); a nested object such
as ``turn_detection`` is replaced whole, with the service's defaults filled in. An update with any
bad field changes nothing and raises :class:`ClientError`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from edgevoice.voicelive.emulator import vocabulary
from edgevoice.voicelive.emulator.errors import (
    ClientError,
    invalid_type,
    invalid_value,
    missing,
    out_of_range,
    unknown_parameter,
)


def default_session(model: str, session_id: str, expires_at: int) -> dict[str, Any]:
    """The session a new connection starts with (sent in ``session.created``)."""
    return {
        "id": session_id,
        "object": "realtime.session",
        "model": model,
        "modalities": ["text", "audio"],
        "instructions": "",
        "voice": vocabulary.default_voice(model),
        "input_audio_format": "pcm16",
        "input_audio_sampling_rate": 24000,
        "output_audio_format": "pcm16",
        "turn_detection": {"type": "server_vad", **vocabulary.TURN_DETECTION_DEFAULTS},
        "input_audio_noise_reduction": None,
        "input_audio_echo_cancellation": None,
        "input_audio_transcription": None,
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
        "expires_at": expires_at,
    }


def apply_update(current: dict[str, Any], update: Any, *, audio_received: bool) -> dict[str, Any]:
    """The effective session after ``session.update``; ``current`` is left untouched.

    The input format and sampling rate, and the model, cannot change once audio has arrived.
    """
    if not isinstance(update, dict):
        raise invalid_type("session", "an object", update)
    merged = copy.deepcopy(current)
    for key, value in update.items():
        param = f"session.{key}"
        if key in vocabulary.READ_ONLY_SESSION_FIELDS:
            continue
        if key in vocabulary.PASSTHROUGH_SESSION_FIELDS:
            merged[key] = copy.deepcopy(value)
            continue
        check = _FIELDS.get(key)
        if check is None:
            raise unknown_parameter(param)
        merged[key] = check(value, param)
    if merged["model"] != current["model"]:
        raise ClientError(
            "invalid_value", f"The model cannot be changed during a session (it is {current['model']!r}).", "session.model"
        )
    if audio_received:
        for key in ("input_audio_format", "input_audio_sampling_rate"):
            if merged[key] != current[key]:
                raise ClientError(
                    "invalid_value",
                    f"Cannot change '{key}' from {current[key]!r} to {merged[key]!r} after audio has been received.",
                    f"session.{key}",
                )
    if input_channels(merged) == 2 and merged["input_audio_format"] != "pcm16":
        raise invalid_value("session.input_audio_echo_cancellation.channels", 2, [1], "Stereo input must be pcm16.")
    if audio_received and input_channels(merged) != input_channels(current):
        raise ClientError("invalid_value", "Cannot change the input channels after audio has been received.",
                          "session.input_audio_echo_cancellation.channels")
    if merged["input_audio_format"].startswith("g711") and "input_audio_sampling_rate" in update:
        if merged["input_audio_sampling_rate"] != vocabulary.G711_RATE:
            raise invalid_value(
                "session.input_audio_sampling_rate", merged["input_audio_sampling_rate"], [vocabulary.G711_RATE], "G.711 audio is 8 kHz."
            )
    return merged


# --- field validators: (value, param) -> normalized value, or raise ClientError ---------------


def _string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    return value


def _boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_type(param, "a boolean", value)
    return value


def _number(value: Any, param: str, low: float, high: float | None = None, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise invalid_type(param, "an integer" if integer else "a number", value)
    if value < low or (high is not None and value > high):
        raise out_of_range(param, value, low, high)
    return value


def _choice(choices: tuple[Any, ...]) -> Callable[[Any, str], Any]:
    def check(value: Any, param: str) -> Any:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise invalid_type(param, "a string", value)
        if value not in choices:
            raise invalid_value(param, value, choices)
        return value

    return check


def _object(value: Any, param: str, fields: dict[str, Callable[[Any, str], Any]], required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    for name in required:
        if value.get(name) is None:
            raise missing(f"{param}.{name}")
    out = {}
    for key, item in value.items():
        check = fields.get(key)
        if check is None:
            raise unknown_parameter(f"{param}.{key}")
        out[key] = check(item, f"{param}.{key}") if item is not None else None
    return out


def _string_list(value: Any, param: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_type(param, "an array of strings", value)
    return list(value)


def _any(value: Any, param: str) -> Any:
    return copy.deepcopy(value)


def modalities(value: Any, param: str) -> list[str]:
    items = _string_list(value, param)
    for item in items:
        _choice(vocabulary.MODALITIES)(item, param)
    if not items:
        raise invalid_value(param, value, why="At least one modality is required.")
    if "audio" in items and "text" not in items:
        raise invalid_value(param, value, why="'audio' must be combined with 'text'.")
    return items


def voice(value: Any, param: str) -> Any:
    if isinstance(value, str):
        if value.lower() not in vocabulary.OPENAI_VOICES:
            raise invalid_value(param, value, vocabulary.OPENAI_VOICES)
        return value.lower()
    if not isinstance(value, dict):
        raise invalid_type(param, "a string or an object", value)
    kind = value.get("type")
    if kind is None:
        raise missing(f"{param}.type")
    if kind not in vocabulary.VOICE_TYPES:
        raise invalid_value(f"{param}.type", kind, tuple(vocabulary.VOICE_TYPES))
    for name in vocabulary.VOICE_TYPES[kind]:
        if not isinstance(value.get(name), str) or not value[name]:
            raise missing(f"{param}.{name}")
    if kind == "openai" and value["name"].lower() not in vocabulary.OPENAI_VOICES:
        raise invalid_value(f"{param}.name", value["name"], vocabulary.OPENAI_VOICES)
    if "temperature" in value and value["temperature"] is not None:
        _number(value["temperature"], f"{param}.temperature", 0.0, 1.0)
    return copy.deepcopy(value)


def input_sampling_rate(value: Any, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(param, "an integer", value)
    if value not in vocabulary.PCM16_INPUT_RATES:
        raise invalid_value(param, value, vocabulary.PCM16_INPUT_RATES)
    return value


_EOU_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "model": _choice(vocabulary.EOU_MODELS),
    "threshold_level": _choice(vocabulary.EOU_THRESHOLD_LEVELS),
    "threshold": lambda v, p: _number(v, p, 0.0, 1.0),
    "timeout_ms": lambda v, p: _number(v, p, 0, None, integer=True),
    "timeout": lambda v, p: _number(v, p, 0, None),
}

_TURN_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "type": _choice(vocabulary.TURN_DETECTION_TYPES),
    "threshold": lambda v, p: _number(v, p, 0.0, 1.0),
    "prefix_padding_ms": lambda v, p: _number(v, p, 0, None, integer=True),
    "silence_duration_ms": lambda v, p: _number(v, p, 0, None, integer=True),
    "speech_duration_ms": lambda v, p: _number(v, p, 0, None, integer=True),
    "create_response": _boolean,
    "interrupt_response": _boolean,
    "auto_truncate": _boolean,
    "remove_filler_words": _boolean,
    "languages": _string_list,
    "end_of_utterance_detection": lambda v, p: _object(v, p, _EOU_FIELDS, ("model",)),
}


def turn_detection(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    checked = _object(value, param, _TURN_FIELDS, ("type",))
    if checked["type"] == "server_vad":
        for key in ("speech_duration_ms", "remove_filler_words", "languages"):
            if key in checked:
                raise unknown_parameter(f"{param}.{key}")
    return {**vocabulary.TURN_DETECTION_DEFAULTS, **{k: v for k, v in checked.items() if v is not None}}


def _typed_object(types: tuple[str, ...], extra: dict[str, Callable[[Any, str], Any]] | None = None) -> Callable[[Any, str], Any]:
    def check(value: Any, param: str) -> dict[str, Any] | None:
        if value is None:
            return None
        return _object(value, param, {"type": _choice(types), **(extra or {})}, ("type",))

    return check


_ECHO_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "type": _choice(vocabulary.ECHO_CANCELLATION_TYPES),
    "reference_source": _choice(vocabulary.ECHO_REFERENCE_SOURCES),
    "channels": _choice((1, 2)),
}


def echo_cancellation(value: Any, param: str) -> dict[str, Any] | None:
    """Server echo cancellation; ``channels = 2`` (stereo, channel 1 the reference) needs ``reference_source = "client"``."""
    if value is None:
        return None
    checked = _object(value, param, _ECHO_FIELDS, ("type",))
    if checked.get("channels", 1) == 2 and checked.get("reference_source", "server") != "client":
        raise invalid_value(f"{param}.channels", 2, [1], 'Two channels carry a client reference: set reference_source to "client".')
    return checked


def input_channels(session: dict[str, Any]) -> int:
    """Channels of the input audio: 2 with a client echo reference on channel 1, else 1."""
    echo = session.get("input_audio_echo_cancellation") or {}
    return int(echo.get("channels", 1))


_TRANSCRIPTION_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "model": _choice(vocabulary.TRANSCRIPTION_MODELS),
    "language": _string,
    "prompt": _string,
    "phrase_list": _string_list,
    "custom_speech": _any,
}


def input_audio_transcription(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(value, param, _TRANSCRIPTION_FIELDS, ("model",))


def tools(value: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict):
            raise invalid_type(where, "an object", tool)
        if tool.get("type") is None:
            raise missing(f"{where}.type")
        _choice(vocabulary.TOOL_TYPES)(tool["type"], f"{where}.type")
        if tool["type"] == "function" and not isinstance(tool.get("name"), str):
            raise missing(f"{where}.name")
    return copy.deepcopy(value)


def tool_choice(value: Any, param: str) -> Any:
    if isinstance(value, str):
        return _choice(vocabulary.TOOL_CHOICES)(value, param)
    return _object(value, param, {"type": _choice(("function",)), "name": _string}, ("type", "name"))


def max_output_tokens(value: Any, param: str) -> Any:
    if value == "inf":
        return value
    if isinstance(value, str):
        raise invalid_value(param, value, ["inf"], "Or an integer from 1 to 4096.")
    return _number(value, param, *vocabulary.MAX_OUTPUT_TOKENS_RANGE, integer=True)


def temperature(value: Any, param: str) -> float:
    return _number(value, param, *vocabulary.TEMPERATURE_RANGE)


_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "model": _string,
    "modalities": modalities,
    "instructions": _string,
    "voice": voice,
    "input_audio_format": _choice(vocabulary.INPUT_AUDIO_FORMATS),
    "input_audio_sampling_rate": input_sampling_rate,
    "output_audio_format": _choice(tuple(vocabulary.OUTPUT_AUDIO_RATES)),
    "turn_detection": turn_detection,
    "input_audio_noise_reduction": _typed_object(vocabulary.NOISE_REDUCTION_TYPES),
    "input_audio_echo_cancellation": lambda value, param: echo_cancellation(value, param),
    "input_audio_transcription": input_audio_transcription,
    "tools": tools,
    "tool_choice": tool_choice,
    "temperature": temperature,
    "max_response_output_tokens": max_output_tokens,
}

# Validators reused for response-level overrides in response.create.
RESPONSE_FIELD_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "modalities": modalities,
    "instructions": _string,
    "voice": voice,
    "output_audio_format": _FIELDS["output_audio_format"],
    "temperature": temperature,
    "max_output_tokens": max_output_tokens,
    "max_response_output_tokens": max_output_tokens,
    "tools": tools,
    "tool_choice": tool_choice,
    "conversation": _choice(("auto", "none")),
    "metadata": _any,
    "commit": _boolean,
    "cancel_previous": _boolean,
    "reasoning_effort": _any,
    "interim_response": _any,
    "invoke_input": _any,
    "input_items": _any,
    "append_input_items": _any,
}
