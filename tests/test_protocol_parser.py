"""The sans-I/O server event parser: valid events of every type, GA names, and every way a frame
can be broken (it must never raise; broken frames are counted with a reason)."""

from __future__ import annotations

import base64
import json

import pytest
from azure.ai.voicelive import models as sdk

from edgevoice.voicelive.protocol import server_events as ev
from edgevoice.voicelive.protocol.parser import KNOWN_TYPES, ServerEventParser, parse_event
from protocol_helpers import drop_path, sdk_problems, server_samples

SAMPLES = server_samples()


def test_every_known_type_has_a_sample() -> None:
    assert {s.raw["type"] for s in SAMPLES} == set(KNOWN_TYPES)
    assert {s.cls for s in SAMPLES} == set(ev.EVENT_CLASSES)


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.sdk], ids=repr)
def test_samples_are_valid_sdk_server_events(sample) -> None:
    """The samples are what the real service sends, as the official SDK models describe it."""
    assert sdk_problems(sample.raw, sdk.ServerEvent) == []


@pytest.mark.parametrize("sample", SAMPLES, ids=repr)
def test_valid_event_parses_to_its_class(sample) -> None:
    parser = ServerEventParser()
    event = parser.parse(json.dumps(sample.raw))
    assert type(event) is sample.cls
    assert event.event_id == "event_1"
    for name, value in sample.expect.items():
        assert getattr(event, name) == value, name
    assert parser.stats.events == 1 and parser.stats.errors == 0 and parser.stats.unknown == 0


@pytest.mark.parametrize("sample", SAMPLES, ids=repr)
def test_bytes_bytearray_and_memoryview_frames(sample) -> None:
    data = json.dumps(sample.raw).encode()
    for frame in (data, bytearray(data), memoryview(data)):
        assert type(parse_event(frame)) is sample.cls


@pytest.mark.parametrize(
    ("sample", "path"), [(s, p) for s in SAMPLES for p in s.required], ids=lambda v: v if isinstance(v, str) else repr(v)
)
def test_missing_required_field_is_a_counted_error(sample, path) -> None:
    parser = ServerEventParser()
    assert parser.parse(json.dumps(drop_path(sample.raw, path))) is None
    assert parser.stats.errors == 1 and parser.stats.events == 0
    assert path.split(".")[-1] in parser.stats.last_error
    assert sample.raw["type"] in parser.stats.last_error


@pytest.mark.parametrize(
    ("sample", "path"), [(s, p) for s in SAMPLES for p in s.required], ids=lambda v: v if isinstance(v, str) else repr(v)
)
def test_mistyped_required_field_is_a_counted_error(sample, path) -> None:
    raw = json.loads(json.dumps(sample.raw))
    *parents, last = path.split(".")
    target = raw
    for key in parents:
        target = target[key]
    target[last] = [target[last]]  # an array is never what a field holds
    parser = ServerEventParser()
    assert parser.parse(json.dumps(raw)) is None
    assert parser.stats.errors == 1
    assert last in parser.stats.last_error


def test_audio_delta_decodes_pcm() -> None:
    pcm = bytes(range(256)) * 40
    frame = json.dumps({"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
                        "output_index": 0, "content_index": 0, "delta": base64.b64encode(pcm).decode()})
    event = parse_event(frame)
    assert isinstance(event, ev.AudioDelta) and event.pcm == pcm
    assert "10240 bytes" in repr(event) and "\\x" not in repr(event)


def test_json_escaped_base64_is_decoded() -> None:
    """Some serializers escape '/' and '+' in strings; JSON decoding handles it before base64."""
    pcm = b"\xfb\xff\xfe" * 4  # base64 "+//+" characters
    text = base64.b64encode(pcm).decode()
    escaped = text.replace("/", "\\/").replace("+", "\\u002B")
    frame = ('{"type":"response.audio.delta","response_id":"r","item_id":"i","output_index":0,'
             f'"content_index":0,"delta":"{escaped}"}}')
    event = parse_event(frame)
    assert isinstance(event, ev.AudioDelta) and event.pcm == pcm


@pytest.mark.parametrize("delta", ["!!!!", "QQ", "QQ==QQ==", "Q Q==", "QQ==\n", "é===", "AAAA\u0000"])
def test_bad_base64_is_a_counted_error(delta) -> None:
    parser = ServerEventParser()
    frame = json.dumps({"type": "response.audio.delta", "response_id": "r", "item_id": "i",
                        "output_index": 0, "content_index": 0, "delta": delta})
    assert parser.parse(frame) is None
    assert parser.stats.errors == 1
    assert "base64" in parser.stats.last_error


def test_empty_audio_delta_is_empty_pcm() -> None:
    frame = json.dumps({"type": "response.audio.delta", "response_id": "r", "item_id": "i",
                        "output_index": 0, "content_index": 0, "delta": ""})
    assert parse_event(frame).pcm == b""


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("", "not JSON"),
        ("{", "not JSON"),
        ("{'type': 'error'}", "not JSON"),
        ('{"type":"error"} trailing', "not JSON"),
        ("NaN", "not a JSON object"),
        ("[]", "not a JSON object but an array"),
        ('"session.created"', "not a JSON object but a string"),
        ("42", "not a JSON object but a number"),
        ("null", "not a JSON object but null"),
        ("true", "not a JSON object but a boolean"),
        ("{}", "no 'type'"),
        ('{"type": null}', "no 'type'"),
        ('{"type": 5}', "'type' is not a string"),
        ('{"type": ["error"]}', "'type' is not a string"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b'{"type":"error","error":{"message":"\xc3"}}', "not JSON"),
        ("[" * 100000 + "]" * 100000, "not JSON"),
        ('{"type":"input_audio_buffer.speech_started","audio_start_ms":' + "9" * 5000 + ',"item_id":"i"}', "not JSON"),
    ],
)
def test_malformed_frames_are_counted_errors(frame, reason) -> None:
    parser = ServerEventParser()
    assert parser.parse(frame) is None
    assert parser.stats.errors == 1 and parser.stats.events == 0 and parser.stats.unknown == 0
    assert parser.stats.last_error.startswith(reason)
    assert len(parser.stats.last_error) <= 200


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "input_audio_buffer.speech_started", "audio_start_ms": "1200", "item_id": "i"}, "audio_start_ms"),
        ({"type": "input_audio_buffer.speech_started", "audio_start_ms": True, "item_id": "i"}, "audio_start_ms"),
        ({"type": "input_audio_buffer.speech_started", "audio_start_ms": 1.5, "item_id": "i"}, "audio_start_ms"),
        ({"type": "input_audio_buffer.speech_started", "audio_start_ms": 1, "item_id": 7}, "item_id"),
        ({"type": "session.created", "session": {"id": 5}}, "id"),
        ({"type": "session.created", "session": {"expires_at": "soon"}}, "expires_at"),
        ({"type": "session.created", "session": {"expires_at": True}}, "expires_at"),
        ({"type": "response.done", "response": {"id": "r", "status": "completed", "output": {}}}, "output"),
        ({"type": "response.done", "response": {"id": "r", "status": "completed", "output": [5]}}, "output item"),
        ({"type": "response.done", "response": {"id": "r", "status": "cancelled", "status_details": "x"}}, "status_details"),
        ({"type": "conversation.item.created", "item": {"type": "message", "content": "hi"}}, "content"),
        ({"type": "conversation.item.created", "item": {"type": "message", "content": ["hi"]}}, "content part"),
        ({"type": "rate_limits.updated", "rate_limits": [{"name": "x", "limit": "many"}]}, "limit"),
        ({"type": "rate_limits.updated", "rate_limits": ["x"]}, "rate limit"),
        ({"type": "error", "error": "boom"}, "error"),
        ({"type": "error", "error": {"message": 5}}, "message"),
    ],
)
def test_mistyped_fields_are_counted_errors(raw, field) -> None:
    parser = ServerEventParser()
    assert parser.parse(json.dumps(raw)) is None
    assert parser.stats.errors == 1
    assert field in parser.stats.last_error


@pytest.mark.parametrize(
    ("usage", "problem"),
    [
        ([], "'usage' is not an object"),
        ({"total_tokens": "9"}, "'total_tokens' is not an integer"),
        ({"input_token_details": {"cached_tokens_details": {"audio_tokens": "x"}}}, "'audio_tokens' is not an integer"),
        ({"input_tokens": -5}, "a token count is negative"),
    ],
)
def test_a_bad_usage_block_costs_the_usage_not_the_response(usage, problem) -> None:
    # The reply must still end (response.done drives the machine); only its token counts are lost, with the reason.
    event = ServerEventParser().parse(json.dumps({"type": "response.done", "response": {"id": "r", "status": "completed", "usage": usage}}))
    assert event is not None and event.response_id == "r" and event.status == "completed"
    assert event.usage is None and event.usage_problem == problem


def test_unknown_types_are_ignored_and_counted_not_errors() -> None:
    parser = ServerEventParser()
    for kind in ["response.animation_viseme.delta", "session.avatar.connecting", "response.animation_viseme.delta", "future.thing"]:
        assert parser.parse(json.dumps({"type": kind, "event_id": "e"})) is None
    assert parser.stats.unknown == 4 and parser.stats.errors == 0
    assert parser.stats.unknown_types == {"response.animation_viseme.delta": 2, "session.avatar.connecting": 1, "future.thing": 1}


def test_unknown_type_names_are_bounded() -> None:
    parser = ServerEventParser()
    for n in range(100):
        parser.parse(json.dumps({"type": f"x.{n}"}))
    assert parser.stats.unknown == 100
    assert len(parser.stats.unknown_types) == 32


def test_extra_fields_are_ignored() -> None:
    raw = {"type": "input_audio_buffer.speech_started", "audio_start_ms": 10, "item_id": "i",
           "new_field": {"nested": [1, 2]}, "another": None}
    assert parse_event(json.dumps(raw)) == ev.SpeechStarted(audio_start_ms=10, item_id="i")


def test_integral_floats_are_accepted_as_integers() -> None:
    raw = {"type": "conversation.item.truncated", "item_id": "i", "content_index": 0.0, "audio_end_ms": 1500.0}
    event = parse_event(json.dumps(raw))
    assert event == ev.ItemTruncated(item_id="i", content_index=0, audio_end_ms=1500)
    assert type(event.audio_end_ms) is int


def test_missing_event_id_is_empty() -> None:
    assert parse_event('{"type":"input_audio_buffer.cleared"}') == ev.InputBufferCleared(event_id="")


def test_session_details() -> None:
    event = parse_event(json.dumps({"type": "session.updated", "event_id": "e", "session": {
        "id": "s", "model": "gpt-4o", "voice": {"type": "azure-standard", "name": "en-US-AvaNeural"}, "expires_at": "2026-01-01T00:00:00Z"}}))
    assert event.session_id == "s" and event.model == "gpt-4o"
    assert event.expires_at == 1767225600.0
    assert event.session["voice"]["name"] == "en-US-AvaNeural"
    with pytest.raises(TypeError):
        event.session["voice"] = "alloy"  # read-only view


def test_session_without_expiry() -> None:
    event = parse_event('{"type":"session.created","session":{}}')
    assert event == ev.SessionCreated(session={}) and event.expires_at is None and event.session_id is None


def test_response_done_completed_with_usage_and_output() -> None:
    sample = next(s for s in SAMPLES if s.raw["type"] == "response.done")
    event = parse_event(json.dumps(sample.raw))
    assert event.usage == ev.Usage(total_tokens=60, input_tokens=20, output_tokens=40, input_text_tokens=5,
                                   input_audio_tokens=15, input_cached_tokens=0, output_text_tokens=10, output_audio_tokens=30)
    assert event.output[0] == ev.ItemInfo(id="item_2", type="message", role="assistant", status="completed", transcript="Hello there.")
    assert event.output[1].name == "get_time" and event.output[1].call_id == "call_1" and event.output[1].arguments == "{}"


def test_response_done_cancelled_by_turn_detection() -> None:
    event = parse_event(json.dumps({"type": "response.done", "response": {
        "id": "r", "status": "cancelled", "status_details": {"type": "cancelled", "reason": "turn_detected"}}}))
    assert (event.status, event.reason, event.error, event.usage, event.output) == ("cancelled", "turn_detected", None, None, ())


def test_response_done_failed_with_error() -> None:
    event = parse_event(json.dumps({"type": "response.done", "response": {
        "id": "r", "status": "failed",
        "status_details": {"type": "failed", "error": {"type": "server_error", "code": 500, "message": "oops"}}}}))
    assert event.status == "failed"
    assert event.error == ev.ErrorInfo(type="server_error", code="500", message="oops")


def test_response_done_failed_with_string_error() -> None:
    event = parse_event(json.dumps({"type": "response.done", "response": {
        "id": "r", "status": "failed", "status_details": {"type": "failed", "error": "quota exceeded"}}}))
    assert event.error == ev.ErrorInfo(message="quota exceeded")


def test_error_event_with_partial_details_is_delivered() -> None:
    """An error is never dropped for missing details: that would hide the problem."""
    assert parse_event('{"type":"error","error":{}}') == ev.Error()
    assert parse_event('{"type":"error","error":{"message":"m","code":null}}') == ev.Error(message="m")


def test_item_created_user_audio_item() -> None:
    sample = next(s for s in SAMPLES if s.raw["type"] == "conversation.item.created")
    event = parse_event(json.dumps(sample.raw))
    assert event.item == ev.ItemInfo(id="item_1", type="message", role="user", status="completed", transcript=None)


def test_transcription_failed_error_details() -> None:
    sample = next(s for s in SAMPLES if s.raw["type"].endswith("transcription.failed"))
    event = parse_event(json.dumps(sample.raw))
    assert event.error.code == "audio_unintelligible" and event.error.message == "no speech"


def test_rate_limits() -> None:
    sample = next(s for s in SAMPLES if s.raw["type"] == "rate_limits.updated")
    event = parse_event(json.dumps(sample.raw))
    assert event.rate_limits == (ev.RateLimit(name="tokens", limit=100000, remaining=99000, reset_seconds=12.5),
                                 ev.RateLimit(name="requests", limit=30, remaining=29, reset_seconds=2.0))


def test_events_are_frozen() -> None:
    event = ev.SpeechStarted(audio_start_ms=1, item_id="i")
    with pytest.raises(AttributeError):
        event.item_id = "j"  # type: ignore[misc]


def test_stats_add_up_over_a_mixed_stream() -> None:
    parser = ServerEventParser()
    frames = [json.dumps(s.raw) for s in SAMPLES] + ["{", "[]", '{"type":"x.y"}', '{"type":"response.audio.delta"}']
    results = [parser.parse(f) for f in frames]
    assert sum(r is not None for r in results) == len(SAMPLES) == parser.stats.events
    assert parser.stats.errors == 3 and parser.stats.unknown == 1
    assert parser.stats.last_error.startswith("response.audio.delta: missing")
