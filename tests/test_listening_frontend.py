"""The whole front-end on real speech: wake word, pre-roll, utterance, endpoint, mute, buttons."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from edgevoice.config.listening import ListeningConfig, NoiseConfig, VadConfig
from edgevoice.listening import frontend_events as ev
from edgevoice.listening.frontend import ListeningFrontend
from edgevoice.listening.noise import NoiseFilter

from listening_helpers import frames_of, pcm16, scene, tts

WAKE = tts("okay nabu")
COMMAND = tts("what time is it in tokyo")


def make(**vad) -> ListeningFrontend:
    config = ListeningConfig()
    if vad:
        config = dataclasses.replace(config, vad=dataclasses.replace(config.vad, **vad))
    return ListeningFrontend.from_config(config)


class Daemonish:
    """Drives a front-end the way the daemon does: open the gate on the wake word, collect the utterance."""

    def __init__(self, frontend: ListeningFrontend) -> None:
        self.frontend = frontend
        self.events: list = []
        self.sent = bytearray()
        self.opened_at: float | None = None

    def feed(self, pcm: bytes) -> None:
        for frame in frames_of(pcm):
            for e in self.frontend.process(frame):
                self.events.append(e)
                if isinstance(e, ev.WakeWordDetected) and self.opened_at is None:
                    self.sent += self.frontend.open_gate("wake")  # nothing: held until the words start
                    self.opened_at = e.t
                elif isinstance(e, ev.UtteranceAudio):
                    self.sent += e.pcm

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events if not isinstance(e, ev.UtteranceAudio)]

    def first(self, kind):
        return next(e for e in self.events if isinstance(e, kind))


def test_a_full_turn_hands_over_exactly_the_words_after_the_gate():
    x = scene(0.5, WAKE, 0.15, COMMAND, 1.5)
    pcm = pcm16(x)
    d = Daemonish(make())
    d.feed(pcm)
    wake = d.first(ev.WakeWordDetected)
    end = d.first(ev.UtteranceEnded)
    assert d.kinds() == ["LocalSpeechStarted", "WakeWordDetected", "SpeechEnded", "UtteranceEnded"]
    assert wake.name == "okay_nabu" and wake.probability > 0.85
    wake_end, command_start = 0.5 + len(WAKE) / 16000, 0.65 + len(WAKE) / 16000
    command_end = command_start + len(COMMAND) / 16000
    assert wake_end <= wake.t <= wake_end + 0.5
    assert end.reason == "silence" and end.t == pytest.approx(d.first(ev.SpeechEnded).t + 0.6, abs=0.011)
    assert abs(d.first(ev.SpeechEnded).t - command_end) < 0.2
    # What was sent is the raw microphone audio up to the endpoint. Said in one breath (a pause shorter
    # than the hold's quiet stretch), it starts with the whole pre-roll, 300 ms before the gate opened
    # on the wake word: the first syllable after the wake word is included.
    start = round((end.t - len(d.sent) / 32000) * 16000) * 2
    assert bytes(d.sent) == pcm[start : start + len(d.sent)]
    assert start / 32000 == pytest.approx(wake.t - 0.3)
    assert start / 32000 < command_start
    # Nothing before the person's words had started (the hold releases them together).
    first_audio = next(e for e in d.events if isinstance(e, ev.UtteranceAudio))
    assert first_audio.t > command_start


@pytest.mark.parametrize("pause", [0.3, 0.4, 0.55, 1.1, 2.5])
def test_after_a_pause_only_the_words_after_the_wake_word_are_sent(pause):
    # The wake word's tail never goes out: what is sent starts in the quiet after it, at most the
    # pre-roll (300 ms) before the words, and holds the whole question.
    pcm = pcm16(scene(0.5, WAKE, pause, COMMAND, 1.5))
    d = Daemonish(make())
    d.feed(pcm)
    end = d.first(ev.UtteranceEnded)
    wake_end = 0.5 + len(WAKE) / 16000
    command_start = wake_end + pause
    assert end.reason == "silence" and end.t > command_start + len(COMMAND) / 16000
    start = end.t - len(d.sent) / 32000
    i = round(start * 16000) * 2
    assert bytes(d.sent) == pcm[i : i + len(d.sent)]
    assert start > wake_end + 0.05, "the end of the wake word was sent"
    assert command_start - 0.3 - 0.011 <= start < command_start - 0.1  # the first syllable is kept


def test_a_wake_word_alone_sends_nothing():
    d = Daemonish(make(no_speech_timeout_s=2.0))
    d.feed(pcm16(scene(0.5, WAKE, 3.0)))
    assert d.first(ev.UtteranceEnded).reason == "no_speech"
    assert not d.sent and not d.frontend.holding


def test_a_gate_opened_without_a_wake_word_sends_its_pre_roll_at_once():
    # Follow-up and barge-in open the gate on speech already heard: nothing is held back.
    fe = make()
    pcm = pcm16(scene(0.5, COMMAND, 1.0))
    out = bytearray()
    for i, frame in enumerate(frames_of(pcm)):
        events = fe.process(frame)
        if any(isinstance(e, ev.LocalSpeechStarted) for e in events):
            pre = fe.open_gate("wake")
            assert len(pre) == 300 * 32 and not fe.holding
            out += pre
        out += b"".join(e.pcm for e in events if isinstance(e, ev.UtteranceAudio))
    assert len(out) > 0.3 * 32000


def test_a_pause_after_the_wake_word_does_not_end_the_utterance():
    x = scene(0.5, WAKE, 1.2, COMMAND, 1.5)
    d = Daemonish(make())
    d.feed(pcm16(x))
    end = d.first(ev.UtteranceEnded)
    command_end = 0.5 + len(WAKE) / 16000 + 1.2 + len(COMMAND) / 16000
    assert end.reason == "silence" and end.t > command_end  # the wake word's own end was not the endpoint
    assert d.kinds().count("SpeechEnded") == 2


def test_nobody_speaks_after_the_wake_word():
    d = Daemonish(make(no_speech_timeout_s=2.0))
    d.feed(pcm16(scene(0.5, WAKE, 4.0)))
    end = d.first(ev.UtteranceEnded)
    assert end.reason == "no_speech"
    assert end.t == pytest.approx(d.first(ev.WakeWordDetected).t + 2.0, abs=0.011)


def test_an_utterance_that_goes_on_is_cut_at_max_length():
    talk = tts("and then we walked along the river and talked about the weather and the garden and the trains for a long time")
    d = Daemonish(make(max_utterance_s=2.0, no_speech_timeout_s=1.0))
    d.feed(pcm16(scene(0.5, WAKE, 0.1, talk, 1.0)))
    end = d.first(ev.UtteranceEnded)
    assert end.reason == "max_length"
    assert end.t == pytest.approx(d.first(ev.WakeWordDetected).t + 2.0, abs=0.011)
    assert len(d.sent) == pytest.approx((0.3 + 2.0) * 32000, abs=640)


def test_the_same_recording_gives_the_same_events():
    pcm = pcm16(scene(0.5, WAKE, 0.2, COMMAND, 1.0))
    a, b = Daemonish(make()), Daemonish(make())
    a.feed(pcm)
    b.feed(pcm)
    assert a.events == b.events and a.sent == b.sent


def test_send_processed_sends_the_cleaned_audio():
    config = dataclasses.replace(ListeningConfig(), noise=NoiseConfig(suppression=4, send_processed=True))
    pcm = pcm16(scene(0.5, WAKE, 0.2, COMMAND, 1.0))
    d = Daemonish(ListeningFrontend.from_config(config))
    d.feed(pcm)
    start = round(d.opened_at * 16000) * 2
    assert d.sent and bytes(d.sent) != pcm[start : start + len(d.sent)]


class CountingNoise(NoiseFilter):
    calls = 0

    def process(self, frame):
        CountingNoise.calls += 1
        return super().process(frame)


def test_muted_means_nothing_is_processed_and_the_gate_stays_shut():
    base = make()
    fe = ListeningFrontend(noise=CountingNoise(2, 0), vad=base.vad, wake=base.wake, gate=base.gate,
                           endpointer=base.endpointer)
    silence = frames_of(pcm16(scene(0.5)))
    wake_word = frames_of(pcm16(scene(0.3, WAKE, 0.8)))
    fe.process(silence[0])
    fe.set_muted(True)
    events = fe.process(silence[1])
    assert events == [ev.Muted(0.01)]
    before = CountingNoise.calls
    assert fe.open_gate("button") == b"" and not fe.gate_open
    fe.press_button()
    heard = [e for f in wake_word for e in fe.process(f)]
    assert heard == [] and CountingNoise.calls == before  # no noise/VAD/wake work at all
    fe.set_muted(False)
    heard = [e for f in wake_word for e in fe.process(f)]
    assert type(heard[0]) is ev.Unmuted
    assert any(isinstance(e, ev.WakeWordDetected) for e in heard)  # listening again
    assert fe.t == pytest.approx(0.02 + 2 * len(wake_word) * 0.01)  # stream time ran on while muted


def test_mute_while_the_gate_is_open_closes_it_and_forgets_the_preroll():
    fe = make()
    for f in frames_of(pcm16(scene(0.5, COMMAND))):
        fe.process(f)
    assert fe.open_gate("button")
    fe.set_muted(True)
    fe.process(bytes(320))
    assert not fe.gate_open
    fe.set_muted(False)
    fe.process(frames_of(pcm16(scene(0.05)))[0])
    assert len(fe.open_gate("button")) == 320  # only what was heard after unmuting


def test_button_events_arrive_in_stream_order_from_another_thread():
    fe = make()
    frame = frames_of(pcm16(scene(0.1)))[0]
    fe.process(frame)
    t = threading.Thread(target=lambda: (fe.press_button(), fe.release_button()))
    t.start()
    t.join()
    assert fe.process(frame) == [ev.ButtonPressed(0.01), ev.ButtonReleased(0.01)]
    assert fe.process(frame) == []


def test_frames_must_be_10_ms():
    with pytest.raises(ValueError, match="320 bytes"):
        make().process(bytes(640))


def test_no_wake_word_configured_is_push_to_talk_only():
    config = dataclasses.replace(ListeningConfig(), wake=dataclasses.replace(ListeningConfig().wake, words=()))
    fe = ListeningFrontend.from_config(config)
    assert fe.wake is None
    events = [e for f in frames_of(pcm16(scene(0.5, WAKE, 1.0))) for e in fe.process(f)]
    assert not any(isinstance(e, ev.WakeWordDetected) for e in events)
    assert any(isinstance(e, ev.LocalSpeechStarted) for e in events)


def test_vad_events_come_even_with_the_gate_shut():
    # barge-in by voice needs to know someone speaks while the reply plays (gate closed)
    fe = make()
    events = [e for f in frames_of(pcm16(scene(0.5, COMMAND, 1.0))) for e in fe.process(f)]
    assert [type(e) for e in events] == [ev.LocalSpeechStarted, ev.SpeechEnded]
    assert events[0].t == pytest.approx(0.5, abs=0.06)


def test_vad_config_reaches_the_parts():
    fe = ListeningFrontend.from_config(dataclasses.replace(ListeningConfig(), vad=VadConfig(aggressiveness=1, silence_ms=300, preroll_ms=500)))
    assert fe.vad.aggressiveness == 1 and fe.vad.silence_frames == 30 and fe.gate.preroll_frames == 50
    assert np.isclose(fe.t, 0.0)


def test_sound_no_louder_than_the_devices_own_echo_is_not_speech():
    # A chime, a cached phrase or a reply coming back: the front-end is told how loud its echo can be,
    # and what is no louder never starts (or keeps going) an utterance; louder speech still does.
    from edgevoice.listening.echo import power_of

    speech = pcm16(scene(0.3, COMMAND, 0.8))
    loudest = max(power_of(f) for f in frames_of(speech))
    masked, heard = make(), make()
    kept = 0
    for frame in frames_of(speech):
        assert not any(isinstance(e, ev.LocalSpeechStarted) for e in masked.process(frame, echo_floor=loudest))
        assert not masked.vad.voiced
        kept += masked.vad.heard  # webrtcvad's own verdict is kept, for the echo guard
    assert kept > 30
    assert any(isinstance(e, ev.LocalSpeechStarted) for f in frames_of(speech) for e in heard.process(f, echo_floor=loudest / 1000))


def test_the_wake_word_over_the_devices_sound_counts_only_above_its_echo():
    from edgevoice.listening.echo import EchoGuard

    guard = EchoGuard(coupling_db=-12.0, margin_db=6.0)
    for _ in range(100):  # the reply's echo: voiced, at the level the coupling predicts
        guard.update(mic_power=0.01 * 10 ** (-1.2), voiced=True, played_power=0.01)
    assert not guard.wake_over_echo()
    for _ in range(30):  # someone saying the wake word over it, 10 dB louder than the echo
        guard.update(mic_power=0.01 * 10 ** (-0.2), voiced=True, played_power=0.01)
    assert guard.wake_over_echo()


def test_the_assistants_own_mute_drops_frames_without_a_mute_event_and_buttons_still_come_through():
    """`edgevoice mute`: the machine is muted, so the front-end hears nothing; the switch's events stay the switch's."""
    fe = make()
    wake_word = frames_of(pcm16(scene(0.3, WAKE, 0.8)))
    fe.set_listening(False)
    fe.press_button()
    heard = [e for f in wake_word for e in fe.process(f)]
    assert [type(e) for e in heard] == [ev.ButtonPressed], "no Muted event, no wake word, the button still heard"
    assert fe.open_gate("button") == b"" and not fe.gate_open
    fe.set_muted(True)  # the switch goes on meanwhile: its event comes as always
    assert [type(e) for e in fe.process(wake_word[0])] == [ev.Muted]
    fe.set_muted(False)
    fe.set_listening(True)
    heard = [e for f in wake_word for e in fe.process(f)]
    assert type(heard[0]) is ev.Unmuted and any(isinstance(e, ev.WakeWordDetected) for e in heard)
