"""Fuzzing what the server says and what the device does (issue 8 item 3).

Real server event sequences are recorded once from the emulator over a loopback WebSocket (a full
turn, a server barge-in, errors), then mutated: frames dropped, duplicated, reordered, cut short,
fields given wrong types, wrong/huge/negative numbers, bad base64, odd unicode, nested garbage and
ids that belong to other responses.

- The parser turns every frame into a typed event (every field of its declared type, every text
  clean UTF-8) or a counted error or unknown type, and never raises.
- The daemon's path, parser -> SessionLink (real) -> machine.step, with random device events, the
  real speaker core (ReplyOutput) and the daemon's Timers on a model clock, never raises, and after every step the
  machine has a way back: in every state something that will happen by itself (a timer, the speaker
  finishing, a connect completing) moves it on, and timers firing, playback finishing and the
  session closing bring it back to a resting state.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import json
import logging
import math
import threading
import time
import types
import typing
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from assistant_helpers import Conversation, chunk
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from secret_helpers import PLANTED_KEY, assert_no_leak
from websockets.sync.client import connect

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant import machine
from edgevoice.assistant.settings import AssistantSettings, BargeIn, Endpointing
from edgevoice.assistant.state import Playing, SessionStatus, State, Timer
from edgevoice.audio.speech import Speech
from edgevoice.daemon.execute import execute
from edgevoice.daemon.link import SessionLink
from edgevoice.daemon.timers import Timers
from edgevoice.daemon.translate import from_server
from edgevoice.playback.output import ReplyOutput
from edgevoice.playback.sound import Sound
from edgevoice.playback.wav_speaker import WavSpeaker
from edgevoice.voicelive import errors as vle
from edgevoice.voicelive.emulator import Emulator, FaultPlan
from edgevoice.voicelive.protocol import server_events as ev
from edgevoice.voicelive.protocol.parser import ServerEventParser

RATE = 16000  # pcm16_16000hz out, 16 kHz in: what edgevoice configures

# A link thread (connect, close) that dies of an exception fails the test, not just warns.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

# --------------------------------------------------------------------------------------------
# Recording real sequences from the emulator (once per module)
# --------------------------------------------------------------------------------------------

#: Client event ids the recordings use; an error frame naming one answers that client event.
RECORDED_CLIENT_IDS = ("evt_commit", "evt_response", "evt_empty_commit", "evt_truncate")


class Recordings:
    """Raw text frames exactly as the emulator sent them, one list per scenario (a plain class:
    hypothesis prints a dataclass field by field, and the audio is 100s of kB)."""

    def __init__(self, sequences: Mapping[str, tuple[str, ...]], ids: tuple[str, ...]) -> None:
        self.sequences = sequences
        self.ids = ids  # every response and item id seen (for "an id from another response")

    def __repr__(self) -> str:
        return f"<Recordings {', '.join(f'{k}: {len(v)} frames' for k, v in self.sequences.items())}>"

    def all_frames(self) -> list[str]:
        return [frame for frames in self.sequences.values() for frame in frames]


class _Recorder:
    """A plain WebSocket client that keeps every frame the server sends, untouched."""

    def __init__(self, emu: Emulator, session: Mapping[str, Any]) -> None:
        url = f"{emu.ws_url}?api-version=2026-07-15&model=gpt-realtime"
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(url, additional_headers={"api-key": PLANTED_KEY}, open_timeout=5))
        self.frames: list[str] = []
        self.send({"type": "session.update", "session": {"input_audio_sampling_rate": RATE,
                                                          "output_audio_format": "pcm16_16000hz", **session}})
        self.until("session.updated")

    def send(self, event: Mapping[str, Any]) -> None:
        self.ws.send(json.dumps(event))

    def append(self, pcm: bytes, ms: int = 40) -> None:
        step = 2 * RATE * ms // 1000
        for i in range(0, len(pcm), step):
            self.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i:i + step]).decode()})

    def until(self, kind: str, *, count: int = 1, timeout: float = 10.0) -> None:
        """Keep frames up to and including the ``count``-th one of type ``kind``."""
        deadline = time.monotonic() + timeout
        while count:
            frame = self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            self.frames.append(frame)
            if f'"type": "{kind}"' in frame:
                count -= 1

    def close(self) -> tuple[str, ...]:
        self._stack.close()
        return tuple(self.frames)


def record_sequences() -> Recordings:
    speech = Speech()
    silence = bytes(2 * RATE * 600 // 1000)
    question = silence + speech.render("what time is it", RATE) + silence
    sequences: dict[str, tuple[str, ...]] = {}
    # A full turn with device endpointing: audio, commit, response.create, the whole reply.
    with Emulator(api_key=PLANTED_KEY, replies=["It is ten past five."]) as emu:
        rec = _Recorder(emu, {"turn_detection": None, "input_audio_transcription": {"model": "whisper-1"}})
        rec.append(question)
        rec.send({"type": "input_audio_buffer.commit", "event_id": "evt_commit"})
        rec.send({"type": "response.create", "event_id": "evt_response"})
        rec.until("response.done")
        sequences["full_turn"] = rec.close()
    # A barge-in with server VAD: the user talks over the reply, which ends cancelled/turn_detected
    # and the next response answers the interruption.
    with Emulator(api_key=PLANTED_KEY, pacing="realtime",
                  replies=["Once upon a time there was a story that went on and on and on.", "Okay."]) as emu:
        rec = _Recorder(emu, {"turn_detection": {"type": "server_vad", "silence_duration_ms": 300}})
        rec.append(question)
        rec.until("response.audio.delta", count=3)
        rec.append(speech.render("stop please", RATE) + silence)
        rec.until("response.done", count=2)
        sequences["barge_in"] = rec.close()
    # Errors: an empty commit, a server error mid-response (with a malformed frame and an unknown
    # event before it), a truncate of an item that does not exist.
    faults = FaultPlan(malformed_json_after_audio_deltas=1, unknown_event_after_audio_deltas=1, error_after_audio_deltas=2)
    with Emulator(api_key=PLANTED_KEY, faults=faults) as emu:
        rec = _Recorder(emu, {"turn_detection": None})
        rec.send({"type": "input_audio_buffer.commit", "event_id": "evt_empty_commit"})
        rec.until("error")
        rec.append(question)
        rec.send({"type": "input_audio_buffer.commit", "event_id": "evt_commit"})
        rec.send({"type": "response.create", "event_id": "evt_response"})
        rec.until("response.done")
        rec.send({"type": "conversation.item.truncate", "event_id": "evt_truncate", "item_id": "item_gone",
                  "content_index": 0, "audio_end_ms": 10})
        rec.until("error")
        sequences["errors"] = rec.close()
    ids: set[str] = set()
    for frames in sequences.values():
        for frame in frames:
            for key in ("response_id", "item_id", "previous_item_id", "id"):
                ids.update(_values_of(_loads(frame), key))
    return Recordings(sequences, tuple(sorted(i for i in ids if isinstance(i, str))))


def _loads(frame: str | bytes) -> Any:
    try:
        return json.loads(frame)
    except (ValueError, RecursionError):  # RecursionError: the deeply nested garbage below
        return None


def _values_of(value: Any, key: str):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                yield v
            yield from _values_of(v, key)
    elif isinstance(value, list):
        for v in value:
            yield from _values_of(v, key)


@pytest.fixture(scope="module")
def recorded() -> Recordings:
    recordings = record_sequences()
    kinds = {name: [(_loads(f) or {}).get("type") for f in frames] for name, frames in recordings.sequences.items()}
    assert kinds["full_turn"][-1] == "response.done" and "response.audio.delta" in kinds["full_turn"]
    assert "input_audio_buffer.speech_started" in kinds["barge_in"]
    assert any('"turn_detected"' in f for f in recordings.sequences["barge_in"])
    assert kinds["errors"].count("error") == 3 and None in kinds["errors"]  # and the malformed frame
    assert_no_leak("recorded server frames", *recordings.all_frames())
    return recordings


# --------------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------------

_NEST = "\u0000nest\u0000"  # replaced by deeply nested arrays after json.dumps
_DEEP = "[" * 5000 + "]" * 5000

ODD_NUMBERS = [0, -1, -(2**63), 2**64, 10**30, int("9" * 400), 1.5, -0.0, 1e308, -1e308,
               float("nan"), float("inf"), float("-inf"), 1200.0, True, False]
BAD_BASE64 = ["", "A", "AA", "AA==", "AAA=", "AQID", "A===", "@@@@", "QUJD\n", "QUJDRA", "QU JD", "====",
              "ÄÖÜ=", "\ud800AAA", "A" * 4001, base64.b64encode(bytes(range(7))).decode()]
ODD_TEXT = ["", "\ud800", "x\udfffy", "\udbff\udfff", "\u202e\u200f", "\x00", "😀", "e\u0301", "\ufeff",
            "Z" * 20000, "null", "{}", '{"type": "error"}', "response.done"]
WRONG_TYPES = [None, [], {}, [None, 1, "x"], {"": None, "type": 1}, {"id": []}, [[[[[]]]]]]


def odd_values(ids: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Values that a broken or hostile server might put anywhere."""
    return st.one_of(
        st.sampled_from(ODD_NUMBERS), st.sampled_from(BAD_BASE64), st.sampled_from(ODD_TEXT),
        st.sampled_from(WRONG_TYPES), st.sampled_from(ids or ("resp_other",)), st.just(_NEST),
        st.sampled_from(sorted(_ALL_TYPES)),  # type confusion: one event's fields under another's type
        st.integers(), st.floats(), st.text(max_size=12),
    )


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return out
    for key, item in items:
        out.append((*prefix, key))
        out.extend(_paths(item, (*prefix, key)))
    return out


def _dumps(obj: Any) -> str:
    return json.dumps(obj).replace(json.dumps(_NEST), _DEEP)


_ALL_TYPES = frozenset(name for cls in ev.EVENT_CLASSES for name in cls.TYPES)


@st.composite
def mutate_frame(draw, frame: str | bytes, ids: tuple[str, ...], others: list[str]) -> str | bytes:
    """One frame, broken in one way."""
    obj = _loads(frame)
    audio = isinstance(obj, dict) and obj.get("type") in ev.AudioDelta.TYPES
    ways = ["field", "field", "field", "delete", "cut", "splice", "bytes", "wrap"] + (["audio"] * 3 if audio else [])
    how = draw(st.sampled_from(ways))
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    if how == "audio":  # valid base64, but not always whole 16-bit samples
        size = draw(st.sampled_from([0, 1, 2, 3, 5, 640, 3201]))
        obj["delta"] = base64.b64encode(bytes(i % 251 for i in range(size))).decode()
        return _dumps(obj)
    if how in ("field", "delete") and isinstance(obj, dict):
        for _ in range(draw(st.integers(1, 3))):
            paths = _paths(obj)
            if not paths:
                break
            path = draw(st.sampled_from(paths))
            parent = obj
            for key in path[:-1]:
                parent = parent[key]
            if how == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(odd_values(ids))
        return _dumps(obj)
    if how == "cut":
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if how == "splice":
        other = draw(st.sampled_from(others))
        return text[: draw(st.integers(0, len(text)))] + other[draw(st.integers(0, len(other))):]
    if how == "bytes":
        raw = text.encode("utf-8", "surrogatepass")
        at = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc3", b"\x00", b"\xef\xbb\xbf"]))
        return raw[:at] + junk + raw[at:]
    return _dumps(draw(st.sampled_from([[obj], {"type": "response.done", "response": obj}, obj and [obj] * 3,
                                        {"type": None, "event": obj}])))


@st.composite
def mutated_sequence(draw, recordings: Recordings) -> list[str | bytes]:
    """A recorded sequence with a few frames dropped, duplicated, moved, cut or broken."""
    name = draw(st.sampled_from(sorted(recordings.sequences)))
    frames: list[str | bytes] = list(recordings.sequences[name])
    others = recordings.all_frames()
    for _ in range(draw(st.integers(0, 6))):
        if not frames:
            break
        i = draw(st.integers(0, len(frames) - 1))
        op = draw(st.sampled_from(["drop", "duplicate", "swap", "reverse", "truncate", "mutate", "mutate", "insert"]))
        if op == "drop":
            del frames[i]
        elif op == "duplicate":
            frames.insert(draw(st.integers(0, len(frames))), frames[i])
        elif op == "swap":
            j = draw(st.integers(0, len(frames) - 1))
            frames[i], frames[j] = frames[j], frames[i]
        elif op == "reverse":
            j = draw(st.integers(i, len(frames)))
            frames[i:j] = frames[i:j][::-1]
        elif op == "truncate":
            frames = frames[:i]
        elif op == "insert":  # a frame from another scenario (another session's ids)
            frames.insert(i, draw(st.sampled_from(others)))
        else:
            frames[i] = draw(mutate_frame(frames[i], recordings.ids, others))
    note(f"sequence {name}: {len(frames)} frames")
    return Frames(frames)


class Frames(list):
    """Frames with a short repr (hypothesis prints what it drew; a reply's audio is 100s of kB)."""

    def __repr__(self) -> str:
        return f"<{len(self)} frames>"


# --------------------------------------------------------------------------------------------
# What a typed event must look like
# --------------------------------------------------------------------------------------------


def _conforms(value: Any, hint: Any) -> bool:
    """``value`` is of the (resolved) type ``hint``; containers are checked element by element."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return type(value) is tuple and all(_conforms(v, item) for v in value)
    if origin in (Mapping, dict) or hint is Mapping:
        return isinstance(value, Mapping) and all(type(k) is str for k in value)
    if dataclasses.is_dataclass(hint):
        return type(value) is hint and _fields_conform(value)
    if hint is float:
        return type(value) is float and math.isfinite(value)
    return type(value) is hint  # str, int, bytes: exactly (no bool for int)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(ev))


def _fields_conform(obj: Any) -> bool:
    hints = _hints(type(obj))
    return all(_conforms(getattr(obj, f.name), hints[f.name]) for f in dataclasses.fields(obj))


def _texts(value: Any):
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if f.name != "session":  # the raw session object is kept as the server sent it
                yield from _texts(getattr(value, f.name))
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _texts(v)


def _clean(text: str) -> bool:
    """Encodable as UTF-8 (a lone surrogate is not: the journal and log files refuse it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _canonical(event: ev.ServerEvent | None) -> str:
    """A comparable form of an event (NaN inside a raw session object compares unequal to itself)."""
    if event is None:
        return "None"
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    return repr(type(event)) + json.dumps(fields, default=lambda v: dict(v) if isinstance(v, Mapping) else repr(v),
                                          sort_keys=True)


def check_parse(parser: ServerEventParser, frame: str | bytes) -> ev.ServerEvent | None:
    """Parse one frame and check everything a consumer of the parser relies on."""
    try:
        return _check_parse(parser, frame)
    except AssertionError as exc:
        raise AssertionError(f"{exc} (frame {frame[:300]!r}{'...' if len(frame) > 300 else ''})") from None


def _check_parse(parser: ServerEventParser, frame: str | bytes) -> ev.ServerEvent | None:
    stats = parser.stats
    before = (stats.events, stats.unknown, stats.errors)
    event = parser.parse(frame)
    after = (stats.events, stats.unknown, stats.errors)
    counted = [b - a for a, b in zip(before, after)]
    if event is not None:
        assert counted == [1, 0, 0]
        assert type(event) in ev.EVENT_CLASSES and _fields_conform(event), event
        assert all(_clean(t) for t in _texts(event)), event
        raw = _loads(frame)
        assert raw["type"] in type(event).TYPES
        if isinstance(event, ev.AudioDelta):
            assert event.pcm == base64.b64decode(raw["delta"], validate=True)
        machine_event = from_server(event, RATE)
        if isinstance(machine_event, E.ReplyAudio):
            assert len(machine_event.pcm) % 2 == 0, "reply audio reaches the speaker as whole 16-bit samples"
            assert machine_event.ms == len(machine_event.pcm) / 2 / RATE * 1000
    else:
        assert counted in ([0, 1, 0], [0, 0, 1])
        if counted[2]:
            assert stats.last_error and len(stats.last_error) <= 200 and _clean(stats.last_error)
    assert len(stats.unknown_types) <= 32 and all(len(k) <= 80 and _clean(k) for k in stats.unknown_types)
    # No state carried between frames: a fresh parser says exactly the same about this frame.
    assert _canonical(ServerEventParser().parse(frame)) == _canonical(event)
    return event


# --------------------------------------------------------------------------------------------
# The parser over real and mutated sequences
# --------------------------------------------------------------------------------------------


def test_recorded_sequences_parse_cleanly(recorded):
    for name, frames in recorded.sequences.items():
        parser = ServerEventParser()
        for frame in frames:
            check_parse(parser, frame)
        stats = parser.stats
        expected_errors = 1 if name == "errors" else 0  # the emulator's deliberately malformed frame
        assert (stats.errors, stats.unknown) == (expected_errors, expected_errors), (name, stats)


@settings(max_examples=300)
@given(data=st.data())
def test_mutated_recorded_sequences_give_typed_events_or_counted_errors(recorded, data):
    frames = data.draw(mutated_sequence(recorded))
    parser = ServerEventParser()
    for frame in frames:
        check_parse(parser, frame)
    stats = parser.stats
    assert stats.events + stats.unknown + stats.errors == len(frames)


@settings(max_examples=200)
@given(data=st.data())
def test_every_event_type_survives_any_field_holding_any_odd_value(recorded, data):
    """Each recorded event type, with one field (at any depth) replaced by an odd value."""
    frames = sorted({(_loads(f) or {}).get("type", ""): f for f in recorded.all_frames() if _loads(f)}.items())
    _, frame = data.draw(st.sampled_from(frames))
    obj = json.loads(frame)
    path = data.draw(st.sampled_from(_paths(obj)))
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(odd_values(recorded.ids))
    check_parse(ServerEventParser(), _dumps(obj))


# --- regressions found by the fuzzing above --------------------------------------------------


def test_odd_length_audio_reaches_the_speaker_as_whole_samples(tmp_path):
    """Regression: "AA==" is valid base64 for one byte; the speaker raised on half a sample and
    took the daemon's loop down with it."""
    frame = json.dumps({"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
                        "output_index": 0, "content_index": 0, "delta": "AAEC"})  # 3 bytes
    event = check_parse(ServerEventParser(), frame)
    reply = from_server(event, RATE)
    assert isinstance(reply, E.ReplyAudio) and reply.pcm == b"\x00\x01"
    with WavSpeaker(tmp_path / "out.wav", rate=RATE) as speaker:
        speaker.play(reply.pcm, RATE)  # raised ValueError: PCM must be whole 16-bit samples
        speaker.finish()


def test_empty_ids_are_malformed_not_sent_back():
    """Regression: an audio delta with "response_id": "" became the reply; a barge-in then built
    response.cancel with an empty id, which raised ValueError in the daemon's loop (so would a
    truncate with an empty item id)."""
    parser = ServerEventParser()
    delta = {"type": "response.audio.delta", "response_id": "r", "item_id": "i", "output_index": 0,
             "content_index": 0, "delta": "AAAA"}
    for key in ("response_id", "item_id"):
        assert check_parse(parser, json.dumps({**delta, key: ""})) is None
        assert parser.stats.last_error == f"response.audio.delta: '{key}' is empty"


def test_lone_surrogates_from_the_server_become_replacement_characters():
    """Regression: JSON may escape half a surrogate pair ("\\ud800"); such text could not be
    logged to the journal (UnicodeEncodeError) and would follow transcripts into the events file."""
    parser = ServerEventParser()
    error = check_parse(parser, r'{"type": "error", "error": {"type": "server_error", "message": "bad \ud800 news"}}')
    assert error.message == "bad \ufffd news"
    done = check_parse(parser, r'{"type": "response.audio_transcript.done", "response_id": "r", "item_id": "i",'
                               r' "output_index": 0, "content_index": 0, "transcript": "hi \udfff\ud83d\ude00"}')
    assert done.transcript == "hi \ufffd\U0001f600"  # a whole pair is kept
    assert check_parse(parser, r'{"type": "x\ud800"}') is None
    assert check_parse(parser, r'{"type": "error", "error": "\udc00"}') is None and _clean(parser.stats.last_error)


# --------------------------------------------------------------------------------------------
# The daemon's path: parser -> SessionLink -> machine, with a real speaker and the daemon's timers
# --------------------------------------------------------------------------------------------


class LoopbackSession:
    """Stands where a VoiceLiveSession stands for the SessionLink, with the network taken out.

    ``connect()`` blocks (on the link's connect thread) until the test decides how it ends; server
    frames go through a real ServerEventParser to ``on_event``, as the session's receive thread
    does; ``drop()`` is the connection ending under it (``on_close``).
    """

    def __init__(self, *, on_event: Callable[[ev.ServerEvent], None], on_close: Callable[[int, str], None]) -> None:
        self._on_event = on_event
        self._on_close = on_close
        self.parser = ServerEventParser()
        self.sent: list[Mapping[str, Any]] = []
        self.open = False
        self.closed = False
        self._verdict: BaseException | None = None
        self._go = threading.Event()
        self._entered = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self) -> None:
        self._thread = threading.current_thread()
        self._entered.set()
        assert self._go.wait(30), "the test never decided this connect"
        if self._verdict is not None:
            raise self._verdict.with_traceback(None)  # the same instances serve every example
        if self.closed:
            raise vle.SessionClosed("closed while connecting")
        self.open = True

    def finish_connect(self, error: BaseException | None = None) -> None:
        """Let connect() return (or raise ``error``) and wait until the link has dealt with it."""
        self._verdict = error
        self._go.set()
        self.join()

    def join(self) -> None:
        assert self._entered.wait(10), "the link never started connecting"
        assert self._thread is not None
        self._thread.join(10)
        assert not self._thread.is_alive()

    def send(self, event: Mapping[str, Any]) -> None:
        if not self.open:
            raise vle.SessionClosed(f"cannot send {event.get('type')}: closed")
        self.sent.append(event)

    def close(self) -> None:
        self.open = False
        self.closed = True
        self._go.set()

    def receive(self, frame: str | bytes) -> None:
        event = check_parse(self.parser, frame)
        if event is not None:
            self._on_event(event)

    def drop(self) -> None:
        self.open = False
        self.closed = True
        self._on_close(1006, "connection lost")

    # What the link may read of a VoiceLiveSession.
    expires_at = None
    session_id = None

    def expires_soon(self, margin_s: float = 0.0) -> bool:
        return False

    @property
    def is_open(self) -> bool:
        return self.open

    @property
    def stats(self):
        return self.parser.stats

    def requests(self) -> list[str]:
        """Event ids of the commits and response requests sent (what an error may answer)."""
        return [e["event_id"] for e in self.sent if e.get("type") in ("input_audio_buffer.commit", "response.create")]


class ClockSpeaker(ReplyOutput):
    """The speaker on the model clock: renders and reports like WavSpeaker, but keeps nothing.

    While it plays it renders in 10 ms blocks, so its callbacks land within 10 ms; while it is
    silent (nothing queued, nothing pending) it skips ahead in one block.
    """

    def __init__(self, **callbacks: Any) -> None:
        super().__init__(RATE, volume=1.0, jitter_ms=0.0, **callbacks)
        self._written = 0

    def advance_to(self, seconds: float) -> None:
        target = int(round(seconds * self.rate))
        while True:
            with self._lock:
                if self._written >= target:
                    return
                frames = target - self._written if not self.playing else min(target - self._written, RATE // 100)
                self._render_block(frames, self._written)
                self._written += frames
                due = self._advance(self._written)
            self._run_callbacks(due)


RESTING = frozenset({State.IDLE, State.MUTED, State.OFFLINE, State.ERROR})
CACHED_PCM = bytes(2 * RATE * 300 // 1000)  # a 300 ms cached phrase
CHIME_PCM = bytes(2 * RATE * 50 // 1000)


class DaemonShell:
    """Carries the machine's actions out the way edgevoice.daemon.Daemon does, on a model clock.

    Real SessionLink, speaker (ReplyOutput, on the model clock), Timers; the machine is stepped
    through assistant_helpers.Conversation, which checks the shell's bookkeeping after each step.
    """

    def __init__(self, assistant_settings: AssistantSettings) -> None:
        self.settings = assistant_settings
        self.queue: deque[object] = deque()
        self.sessions: list[LoopbackSession] = []
        self.transcripts: list[object] = []
        self.now_s = 0.0
        self.timers = Timers()
        self.link = SessionLink(self._new_session, self.queue.append, output_rate=RATE,
                                on_transcript=self.transcripts.append)
        self.speaker = ClockSpeaker(on_start=lambda: self.queue.append(E.PlaybackStarted()),
                                    on_finished=lambda: self.queue.append(E.PlaybackFinished()))
        self.conv = Conversation(assistant_settings)
        _, actions = machine.start(assistant_settings)  # what Conversation booked: carry it out
        self._steps(self._execute(actions))

    @property
    def ctx(self):
        return self.conv.ctx

    def _new_session(self, **callbacks: Any) -> LoopbackSession:
        session = LoopbackSession(**callbacks)
        self.sessions.append(session)
        return session

    @property
    def session(self) -> LoopbackSession | None:
        """The session the link uses now (opening or open), if any: always the latest it made.
        (Not "the latest not closed": the link closes dropped sessions on a thread of its own.)"""
        return self.sessions[-1] if self.link.is_open or self.link.is_opening else None

    # --- the loop ------------------------------------------------------------------------

    def step(self, event: E.Event) -> None:
        self._steps([event])
        self.pump()

    def _steps(self, events: list[E.Event]) -> None:
        pending = deque(events)
        while pending:
            pending.extend(self._execute(self.conv.send(pending.popleft())))

    def pump(self) -> None:
        """Step every event the link and the speaker have posted."""
        while self.queue:
            item = self.queue.popleft()
            assert isinstance(item, E.Event), item
            self._steps([item])

    def advance(self, seconds: float) -> None:
        """Time passes: the speaker plays, timers run out (in deadline order, like the daemon's loop)."""
        target = self.now_s + seconds
        while True:
            deadline = self.timers.next_deadline()
            self.now_s = target if deadline is None else min(target, max(deadline, self.now_s))
            self.speaker.advance_to(self.now_s)
            self.pump()
            for fired in self.timers.expired(self.now_s):
                self.step(fired)
            if self.now_s >= target:
                return

    def _execute(self, actions: list[A.Action]) -> list[E.Event]:
        return execute(self, actions, self.now_s)  # the daemon's own table of action handlers

    # --- what the handlers act on (edgevoice.daemon.execute.ActionTarget) --------------------
    # The session, the speaker and the timers are the real ones; the device's other parts are
    # absent here (no microphone, GPIO or cache): these stand in for them, labelled.

    def now(self) -> float:
        return self.now_s

    def open_gate(self, action: A.OpenGate, at: float) -> None:
        if action.pre_roll:  # stand-in for the front-end's pre-roll: 300 ms of audio
            self.link.send_audio(bytes(2 * RATE * 300 // 1000))

    def hold_for_words(self) -> None:
        pass  # no front-end

    def close_gate(self) -> None:
        pass  # no front-end

    def run_tool(self, action: A.RunTool) -> None:
        pass  # tool calls are fuzzed as machine events (ToolFinished), not run

    def reply_audio(self, pcm: bytes) -> None:
        pass  # offline.learn is not part of this walk

    def cached_sound(self, key: str) -> Sound:
        return Sound(CACHED_PCM, RATE)  # stand-in for the phrase cache

    def recognise_question(self) -> None:
        pass  # no recogniser: the walk sends OfflineHeard itself

    def answer_sound(self, answer: str) -> Sound:
        return Sound(CACHED_PCM, RATE)

    def text_sound(self, text: str) -> Sound:
        return Sound(CACHED_PCM, RATE)  # stand-in for the phrase cache / the local voice

    def set_listening(self, on: bool) -> None:
        pass  # no front-end

    def played_cached(self, at: float, **what: str) -> None:
        pass  # no captions

    def close_session(self, carry_summary: bool) -> None:
        self.link.close()  # the carried summary is not part of this walk

    def use_model(self, cheaper: bool) -> None:
        pass  # no budget in this walk

    def chime(self, name: A.Chime) -> Sound | None:
        return Sound(CHIME_PCM, RATE)

    def show_leds(self, action: A.SetLeds) -> None:
        pass  # no LEDs

    def mark(self, action: A.Telemetry, at: float) -> None:
        pass  # telemetry is checked by the machine's own tests

    def close(self) -> None:
        for session in self.sessions:
            session.close()
        for session in self.sessions:
            session.join()
        self.link.close()


def stuck_reasons(shell: DaemonShell) -> list[str]:
    """Why the machine might wait forever here: a state that needs something to move it on, with
    nothing armed or pending that will (a timer, the speaker finishing, a connect completing)."""
    ctx, timers = shell.ctx, {name for name, _ in shell.ctx.timers}
    problems = []
    needs = {State.LISTENING: Timer.LISTEN, State.THINKING: Timer.REPLY, State.FOLLOW_UP: Timer.FOLLOW_UP,
             State.ERROR: Timer.RETRY}
    if ctx.state in needs and needs[ctx.state] not in timers:
        problems.append(f"{ctx.state} without its {needs[ctx.state]} timer")
    if ctx.state is State.SPEAKING:
        reply = ctx.reply
        if reply is None:
            problems.append("speaking without a reply")
        elif reply.active and Timer.REPLY not in timers:
            problems.append("speaking a reply that may never end (no response.done) without a timer")
        elif not reply.active and ctx.playing is not Playing.REPLY:
            problems.append("speaking a finished reply that is not playing")
    more_to_come = ctx.playing is Playing.REPLY and ctx.reply is not None and ctx.reply.active  # the REPLY timer's
    if ctx.playing is not Playing.NOTHING and not more_to_come and not shell.speaker.playing:
        problems.append(f"waiting for {ctx.playing} to finish on a silent speaker")
    link_state = "open" if shell.link.is_open else "opening" if shell.link.is_opening else "closed"
    expected = {SessionStatus.READY: "open", SessionStatus.OPENING: "opening", SessionStatus.CLOSED: "closed"}[ctx.session]
    if link_state != expected:
        problems.append(f"the machine thinks the session is {ctx.session}, the link has it {link_state}")
    return problems


def comes_to_rest(conv_settings: AssistantSettings, ctx) -> list[str]:
    """Ordinary events only (timers firing, playback finishing, the session closing) bring the
    machine to a resting state within a few steps; returns the path, or fails with it."""
    path: list[str] = []
    for _ in range(12):
        if ctx.state in RESTING:
            return path
        candidates: list[E.Event] = []
        if ctx.playing is not Playing.NOTHING:
            candidates.append(E.PlaybackFinished())
        candidates += [E.TimerFired(name, timer_id) for name, timer_id in ctx.timers]
        if ctx.session is not SessionStatus.CLOSED:
            candidates.append(E.SessionFailed(E.FailureKind.OFFLINE, "closed", lost=True))
        for event in candidates:
            after, _ = machine.step(ctx, event, conv_settings)
            if after != ctx:
                ctx = after
                path.append(type(event).__name__)
                break
        else:
            raise AssertionError(f"no ordinary event moves the machine on from {ctx} (path {path})")
    raise AssertionError(f"still {ctx.state} after {path}")


# Every mode, and timer lengths that make the timers overtake each other in different orders.
ASSISTANT_SETTINGS = st.builds(
    AssistantSettings,
    barge_in=st.sampled_from(list(BargeIn)),
    endpointing=st.sampled_from(list(Endpointing)),
    prewarm=st.booleans(),
    chimes=st.booleans(),
    follow_up_s=st.sampled_from([0.0, 2.0, 5.0]),
    idle_timeout_s=st.sampled_from([3.0, 60.0]),
    max_listen_s=st.sampled_from([4.0, 30.0]),
    reply_timeout_s=st.sampled_from([2.0, 15.0]),
    offline_retry_s=st.sampled_from([5.0, 30.0]),
    error_retry_s=st.sampled_from([10.0, 300.0]),
)
CONNECT_FAILURES = [
    vle.AuthRejected(401, "emulator"), vle.Throttled(7.0, "emulator"), vle.ServiceError(503, "emulator", 2.0),
    vle.ConnectTimeout("connecting took too long"), vle.NetworkError("network unreachable"),
    vle.SessionRejected("refused", code="invalid_value"), vle.ProtocolFailure("bad upgrade"),
]


DEVICE_EVENTS = [
    E.Wake("okay_nabu"), E.Wake("hey_jarvis"), E.PushToTalk(True), E.PushToTalk(False), E.SpeechStart(), E.SpeechStart(),
    E.SpeechEnd(), E.UtteranceEnd(), E.UtteranceEnd(), E.UtteranceEnd(E.NO_SPEECH), E.UtteranceEnd("max_length"),
    E.MuteChanged(True), E.MuteChanged(False), E.MuteChanged(False),
]
SPURIOUS_EVENTS = [E.PlaybackStarted(), E.PlaybackFinished(), E.PlaybackStopped(0.0), E.PlaybackStopped(1e9),
                   E.PlaybackStopped(-5.0), E.PlaybackProgress(100.0), E.PlaybackProgress(1e9), E.PlaybackProgress(-5.0)]


class DaemonPath(RuleBasedStateMachine):
    """Random device events and (mutated) server sequences through the daemon's path."""

    recordings: Recordings | None = None

    def __init__(self) -> None:
        super().__init__()
        self.shell: DaemonShell | None = None
        self.script: deque[str | bytes] = deque()

    @initialize(assistant_settings=ASSISTANT_SETTINGS)
    def start(self, assistant_settings):
        self.shell = DaemonShell(assistant_settings)

    def teardown(self) -> None:
        if self.shell is not None:
            self.shell.close()

    # --- the front-end, the buttons, the speaker, timers --------------------------------------

    @rule(event=st.sampled_from(DEVICE_EVENTS))
    def device(self, event):
        self.shell.step(event)

    @rule(ms=st.sampled_from([20, 40, 400]))
    def microphone_audio(self, ms):
        if self.shell.ctx.gate_open:
            self.shell.link.send_audio(bytes(2 * RATE * ms // 1000))

    @rule(seconds=st.sampled_from([0.01, 0.1, 0.5, 2.0, 6.0, 16.0, 31.0, 61.0]))
    def time_passes(self, seconds):
        self.shell.advance(seconds)

    @rule(event=st.sampled_from(SPURIOUS_EVENTS) | st.builds(E.TimerFired, st.sampled_from(list(Timer)), st.integers(0, 30)))
    def spurious(self, event):
        """Playback events nobody asked for, and timers that were cancelled or restarted meanwhile."""
        if not (isinstance(event, E.TimerFired) and (event.name, event.timer_id) in self.shell.ctx.timers):
            self.shell.step(event)

    # --- the session and the service -------------------------------------------------------------

    @precondition(lambda self: self.shell is not None and self.shell.link.is_opening)
    @rule(failure=st.sampled_from([None] * 5 + CONNECT_FAILURES))
    def connect_completes(self, failure):
        self.shell.session.finish_connect(failure)
        assert not self.shell.link.is_opening, "the link posted neither SessionReady nor SessionFailed"
        self.shell.pump()

    @rule(what=st.sampled_from(["drop", E.ServiceBack(), *(E.ServiceUnreachable(kind) for kind in E.FailureKind)]))
    def network(self, what):
        """The connection drops under the session, or the background check finds the service (un)reachable."""
        if what != "drop":
            self.shell.step(what)
        elif self.shell.link.is_open:
            self.shell.session.drop()
            self.shell.pump()

    @precondition(lambda self: self.shell is not None and self.shell.link.is_open)
    @rule(data=st.data(), count=st.integers(1, 12))
    def server_frames(self, data, count):
        """The next frames of a (mutated) recorded sequence arrive."""
        self._frames(data, count)

    def _frames(self, data, count: int) -> None:
        session = self.shell.session
        for _ in range(count):
            if not self.script:
                self.script.extend(data.draw(mutated_sequence(self.recordings)))
                if not self.script:
                    return
            frame = self.script.popleft()
            if isinstance(frame, str) and '"evt_' in frame and session.requests():
                # An error answering a recorded client event answers one this link really sent.
                real = data.draw(st.sampled_from(session.requests()), label="answers")
                for recorded_id in RECORDED_CLIENT_IDS:
                    frame = frame.replace(json.dumps(recorded_id), json.dumps(real))
            session.receive(frame)
            self.shell.pump()
            if self.shell.session is not session:
                return  # dropped or closed: the rest of the script goes to the next session

    @rule(data=st.data())
    def conversation_goes_on(self, data):
        """What usually comes next (so walks get deep into turns): a wake word, the connect
        completing, the user speaking and stopping, the server answering, time passing."""
        shell, state = self.shell, self.shell.ctx.state
        if state is State.MUTED:
            shell.step(E.MuteChanged(False))
        elif shell.link.is_opening:
            self.connect_completes(None)
        elif state in (State.IDLE, State.FOLLOW_UP, State.OFFLINE):
            shell.step(E.Wake("okay_nabu"))
        elif state is State.LISTENING:
            shell.link.send_audio(bytes(2 * RATE * 400 // 1000))
            shell.step(E.SpeechStart())
            shell.step(E.UtteranceEnd())
        elif state in (State.THINKING, State.SPEAKING) and shell.link.is_open and not self._reply_complete():
            self._frames(data, 6)
        else:
            shell.advance(2.0)

    # --- properties ------------------------------------------------------------------------------

    def _reply_complete(self) -> bool:
        reply = self.shell.ctx.reply
        return reply is not None and not reply.active  # it only has to play out

    @invariant()
    def has_a_way_back(self):
        if self.shell is None:
            return
        assert not self.shell.queue
        assert not stuck_reasons(self.shell), (stuck_reasons(self.shell), self.shell.ctx)
        comes_to_rest(self.shell.settings, self.shell.ctx)


def test_daemon_path_never_raises_and_always_has_a_way_back(recorded, caplog):
    caplog.set_level(logging.INFO)
    DaemonPath.recordings = recorded
    run_state_machine_as_test(DaemonPath, settings=settings(max_examples=300, stateful_step_count=50))
    # What the server said reached the log (errors, transcripts): as text the journal can take.
    unencodable = [r.getMessage() for r in caplog.records if not _clean(r.getMessage())]
    assert not unencodable, unencodable[:3]
    assert_no_leak("the log of the walk", caplog.text)


# --- regressions found by the walk above ------------------------------------------------------


def test_a_reply_that_never_ends_is_given_up_on():
    """Regression: audio arrived, then nothing (response.done lost, the server alive but stuck):
    the machine sat in SPEAKING forever with no timer; now it apologises and goes back to idle."""
    c = Conversation(AssistantSettings(prewarm=False, follow_up_s=0.0))
    c.send(E.Wake("okay_nabu"), E.SessionReady(), E.SpeechStart(), E.UtteranceEnd(), chunk(ms=400.0))
    assert c.state is State.SPEAKING and Timer.REPLY in c.timers
    c.send(E.PlaybackStarted(), E.PlaybackFinished())  # what arrived has played
    c.fire(Timer.REPLY)
    assert c.state is State.SPEAKING, "audio arrived since the timer started: keep waiting"
    c.send(chunk(ms=400.0))
    c.fire(Timer.REPLY)
    assert c.state is State.SPEAKING
    acts = c.fire(Timer.REPLY)  # nothing for a whole reply_timeout_s
    assert A.CancelResponse("resp_1") in acts and A.PlayCached(A.Phrase.SERVICE_ERROR, after_reply=True) in acts
    assert c.state is State.IDLE and Timer.REPLY not in c.timers
    c.send(E.PlaybackFinished())
    assert c.ctx.playing is Playing.NOTHING
