"""The WAV speaker (--output-wav): what would have played, on the input's clock."""

from __future__ import annotations

import numpy as np

from edgevoice.playback.sound import Sound, load_chime
from edgevoice.playback.wav_speaker import WavSpeaker
from playback_helpers import dominant_frequency, noise, tone

RATE = 16000


class Calls:
    def __init__(self) -> None:
        self.log: list[tuple[str, float]] = []
        self.speaker: WavSpeaker | None = None

    def start(self) -> None:
        self.log.append(("start", self.speaker.position_s))

    def finished(self) -> None:
        self.log.append(("finished", self.speaker.position_s))


def recorder(path, **kwargs) -> tuple[WavSpeaker, Calls]:
    calls = Calls()
    speaker = WavSpeaker(path, on_start=calls.start, on_finished=calls.finished, **kwargs)
    calls.speaker = speaker
    return speaker, calls


def read(path) -> np.ndarray:
    sound = Sound.from_wav(path)
    assert sound.rate == RATE
    return np.frombuffer(sound.pcm, dtype=np.int16)


def test_a_reply_lands_where_it_played_on_the_input_timeline(tmp_path):
    path = tmp_path / "out.wav"
    speaker, calls = recorder(path)
    x = noise(4800)  # 300 ms
    for t in np.arange(0.01, 0.51, 0.01):  # the input advancing in 10 ms chunks
        speaker.advance_to(t)
    speaker.play(x[:2400].tobytes(), RATE)
    speaker.play(x[2400:].tobytes(), RATE)
    speaker.finish()
    for t in np.arange(0.51, 2.001, 0.01):
        speaker.advance_to(t)
    speaker.close()

    out = read(path)
    assert len(out) == 2 * RATE  # the same length as the input
    assert not out[:8000].any()
    assert np.array_equal(out[8000:12800], x)  # starts exactly where the input was when it arrived
    assert not out[12800:].any()
    assert calls.log == [("start", 0.51), ("finished", 0.8)]
    assert speaker.played_ms == 300.0 and not speaker.playing


def test_a_reply_arriving_faster_than_real_time_plays_at_real_time(tmp_path):
    path = tmp_path / "out.wav"
    speaker, calls = recorder(path)
    x = noise(RATE)  # one second, all at once
    speaker.play(x.tobytes(), RATE)
    speaker.advance_to(0.25)
    assert speaker.played_ms == 250.0 and speaker.playing
    assert calls.log == [("start", 0.01)]
    # The user barges in: the output shows exactly where the reply was cut.
    assert speaker.stop() == 250.0
    speaker.advance_to(1.0)
    speaker.close()
    out = read(path)
    assert len(out) == RATE
    assert np.array_equal(out[:4000], x[:4000]) and not out[4000:].any()
    assert [name for name, _ in calls.log] == ["start"]


def test_close_plays_out_a_reply_that_outlasts_the_input(tmp_path):
    path = tmp_path / "out.wav"
    speaker, calls = recorder(path)
    speaker.advance_to(0.1)
    x = noise(3200)
    speaker.play(x.tobytes(), RATE)
    speaker.finish()
    speaker.advance_to(0.15)
    speaker.close()
    out = read(path)
    assert len(out) == 1600 + 3200 and np.array_equal(out[1600:], x)
    assert [name for name, _ in calls.log] == ["start", "finished"]


def test_rate_conversion_and_volume(tmp_path):
    path = tmp_path / "out.wav"
    speaker, _ = recorder(path, volume=0.5)
    x = tone(1000, 0.5, 24000, amplitude=16000)
    speaker.play(x.tobytes(), 24000)
    speaker.finish()
    speaker.advance_to(1.0)
    speaker.close()
    out = read(path)
    played = np.trim_zeros(out)
    assert abs(len(played) - 8000) <= 16
    assert abs(dominant_frequency(played, RATE) - 1000) < 3
    assert 7500 < np.abs(played).max() <= 8100  # half the amplitude


def test_a_chime_is_mixed_in_without_callbacks(tmp_path):
    path = tmp_path / "out.wav"
    speaker, calls = recorder(path)
    chime = load_chime("end")
    speaker.advance_to(0.2)
    speaker.play_sound(chime.pcm, chime.rate)
    speaker.advance_to(0.5)
    speaker.close()
    out = read(path)
    expected = np.frombuffer(chime.pcm, dtype=np.int16)
    assert np.array_equal(out[3200 : 3200 + len(expected)], expected)
    assert calls.log == []
