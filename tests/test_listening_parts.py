"""The parts of the front-end one by one: noise filter, VAD hysteresis, the gate, the endpointer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgevoice.listening.endpoint import CARRY_FRAMES, Endpointer
from edgevoice.listening.gate import Gate
from edgevoice.listening.noise import NoiseFilter
from edgevoice.listening.voice_activity import END, NONE, START, VoiceActivity

from listening_helpers import frames_of, pcm16, scene, tts


class ScriptedVad(VoiceActivity):
    """VoiceActivity with the webrtcvad verdict replaced by a script (hysteresis under test)."""

    def __init__(self, verdicts, **kw):
        super().__init__(**kw)
        self._verdicts = iter(verdicts)
        self._vad = self

    def is_speech(self, frame, rate):
        return next(self._verdicts)


def run_vad(verdicts, **kw):
    vad = ScriptedVad(verdicts, **kw)
    out = []
    for i in range(len(verdicts)):
        r = vad.update(b"")
        if r != NONE:
            out.append((i, r, vad.lag))
    return out


def test_speech_starts_after_n_voiced_frames_in_a_row_and_is_back_dated():
    v = [0, 1, 1, 0, 1, 1, 1, 1] + [0] * 70
    out = run_vad(v, speech_start_frames=3, silence_ms=600)
    assert out[0] == (6, START, 3)  # reported on frame 6, began 3 frames earlier (frame 4)
    assert out[1] == (67, END, 60)  # 600 ms of silence, back-dated to the end of frame 7


def test_short_gaps_do_not_end_speech():
    v = [1] * 5 + ([0] * 30 + [1] * 3) * 3 + [0] * 60
    out = run_vad(v, speech_start_frames=3, silence_ms=600)
    assert [r for _, r, _ in out] == [START, END]


@given(st.lists(st.booleans(), max_size=400), st.integers(1, 10), st.integers(1, 30))
def test_starts_and_ends_alternate(verdicts, start_frames, silence_frames):
    out = run_vad(verdicts, speech_start_frames=start_frames, silence_ms=silence_frames * 10)
    kinds = [r for _, r, _ in out]
    assert kinds == [START, END] * (len(kinds) // 2) + [START] * (len(kinds) % 2)


def test_real_vad_finds_real_speech():
    x = scene(0.5, tts("what is the weather like tomorrow"), 1.0)
    vad = VoiceActivity(3, 3, 600)
    events = [(i, r, vad.lag) for i, f in enumerate(frames_of(pcm16(x))) if (r := vad.update(f)) != NONE]
    assert [r for _, r, _ in events] == [START, END]
    start = (events[0][0] + 1 - events[0][2]) * 0.01
    end = (events[1][0] + 1 - events[1][2]) * 0.01
    speech_end = 0.5 + len(tts("what is the weather like tomorrow")) / 16000
    assert 0.45 <= start <= 0.6 and speech_end - 0.05 <= end <= speech_end + 0.2


def test_noise_filter_switches_off_and_on():
    f = frames_of(pcm16(scene(0.2, tts("hello"), 0.2)))[30]
    off = NoiseFilter(2, 0, enabled=False)
    assert off.process(f) is f
    on = NoiseFilter(2, 0)
    assert len(on.process(f)) == 320
    on.enabled = False
    assert on.process(f) is f
    assert NoiseFilter(0, 0).enabled is False  # nothing to do: costs nothing
    with pytest.raises(ValueError):
        NoiseFilter(5, 0)


def test_noise_filter_reduces_steady_noise():
    rng = np.random.default_rng(0)
    noise = pcm16(rng.standard_normal(16000 * 3).astype(np.float32) * 0.03)
    nf = NoiseFilter(4, 0)
    out = b"".join(nf.process(f) for f in frames_of(noise))
    rms_in = np.sqrt(np.mean(np.frombuffer(noise, "<i2")[16000:].astype(float) ** 2))
    rms_out = np.sqrt(np.mean(np.frombuffer(out, "<i2")[16000:].astype(float) ** 2))
    assert rms_out < rms_in / 3


def test_gate_keeps_only_the_last_preroll_and_hands_it_out_once():
    gate = Gate(preroll_ms=50)
    frames = [bytes([i]) * 320 for i in range(20)]
    for f in frames:
        gate.push(f)
    pre = gate.open("wake")
    assert pre == b"".join(frames[-5:]) and gate.is_open and gate.reason == "wake"
    assert gate.open("button") == b""  # already open
    gate.close()
    assert not gate.is_open and gate.open("wake") == b""  # nothing heard since


def test_gate_without_preroll():
    gate = Gate(preroll_ms=0)
    gate.push(b"\x01" * 320)
    assert gate.open("button") == b""


def steps(ep: Endpointer, script):
    """script: list of (voiced, transition); returns (frame index, reason) of the end."""
    for i, (voiced, transition) in enumerate(script):
        reason = ep.step(voiced, transition)
        if reason:
            return i, reason
    return None


def test_endpoint_on_silence_after_new_speech():
    ep = Endpointer(15.0, 5.0)
    ep.start(in_speech=False)
    script = [(0, NONE)] * 50 + [(1, START)] + [(1, NONE)] * 100 + [(0, NONE)] * 59 + [(0, END)]
    assert steps(ep, script) == (210, "silence")


def test_no_speech_timeout():
    ep = Endpointer(15.0, 2.0)
    ep.start(in_speech=False)
    assert steps(ep, [(0, NONE)] * 300) == (199, "no_speech")


def test_max_length():
    ep = Endpointer(3.0, 2.0)
    ep.start(in_speech=False)
    assert steps(ep, [(1, START)] + [(1, NONE)] * 400) == (299, "max_length")


def test_wake_word_speech_then_a_pause_waits_for_the_request():
    # "okay nabu ... what time is it": the wake word's own speech ends first; that is not the end.
    ep = Endpointer(15.0, 5.0)
    ep.start(in_speech=True)
    script = [(1, NONE)] * 5 + [(0, NONE)] * 55 + [(0, END)] + [(0, NONE)] * 40 + [(1, START)] + [(1, NONE)] * 80 + [(0, NONE)] * 59 + [(0, END)]
    assert steps(ep, script) == (len(script) - 1, "silence")


def test_wake_word_and_request_in_one_breath():
    ep = Endpointer(15.0, 5.0)
    ep.start(in_speech=True)
    script = [(1, NONE)] * (CARRY_FRAMES + 50) + [(0, NONE)] * 59 + [(0, END)]
    assert steps(ep, script) == (len(script) - 1, "silence")
    assert ep.heard_speech
