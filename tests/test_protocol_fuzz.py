"""Fuzzing the server event parser: random bytes, random JSON and mutated valid events never
raise, and every frame is counted exactly once as an event, an unknown type or an error."""

from __future__ import annotations

import base64
import copy
import json

from hypothesis import given
from hypothesis import strategies as st

from edgevoice.voicelive.protocol import server_events as ev
from edgevoice.voicelive.protocol.parser import ServerEventParser
from protocol_helpers import server_samples

SAMPLES = server_samples()

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
type_names = st.sampled_from([s.raw["type"] for s in SAMPLES]) | st.text(max_size=30)


def _accounted(parser: ServerEventParser, calls: int) -> bool:
    s = parser.stats
    return s.events + s.unknown + s.errors == calls


@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    parser = ServerEventParser()
    result = parser.parse(data)
    assert result is None or isinstance(result, ev.ServerEvent)
    assert _accounted(parser, 1)


@given(st.text(max_size=300))
def test_random_text_never_raises(text: str) -> None:
    parser = ServerEventParser()
    result = parser.parse(text)
    assert result is None or isinstance(result, ev.ServerEvent)
    assert _accounted(parser, 1)


@given(json_values)
def test_random_json_never_raises(value) -> None:
    parser = ServerEventParser()
    result = parser.parse(json.dumps(value))
    assert result is None or isinstance(result, ev.ServerEvent)
    assert _accounted(parser, 1)


@given(type_names, st.dictionaries(st.text(max_size=16), json_values, max_size=6))
def test_known_type_with_random_fields_never_raises(kind, fields) -> None:
    parser = ServerEventParser()
    result = parser.parse(json.dumps({**fields, "type": kind}))
    assert result is None or isinstance(result, ev.ServerEvent)
    assert _accounted(parser, 1)


def _paths(value, prefix=()):
    """Every path to a value inside a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated_samples(draw):
    sample = draw(st.sampled_from(SAMPLES))
    raw = copy.deepcopy(sample.raw)
    paths = [p for p in _paths(raw) if p != ("type",)]
    for _ in range(draw(st.integers(1, 3))):
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = raw
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced this path
    return sample, raw


@given(mutated_samples())
def test_mutated_valid_events_never_raise(case) -> None:
    sample, raw = case
    parser = ServerEventParser()
    result = parser.parse(json.dumps(raw))
    assert result is None or type(result) is sample.cls  # a typed event is always of the right class
    assert _accounted(parser, 1)
    if result is None:
        assert parser.stats.errors == 1 and parser.stats.last_error


@given(st.binary(max_size=4000), st.sampled_from(["response.audio.delta", "response.output_audio.delta"]))
def test_audio_round_trip(pcm: bytes, kind: str) -> None:
    frame = json.dumps({"type": kind, "event_id": "e", "response_id": "r", "item_id": "i",
                        "output_index": 0, "content_index": 0, "delta": base64.b64encode(pcm).decode()})
    event = ServerEventParser().parse(frame.encode())
    assert isinstance(event, ev.AudioDelta) and event.pcm == pcm


@given(st.text(alphabet=st.sampled_from("AQgw+/=- \n_é"), min_size=1, max_size=24))
def test_text_that_is_not_base64_never_decodes_to_wrong_audio(junk: str) -> None:
    """Whatever the parser accepts is valid base64 and decodes as the standard library does."""
    parser = ServerEventParser()
    event = parser.parse(json.dumps({"type": "response.audio.delta", "response_id": "r", "item_id": "i",
                                     "output_index": 0, "content_index": 0, "delta": junk}))
    if event is None:
        assert "base64" in parser.stats.last_error
    else:
        assert event.pcm == base64.b64decode(junk, validate=True)
