"""Check JSON events against the official ``azure-ai-voicelive`` SDK models, strictly.

``sdk_problems(raw, base)`` deserializes ``raw`` with the SDK (``base`` is ``ClientEvent``,
``ServerEvent`` or any model class), then walks it field by field against the SDK's type hints and
lists every disagreement: a key the model does not know, a required key missing, a discriminator
with no subclass, an enum value that is not a member of the SDK enum, a literal that does not
match, a wrong JSON type. The SDK itself is lenient (it keeps unknown keys and strings outside its
enums), so this walker is what makes the conformance tests able to fail.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from azure.ai.voicelive import _unions
from azure.ai.voicelive import models as sdk
from azure.ai.voicelive._utils.model_base import Model
from azure.ai.voicelive.models import _models as sdk_models_module

_NS = {"_models": sdk, "_unions": _unions}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, globalns=vars(sdk_models_module), localns=_NS)


def _rest_fields(cls: type[Model]) -> dict[str, tuple[str, Any]]:
    """rest (JSON) name -> (attribute name, rest field) for a model class."""
    if not hasattr(cls, "_attr_to_rest_field"):
        try:  # the SDK fills the table when the first instance is made
            cls._deserialize({}, [])
        except Exception:  # noqa: BLE001
            pass
    table = getattr(cls, "_attr_to_rest_field", {})
    return {field._rest_name: (attr, field) for attr, field in table.items()}


def _own_mapping(cls: type[Model]) -> dict[str, Any]:
    """The discriminator table a class defines itself (subclasses inherit their base's)."""
    return cls.__dict__.get("__mapping__") or {}


def _discriminator_name(cls: type[Model]) -> str | None:
    """The field a base class dispatches on: a discriminator typed ``str`` (inherited ones are
    fixed literals, e.g. MessageItem's ``type`` is "message" while it dispatches on ``role``)."""
    hints = _hints(cls)
    candidates = [(name, attr) for name, (attr, field) in _rest_fields(cls).items() if field._is_discriminator]
    for rest_name, attr in candidates:
        if hints.get(attr) is str:
            return rest_name
    return candidates[0][0] if candidates else None


def resolve(cls: type[Model], raw: Mapping[str, Any]) -> type[Model]:
    """The SDK subclass ``raw`` deserializes into (following nested discriminators)."""
    return type(cls._deserialize(dict(raw), []))


def sdk_object(raw: Mapping[str, Any], base: type[Model]) -> Model:
    return base._deserialize(dict(raw), [])


def sdk_problems(raw: Any, base: type[Model], path: str = "$") -> list[str]:
    """Every way ``raw`` disagrees with the SDK model ``base`` (empty list: it conforms)."""
    if not isinstance(raw, Mapping):
        return [f"{path}: expected an object for {base.__name__}, got {type(raw).__name__}"]
    problems: list[str] = []
    cls = resolve(base, raw)
    if _own_mapping(cls):  # still a base class: the discriminator matched no subclass
        disc = _discriminator_name(cls)
        problems.append(f"{path}: {cls.__name__} has no subclass for {disc}={raw.get(disc)!r}")
        return problems
    fields = _rest_fields(cls)
    hints = _hints(cls)
    for key, value in raw.items():
        if key not in fields:
            problems.append(f"{path}.{key}: not a field of {cls.__name__}")
            continue
        attr, _field = fields[key]
        problems += _value_problems(value, hints.get(attr, Any), f"{path}.{key}")
    for key, (attr, field) in fields.items():
        if key not in raw and not field._is_optional and not _is_optional(hints.get(attr, Any)):
            problems.append(f"{path}.{key}: required by {cls.__name__} but missing")
    return problems


def _is_optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _enum_values(annotation: Any) -> set[str] | None:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {member.value for member in annotation}
    return None


def _value_problems(value: Any, annotation: Any, path: str) -> list[str]:
    if annotation is Any:
        return []
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return [] if type(None) in args else [f"{path}: null is not allowed"]
        alternatives = [a for a in args if a is not type(None)]
        return _union_problems(value, alternatives, path)
    if value is None:
        return [f"{path}: null is not allowed here"]
    if origin is typing.Literal:
        allowed = {a.value if isinstance(a, enum.Enum) else a for a in args}
        return [] if value in allowed else [f"{path}: {value!r} is not one of {sorted(map(str, allowed))}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {type(value).__name__}"]
        problems = []
        for index, item in enumerate(value):
            problems += _value_problems(item, args[0] if args else Any, f"{path}[{index}]")
        return problems
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        problems = []
        if len(args) == 2:
            for key, item in value.items():
                problems += _value_problems(item, args[1], f"{path}.{key}")
        return problems
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return sdk_problems(value, annotation, path)
    values = _enum_values(annotation)
    if values is not None:
        return [] if value in values else [f"{path}: {value!r} is not a member of {annotation.__name__}"]
    return _scalar_problems(value, annotation, path)


def _scalar_problems(value: Any, annotation: Any, path: str) -> list[str]:
    if annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif annotation is str:
        ok = isinstance(value, str)
    elif annotation is bytes:
        ok = isinstance(value, str)  # base64 text on the wire
    elif annotation is datetime:
        ok = isinstance(value, (int, float, str)) and not isinstance(value, bool)
    else:
        return []  # a type this walker does not model: not checked
    return [] if ok else [f"{path}: {value!r} is not a {annotation.__name__}"]


def _union_problems(value: Any, alternatives: list[Any], path: str) -> list[str]:
    """A value of a union: strings must hit an enum/literal if the union has any."""
    if isinstance(value, str):
        allowed: set[str] = set()
        constrained = False
        for alt in alternatives:
            values = _enum_values(alt)
            if values is not None:
                allowed |= values
                constrained = True
            elif typing.get_origin(alt) is typing.Literal:
                allowed |= {a.value if isinstance(a, enum.Enum) else a for a in typing.get_args(alt) if isinstance(a, str)}
                constrained = True
        if constrained:
            return [] if value in allowed else [f"{path}: {value!r} is not one of {sorted(allowed)}"]
        if str in alternatives:
            return []
    if isinstance(value, Mapping):
        models = [a for a in alternatives if isinstance(a, type) and issubclass(a, Model)]
        if len(models) == 1:
            return sdk_problems(value, models[0], path)
        for model in models:
            if _accepts(model, value):
                return sdk_problems(value, model, path)
        if any(typing.get_origin(a) is dict for a in alternatives):
            return []
        if models:
            return [f"{path}: object matches none of {[m.__name__ for m in models]}"]
    errors = []
    for alt in alternatives:
        found = _value_problems(value, alt, path)
        if not found:
            return []
        errors.append(found)
    return errors[0] if errors else [f"{path}: unexpected {type(value).__name__}"]


def _accepts(model: type[Model], value: Mapping[str, Any]) -> bool:
    """Does an object pick this model of a union (by discriminator or by its literal ``type``)?"""
    mapping = _own_mapping(model)
    if mapping:
        disc = _discriminator_name(model)
        return disc is not None and value.get(disc) in mapping
    literal = _hints(model).get("type")
    if typing.get_origin(literal) is typing.Literal:
        allowed = {a.value if isinstance(a, enum.Enum) else a for a in typing.get_args(literal)}
        return value.get("type") in allowed
    return False


# --------------------------------------------------------------------------------------------
# One valid sample of every server event type the parser knows
# --------------------------------------------------------------------------------------------

_B64 = "AAABAAIA"  # b"\x00\x00\x01\x00\x02\x00"
_AUDIO_IDS = {"response_id": "resp_1", "item_id": "item_2", "output_index": 0, "content_index": 0}
_SESSION = {"id": "sess_1", "model": "gpt-realtime", "expires_at": 1767225600,
            "modalities": ["text", "audio"], "voice": "alloy", "output_audio_format": "pcm16_16000hz"}
_USAGE = {
    "total_tokens": 60, "input_tokens": 20, "output_tokens": 40,
    "input_token_details": {"cached_tokens": 0, "text_tokens": 5, "audio_tokens": 15, "image_tokens": 0,
                            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0}},
    "output_token_details": {"text_tokens": 10, "audio_tokens": 30},
}
_ASSISTANT_ITEM = {"id": "item_2", "object": "realtime.item", "type": "message", "role": "assistant", "status": "completed",
                   "content": [{"type": "audio", "transcript": "Hello there."}]}
_CALL_ITEM = {"id": "item_3", "object": "realtime.item", "type": "function_call", "name": "get_time", "call_id": "call_1",
              "arguments": "{}", "status": "completed"}


class Sample:
    """A wire event, the class it parses into, and the paths of its required fields."""

    def __init__(self, raw: dict[str, Any], cls: type, required: tuple[str, ...], sdk: bool = True, **expect: Any) -> None:
        self.raw = raw
        self.cls = cls
        self.required = required
        self.sdk = sdk  # also a valid SDK ServerEvent (False for GA-only names and rate_limits)
        self.expect = expect

    def __repr__(self) -> str:
        return self.raw["type"]


def server_samples() -> list[Sample]:
    from edgevoice.voicelive.protocol import server_events as ev

    def e(kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": "event_1", **fields}

    audio = (("response_id", "item_id", "output_index", "content_index"))
    return [
        Sample(e("session.created", session=_SESSION), ev.SessionCreated, ("session",), session_id="sess_1", expires_at=1767225600.0, model="gpt-realtime"),
        Sample(e("session.updated", session=_SESSION), ev.SessionUpdated, ("session",), session_id="sess_1", expires_at=1767225600.0),
        Sample(e("input_audio_buffer.speech_started", audio_start_ms=1200, item_id="item_1"), ev.SpeechStarted, ("audio_start_ms", "item_id"), audio_start_ms=1200),
        Sample(e("input_audio_buffer.speech_stopped", audio_end_ms=2400, item_id="item_1"), ev.SpeechStopped, ("audio_end_ms", "item_id"), audio_end_ms=2400),
        Sample(e("input_audio_buffer.committed", previous_item_id=None, item_id="item_1"), ev.InputCommitted, ("item_id",), item_id="item_1", previous_item_id=None),
        Sample(e("input_audio_buffer.cleared"), ev.InputBufferCleared, ()),
        Sample(e("conversation.item.created", previous_item_id="item_0",
                 item={"id": "item_1", "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
                       "content": [{"type": "input_audio", "audio": _B64, "transcript": None}]}),
               ev.ItemCreated, ("item",), previous_item_id="item_0"),
        Sample(e("conversation.item.added", previous_item_id=None, item=_ASSISTANT_ITEM), ev.ItemCreated, ("item",), sdk=False),
        Sample(e("conversation.item.truncated", item_id="item_2", content_index=0, audio_end_ms=1500), ev.ItemTruncated,
               ("item_id", "content_index", "audio_end_ms"), audio_end_ms=1500),
        Sample(e("conversation.item.deleted", item_id="item_2"), ev.ItemDeleted, ("item_id",), item_id="item_2"),
        Sample(e("conversation.item.input_audio_transcription.delta", item_id="item_1", content_index=0, delta="What"),
               ev.InputTranscriptionDelta, ("item_id",), delta="What"),
        Sample(e("conversation.item.input_audio_transcription.completed", item_id="item_1", content_index=0, transcript="What time is it?"),
               ev.InputTranscriptionCompleted, ("item_id", "transcript"), transcript="What time is it?"),
        Sample(e("conversation.item.input_audio_transcription.failed", item_id="item_1", content_index=0,
                 error={"type": "transcription_error", "code": "audio_unintelligible", "message": "no speech", "param": None}),
               ev.InputTranscriptionFailed, ("item_id", "error")),
        Sample(e("response.created", response={"id": "resp_1", "object": "realtime.response", "status": "in_progress", "output": []}),
               ev.ResponseCreated, ("response", "response.id"), response_id="resp_1", status="in_progress"),
        Sample(e("response.output_item.added", response_id="resp_1", output_index=0, item=_ASSISTANT_ITEM), ev.OutputItemAdded,
               ("response_id", "output_index", "item"), output_index=0),
        Sample(e("response.output_item.done", response_id="resp_1", output_index=1, item=_CALL_ITEM), ev.OutputItemDone,
               ("response_id", "output_index", "item"), output_index=1),
        Sample(e("response.content_part.added", **_AUDIO_IDS, part={"type": "audio", "transcript": ""}), ev.ContentPartAdded, audio, part_type="audio"),
        Sample(e("response.content_part.done", **_AUDIO_IDS, part={"type": "audio", "transcript": "Hi."}), ev.ContentPartDone, audio, part_type="audio"),
        Sample(e("response.audio.delta", **_AUDIO_IDS, delta=_B64), ev.AudioDelta, (*audio, "delta"), pcm=b"\x00\x00\x01\x00\x02\x00"),
        Sample(e("response.output_audio.delta", **_AUDIO_IDS, delta=_B64), ev.AudioDelta, (*audio, "delta"), sdk=False, pcm=b"\x00\x00\x01\x00\x02\x00"),
        Sample(e("response.audio.done", **_AUDIO_IDS), ev.AudioDone, audio),
        Sample(e("response.output_audio.done", **_AUDIO_IDS), ev.AudioDone, audio, sdk=False),
        Sample(e("response.audio_transcript.delta", **_AUDIO_IDS, delta="Hel"), ev.TranscriptDelta, (*audio, "delta"), delta="Hel"),
        Sample(e("response.output_audio_transcript.delta", **_AUDIO_IDS, delta="Hel"), ev.TranscriptDelta, (*audio, "delta"), sdk=False, delta="Hel"),
        Sample(e("response.audio_transcript.done", **_AUDIO_IDS, transcript="Hello."), ev.TranscriptDone, (*audio, "transcript"), transcript="Hello."),
        Sample(e("response.output_audio_transcript.done", **_AUDIO_IDS, transcript="Hello."), ev.TranscriptDone, (*audio, "transcript"), sdk=False, transcript="Hello."),
        Sample(e("response.text.delta", **_AUDIO_IDS, delta="Hi"), ev.TextDelta, (*audio, "delta"), delta="Hi"),
        Sample(e("response.output_text.delta", **_AUDIO_IDS, delta="Hi"), ev.TextDelta, (*audio, "delta"), sdk=False, delta="Hi"),
        Sample(e("response.text.done", **_AUDIO_IDS, text="Hi."), ev.TextDone, (*audio, "text"), text="Hi."),
        Sample(e("response.output_text.done", **_AUDIO_IDS, text="Hi."), ev.TextDone, (*audio, "text"), sdk=False, text="Hi."),
        Sample(e("response.function_call_arguments.delta", response_id="resp_1", item_id="item_3", output_index=1, call_id="call_1", delta="{\"tz"),
               ev.FunctionCallArgumentsDelta, ("response_id", "item_id", "output_index", "call_id", "delta"), call_id="call_1"),
        Sample(e("response.function_call_arguments.done", response_id="resp_1", item_id="item_3", output_index=1, call_id="call_1",
                 name="get_time", arguments="{\"tz\":\"UTC\"}"),
               ev.FunctionCallArgumentsDone, ("response_id", "item_id", "output_index", "call_id", "arguments"), name="get_time"),
        Sample(e("response.done", response={"id": "resp_1", "object": "realtime.response", "status": "completed",
                                            "output": [_ASSISTANT_ITEM, _CALL_ITEM], "usage": _USAGE}),
               ev.ResponseDone, ("response", "response.id", "response.status"), status="completed", reason=None),
        Sample(e("error", error={"type": "invalid_request_error", "code": "invalid_value", "message": "bad voice",
                                 "param": "session.voice", "event_id": "evt_9"}),
               ev.Error, ("error",), code="invalid_value", message="bad voice", param="session.voice", client_event_id="evt_9"),
        Sample(e("warning", warning={"message": "audio is arriving late", "code": "late_audio"}), ev.Warning, ("warning",), code="late_audio"),
        Sample(e("rate_limits.updated", rate_limits=[{"name": "tokens", "limit": 100000, "remaining": 99000, "reset_seconds": 12.5},
                                                     {"name": "requests", "limit": 30, "remaining": 29, "reset_seconds": 2}]),
               ev.RateLimitsUpdated, ("rate_limits",), sdk=False),
    ]


def drop_path(raw: dict[str, Any], path: str) -> dict[str, Any]:
    """A deep copy of ``raw`` without the field at the dotted ``path``."""
    import copy

    out = copy.deepcopy(raw)
    *parents, last = path.split(".")
    target = out
    for key in parents:
        target = target[key]
    del target[last]
    return out
