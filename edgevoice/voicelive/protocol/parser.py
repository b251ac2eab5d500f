"""Turn Voice Live server frames (JSON text) into typed events, sans I/O, never raising.

``ServerEventParser().parse(frame)`` returns a :class:`~.events.ServerEvent`, or ``None`` for a
frame edgevoice ignores (an unknown event type, counted in ``stats.unknown``) or cannot use
(malformed JSON, a missing or mistyped required field, bad base64: counted in ``stats.errors``
with a short reason in ``stats.last_error``). A broken frame from the server never breaks the
session.

Text is handed on as clean Unicode: JSON may escape half a surrogate pair (``"\\ud800"``), which
no log file or journal can encode, so lone surrogates become U+FFFD.

A field is required when the official SDK model requires it; ``error`` events are delivered even
when their details are partial, because dropping an error would hide it. Fields edgevoice does not
read are not checked, so new server fields never cause errors.

Audio deltas are most of the traffic (50 or more per second of reply), so they take a short path:
one ``json.loads`` and one ``binascii.a2b_base64`` that validates and decodes the base64 text in a
single pass without an intermediate ``bytes`` copy.
"""

from __future__ import annotations

import binascii
import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from edgevoice.voicelive.protocol import server_events as ev

__all__ = ["ParserStats", "ServerEventParser", "parse_event"]

_MAX_UNKNOWN_TYPES = 32  # distinct unknown type names remembered for diagnostics
_MAX_REASON = 200


@dataclass
class ParserStats:
    """Counters of what the parser saw; read them for diagnostics and health checks."""

    events: int = 0  # typed events returned
    unknown: int = 0  # well-formed events of a type edgevoice ignores
    errors: int = 0  # frames that could not be used
    last_error: str | None = None  # short reason for the latest error
    unknown_types: dict[str, int] = field(default_factory=dict)  # first few unknown names, counted


class _Bad(Exception):
    """A frame that cannot be used; internal to this module, never escapes ``parse``."""


class ServerEventParser:
    """Parse server frames into typed events, counting unknown types and protocol errors."""

    __slots__ = ("stats",)

    def __init__(self) -> None:
        self.stats = ParserStats()

    def parse(self, frame: str | bytes | bytearray | memoryview) -> ev.ServerEvent | None:
        """One frame in, one typed event (or ``None``) out; never raises."""
        stats = self.stats
        try:
            if isinstance(frame, memoryview):
                frame = frame.tobytes()
            obj = json.loads(frame)
        except (ValueError, TypeError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
            return self._error(f"not JSON: {_short(exc)}")
        if type(obj) is not dict:
            return self._error(f"not a JSON object but {_json_kind(obj)}")
        kind = obj.get("type")
        if type(kind) is not str:
            return self._error("no 'type' string" if kind is None else "'type' is not a string")
        handler = _HANDLERS.get(kind)
        if handler is None:
            stats.unknown += 1
            names = stats.unknown_types
            name = _text(kind[:80])
            if name in names or len(names) < _MAX_UNKNOWN_TYPES:
                names[name] = names.get(name, 0) + 1
            return None
        try:
            event = handler(obj)
        except _Bad as exc:
            return self._error(f"{kind[:80]}: {exc}")
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # belt and braces
            return self._error(f"{kind[:80]}: {_short(exc)}")
        stats.events += 1
        return event

    def _error(self, reason: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = _text(reason[:_MAX_REASON])
        return None


def parse_event(frame: str | bytes | bytearray | memoryview) -> ev.ServerEvent | None:
    """Parse one frame without keeping counters (tests, tools); ``None`` if unusable or unknown."""
    return ServerEventParser().parse(frame)


# --------------------------------------------------------------------------------------------
# Field readers: each raises _Bad with a short reason
# --------------------------------------------------------------------------------------------


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _text(text: str) -> str:
    """``text`` with any lone surrogate replaced by U+FFFD (a whole pair is one character already)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if type(value) is str:
        return _text(value)
    raise _Bad(f"missing '{key}'" if value is None else f"'{key}' is not a string")


def _id(obj: Mapping[str, Any], key: str) -> str:
    """An id the client may send back (response.cancel, item.truncate, a function's output): non-empty."""
    value = _str(obj, key)
    if value:
        return value
    raise _Bad(f"'{key}' is empty")


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if type(value) is str:
        return _text(value)
    if value is None:
        return None
    raise _Bad(f"'{key}' is not a string")


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():  # 1200.0 from a lenient serializer
        return int(value)
    raise _Bad(f"missing '{key}'" if value is None else f"'{key}' is not an integer")


def _opt_int(obj: Mapping[str, Any], key: str, default: int | None = None) -> int | None:
    return default if obj.get(key) is None else _int(obj, key)


def _opt_number(obj: Mapping[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) in (int, float) and math.isfinite(value):
        return float(value)
    raise _Bad(f"'{key}' is not a number")


def _obj(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if type(value) is dict:
        return value
    raise _Bad(f"missing '{key}'" if value is None else f"'{key}' is not an object")


def _opt_obj(obj: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None or type(value) is dict:
        return value
    raise _Bad(f"'{key}' is not an object")


def _timestamp(obj: Mapping[str, Any], key: str) -> float | None:
    """Unix seconds (the documented form) or an ISO 8601 string (tolerated)."""
    value = obj.get(key)
    if value is None:
        return None
    if type(value) in (int, float) and math.isfinite(value):
        return float(value)
    if type(value) is str:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise _Bad(f"'{key}' is not a timestamp")


def _error_info(obj: Mapping[str, Any]) -> ev.ErrorInfo:
    return ev.ErrorInfo(
        type=_opt_str(obj, "type") or "",
        code=_code(obj),
        message=_opt_str(obj, "message") or "",
        param=_opt_str(obj, "param"),
        client_event_id=_opt_str(obj, "event_id"),
    )


def _code(obj: Mapping[str, Any]) -> str | None:
    value = obj.get("code")
    if type(value) is int:  # some servers send numeric codes
        return str(value)
    return _opt_str(obj, "code")


def _item(obj: Mapping[str, Any]) -> ev.ItemInfo:
    transcript = None
    content = obj.get("content")
    if content is not None:
        if type(content) is not list:
            raise _Bad("'content' is not an array")
        for part in content:
            if type(part) is not dict:
                raise _Bad("a content part is not an object")
            text = part.get("transcript")
            if text is None:
                text = part.get("text")
            if type(text) is str:
                transcript = _text(text)
                break
    return ev.ItemInfo(
        id=_opt_str(obj, "id"),
        type=_opt_str(obj, "type") or "",
        role=_opt_str(obj, "role"),
        status=_opt_str(obj, "status"),
        name=_opt_str(obj, "name"),
        call_id=_opt_str(obj, "call_id"),
        arguments=_opt_str(obj, "arguments"),
        transcript=transcript,
    )


def _usage(obj: Mapping[str, Any]) -> ev.Usage:
    details_in = _opt_obj(obj, "input_token_details") or {}
    details_out = _opt_obj(obj, "output_token_details") or {}
    cached = _opt_obj(details_in, "cached_tokens_details") or {}
    return ev.Usage(
        total_tokens=_opt_int(obj, "total_tokens", 0) or 0,
        input_tokens=_opt_int(obj, "input_tokens", 0) or 0,
        output_tokens=_opt_int(obj, "output_tokens", 0) or 0,
        input_text_tokens=_opt_int(details_in, "text_tokens", 0) or 0,
        input_audio_tokens=_opt_int(details_in, "audio_tokens", 0) or 0,
        input_cached_tokens=_opt_int(details_in, "cached_tokens", 0) or 0,
        input_cached_text_tokens=_opt_int(cached, "text_tokens", 0) or 0,
        input_cached_audio_tokens=_opt_int(cached, "audio_tokens", 0) or 0,
        output_text_tokens=_opt_int(details_out, "text_tokens", 0) or 0,
        output_audio_tokens=_opt_int(details_out, "audio_tokens", 0) or 0,
    )


def _usage_of(response: Mapping[str, Any]) -> tuple[ev.Usage | None, str | None]:
    """A response's usage, or None and why it cannot be used: a bad usage block never costs the response."""
    try:
        usage = _opt_obj(response, "usage")
        if usage is None:
            return None, None
        parsed = _usage(usage)
    except _Bad as exc:
        return None, str(exc)
    counts = [getattr(parsed, f.name) for f in dataclasses.fields(parsed)]
    if min(counts) < 0:
        return None, "a token count is negative"
    return parsed, None


def _b64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII characters in the text
        raise _Bad("'delta' is not valid base64") from None


# --------------------------------------------------------------------------------------------
# One handler per event type
# --------------------------------------------------------------------------------------------

Handler = Callable[[dict[str, Any]], ev.ServerEvent]


def _audio_delta(o: dict[str, Any]) -> ev.AudioDelta:
    delta = o.get("delta")
    if type(delta) is not str:
        raise _Bad("missing 'delta'" if delta is None else "'delta' is not a string")
    return ev.AudioDelta(**_content_location(o), pcm=_b64(delta))


def _content_location(o: Mapping[str, Any]) -> dict[str, Any]:
    """Where in a response a content event belongs: the fields every audio/text/part event carries."""
    return {
        "event_id": _eid(o),
        "response_id": _id(o, "response_id"),
        "item_id": _id(o, "item_id"),
        "output_index": _int(o, "output_index"),
        "content_index": _int(o, "content_index"),
    }


def _eid(o: Mapping[str, Any]) -> str:
    value = o.get("event_id")
    return _text(value) if type(value) is str else ""


def _session(cls: type[ev.SessionCreated] | type[ev.SessionUpdated]) -> Handler:
    def handler(o: dict[str, Any]) -> ev.ServerEvent:
        session = _obj(o, "session")
        return cls(
            event_id=_eid(o),
            session_id=_opt_str(session, "id"),
            model=_opt_str(session, "model"),
            expires_at=_timestamp(session, "expires_at"),
            session=MappingProxyType(session),
        )

    return handler


def _speech_started(o: dict[str, Any]) -> ev.SpeechStarted:
    return ev.SpeechStarted(event_id=_eid(o), audio_start_ms=_int(o, "audio_start_ms"), item_id=_str(o, "item_id"))


def _speech_stopped(o: dict[str, Any]) -> ev.SpeechStopped:
    return ev.SpeechStopped(event_id=_eid(o), audio_end_ms=_int(o, "audio_end_ms"), item_id=_str(o, "item_id"))


def _committed(o: dict[str, Any]) -> ev.InputCommitted:
    return ev.InputCommitted(
        event_id=_eid(o), item_id=_str(o, "item_id"), previous_item_id=_opt_str(o, "previous_item_id")
    )


def _cleared(o: dict[str, Any]) -> ev.InputBufferCleared:
    return ev.InputBufferCleared(event_id=_eid(o))


def _item_created(o: dict[str, Any]) -> ev.ItemCreated:
    return ev.ItemCreated(
        event_id=_eid(o), item=_item(_obj(o, "item")), previous_item_id=_opt_str(o, "previous_item_id")
    )


def _item_truncated(o: dict[str, Any]) -> ev.ItemTruncated:
    return ev.ItemTruncated(
        event_id=_eid(o),
        item_id=_str(o, "item_id"),
        content_index=_int(o, "content_index"),
        audio_end_ms=_int(o, "audio_end_ms"),
    )


def _item_deleted(o: dict[str, Any]) -> ev.ItemDeleted:
    return ev.ItemDeleted(event_id=_eid(o), item_id=_str(o, "item_id"))


def _transcription_delta(o: dict[str, Any]) -> ev.InputTranscriptionDelta:
    return ev.InputTranscriptionDelta(
        event_id=_eid(o),
        item_id=_str(o, "item_id"),
        content_index=_opt_int(o, "content_index", 0) or 0,
        delta=_opt_str(o, "delta") or "",
    )


def _transcription_completed(o: dict[str, Any]) -> ev.InputTranscriptionCompleted:
    return ev.InputTranscriptionCompleted(
        event_id=_eid(o),
        item_id=_str(o, "item_id"),
        content_index=_opt_int(o, "content_index", 0) or 0,
        transcript=_str(o, "transcript"),
    )


def _transcription_failed(o: dict[str, Any]) -> ev.InputTranscriptionFailed:
    return ev.InputTranscriptionFailed(
        event_id=_eid(o),
        item_id=_str(o, "item_id"),
        content_index=_opt_int(o, "content_index", 0) or 0,
        error=_error_info(_obj(o, "error")),
    )


def _response_created(o: dict[str, Any]) -> ev.ResponseCreated:
    response = _obj(o, "response")
    return ev.ResponseCreated(event_id=_eid(o), response_id=_str(response, "id"), status=_opt_str(response, "status"))


def _response_done(o: dict[str, Any]) -> ev.ResponseDone:
    response = _obj(o, "response")
    details = _opt_obj(response, "status_details") or {}
    error = details.get("error")
    if type(error) is dict:
        error_info: ev.ErrorInfo | None = _error_info(error)
    elif type(error) is str:  # the SDK types it as Any
        error_info = ev.ErrorInfo(message=_text(error))
    else:
        error_info = None
    usage, usage_problem = _usage_of(response)
    output = response.get("output")
    if output is not None and type(output) is not list:
        raise _Bad("'output' is not an array")
    items = []
    for item in output or ():
        if type(item) is not dict:
            raise _Bad("an output item is not an object")
        items.append(_item(item))
    return ev.ResponseDone(
        event_id=_eid(o),
        response_id=_str(response, "id"),
        status=_str(response, "status"),
        reason=_opt_str(details, "reason"),
        error=error_info,
        usage=usage,
        usage_problem=usage_problem,
        output=tuple(items),
    )


def _output_item(cls: type[ev.OutputItemAdded] | type[ev.OutputItemDone]) -> Handler:
    def handler(o: dict[str, Any]) -> ev.ServerEvent:
        return cls(
            event_id=_eid(o),
            response_id=_str(o, "response_id"),
            output_index=_int(o, "output_index"),
            item=_item(_obj(o, "item")),
        )

    return handler


def _content_part(cls: type[ev.ContentPartAdded] | type[ev.ContentPartDone]) -> Handler:
    def handler(o: dict[str, Any]) -> ev.ServerEvent:
        part = _opt_obj(o, "part") or {}
        return cls(**_content_location(o), part_type=_opt_str(part, "type"))

    return handler


def _audio_done(o: dict[str, Any]) -> ev.AudioDone:
    return ev.AudioDone(**_content_location(o))


def _text_event(cls: type[ev.ServerEvent], key: str, attr: str) -> Handler:
    def handler(o: dict[str, Any]) -> ev.ServerEvent:
        return cls(**_content_location(o), **{attr: _str(o, key)})  # type: ignore[call-arg]

    return handler


def _function_args_delta(o: dict[str, Any]) -> ev.FunctionCallArgumentsDelta:
    return ev.FunctionCallArgumentsDelta(
        event_id=_eid(o),
        response_id=_id(o, "response_id"),
        item_id=_id(o, "item_id"),
        output_index=_int(o, "output_index"),
        call_id=_id(o, "call_id"),
        delta=_str(o, "delta"),
    )


def _function_args_done(o: dict[str, Any]) -> ev.FunctionCallArgumentsDone:
    return ev.FunctionCallArgumentsDone(
        event_id=_eid(o),
        response_id=_id(o, "response_id"),
        item_id=_id(o, "item_id"),
        output_index=_int(o, "output_index"),
        call_id=_id(o, "call_id"),
        name=_opt_str(o, "name"),
        arguments=_str(o, "arguments"),
    )


def _error(o: dict[str, Any]) -> ev.Error:
    info = _error_info(_obj(o, "error"))
    return ev.Error(
        event_id=_eid(o),
        type=info.type,
        code=info.code,
        message=info.message,
        param=info.param,
        client_event_id=info.client_event_id,
    )


def _warning(o: dict[str, Any]) -> ev.Warning:
    warning = _obj(o, "warning")
    return ev.Warning(
        event_id=_eid(o), message=_opt_str(warning, "message") or "", code=_code(warning), param=_opt_str(warning, "param")
    )


def _rate_limits(o: dict[str, Any]) -> ev.RateLimitsUpdated:
    entries = o.get("rate_limits")
    if type(entries) is not list:
        raise _Bad("missing 'rate_limits'" if entries is None else "'rate_limits' is not an array")
    limits = []
    for entry in entries:
        if type(entry) is not dict:
            raise _Bad("a rate limit is not an object")
        limits.append(
            ev.RateLimit(
                name=_str(entry, "name"),
                limit=_opt_int(entry, "limit"),
                remaining=_opt_int(entry, "remaining"),
                reset_seconds=_opt_number(entry, "reset_seconds"),
            )
        )
    return ev.RateLimitsUpdated(event_id=_eid(o), rate_limits=tuple(limits))


_BY_CLASS: dict[type[ev.ServerEvent], Handler] = {
    ev.SessionCreated: _session(ev.SessionCreated),
    ev.SessionUpdated: _session(ev.SessionUpdated),
    ev.SpeechStarted: _speech_started,
    ev.SpeechStopped: _speech_stopped,
    ev.InputCommitted: _committed,
    ev.InputBufferCleared: _cleared,
    ev.ItemCreated: _item_created,
    ev.ItemTruncated: _item_truncated,
    ev.ItemDeleted: _item_deleted,
    ev.InputTranscriptionDelta: _transcription_delta,
    ev.InputTranscriptionCompleted: _transcription_completed,
    ev.InputTranscriptionFailed: _transcription_failed,
    ev.ResponseCreated: _response_created,
    ev.OutputItemAdded: _output_item(ev.OutputItemAdded),
    ev.OutputItemDone: _output_item(ev.OutputItemDone),
    ev.ContentPartAdded: _content_part(ev.ContentPartAdded),
    ev.ContentPartDone: _content_part(ev.ContentPartDone),
    ev.AudioDelta: _audio_delta,
    ev.AudioDone: _audio_done,
    ev.TranscriptDelta: _text_event(ev.TranscriptDelta, "delta", "delta"),
    ev.TranscriptDone: _text_event(ev.TranscriptDone, "transcript", "transcript"),
    ev.TextDelta: _text_event(ev.TextDelta, "delta", "delta"),
    ev.TextDone: _text_event(ev.TextDone, "text", "text"),
    ev.FunctionCallArgumentsDelta: _function_args_delta,
    ev.FunctionCallArgumentsDone: _function_args_done,
    ev.ResponseDone: _response_done,
    ev.Error: _error,
    ev.Warning: _warning,
    ev.RateLimitsUpdated: _rate_limits,
}

#: Wire type name -> handler (read-only).
_HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {name: handler for cls, handler in _BY_CLASS.items() for name in cls.TYPES}
)

#: Every wire type name the parser turns into an event.
KNOWN_TYPES: frozenset[str] = frozenset(_HANDLERS)
