"""The jitter buffer, the reply clock and the sample conversions behind every speaker."""

from __future__ import annotations

import numpy as np
import pytest

from edgevoice.playback.buffer import PlaybackBuffer
from edgevoice.playback.clock import ReplyClock
from edgevoice.audio.resample import Resampler
from edgevoice.playback.convert import (
    apply_volume,
    mix,
    resample,
    samples_from_pcm,
    to_channels,
    whole_samples,
)
from playback_helpers import dominant_frequency, noise, tone

RATE = 16000


def render_all(buffer: PlaybackBuffer, frames: int, blocks: int):
    return [buffer.render(frames) for _ in range(blocks)]


def test_jitter_hold_then_play_then_finish():
    b = PlaybackBuffer(RATE, jitter_ms=60)  # 960 frames
    x = noise(1600)
    b.push(x[:800])
    assert not b.ready
    first = b.render(320)
    assert first.reply_frames == 0 and not first.samples.any()  # still holding
    b.push(x[800:])
    assert b.ready
    blocks = render_all(b, 320, 5)
    assert np.array_equal(np.concatenate([k.samples for k in blocks]), x)
    assert [k.reply_frames for k in blocks] == [320] * 5
    assert not any(k.finished for k in blocks)
    b.finish()
    end = b.render(320)
    assert end.finished and end.reply_frames == 0 and not b.busy
    assert b.rendered_frames() == 1600


def test_finish_plays_out_a_reply_shorter_than_the_jitter_hold():
    b = PlaybackBuffer(RATE, jitter_ms=60)
    x = noise(100)
    b.push(x)
    b.finish()
    block = b.render(320)
    assert block.finished and block.reply_frames == 100
    assert np.array_equal(block.samples[:100], x) and not block.samples[100:].any()


def test_an_empty_reply_finishes_at_once():
    b = PlaybackBuffer(RATE)
    reply = b.finish()
    block = b.render(160)
    assert block.finished and block.reply_id == reply and block.reply_frames == 0


def test_underrun_fills_with_silence_and_holds_until_refilled():
    b = PlaybackBuffer(RATE, jitter_ms=20)  # 320 frames
    b.push(noise(400))
    assert b.render(320).reply_frames == 320
    short = b.render(320)
    assert short.reply_frames == 80 and not short.samples[80:].any()
    b.push(noise(200, seed=2))
    assert not b.ready and b.render(320).reply_frames == 0  # 200 < 320: hold on
    b.push(noise(200, seed=3))
    assert b.ready and b.render(320).reply_frames == 320


def test_stop_drops_the_rest_and_says_how_much_was_rendered():
    b = PlaybackBuffer(RATE, jitter_ms=0)
    b.push(noise(1000))
    b.render(300)
    assert b.stop() == 300
    assert not b.busy and b.render(300).reply_frames == 0
    new = b.push(noise(10))
    assert new == 2 and b.rendered_frames() == 0


def test_sounds_mix_over_the_reply_and_clip():
    b = PlaybackBuffer(RATE, jitter_ms=0)
    b.push(np.full(100, 30000, dtype=np.int16))
    b.push_sound(np.full(50, 10000, dtype=np.int16))
    block = b.render(100)
    assert (block.samples[:50] == 32767).all() and (block.samples[50:] == 30000).all()
    b.push_sound(np.full(10, 5, dtype=np.int16))
    assert b.busy and b.ready
    assert b.render(20).samples.tolist() == [5] * 10 + [0] * 10


def test_volume_applies_to_what_is_rendered_now():
    b = PlaybackBuffer(RATE, jitter_ms=0, volume=0.5)
    b.push(np.full(20, 1000, dtype=np.int16))
    assert (b.render(10).samples == 500).all()
    b.volume = 1.0
    assert (b.render(10).samples == 1000).all()


def test_the_reply_clock_counts_only_what_was_played():
    b = PlaybackBuffer(RATE, jitter_ms=0)
    clock = ReplyClock()
    b.push(noise(500))
    b.finish()
    position = 0
    for _ in range(3):
        clock.wrote(b.render(200), position)
        position += 200
    due = clock.advance(100)
    assert due.started and not due.finished and clock.played == 100 and clock.pending
    due = clock.advance(450)
    assert not due.started and not due.finished and clock.played == 450
    due = clock.advance(600)
    assert due.finished and clock.played == 500 and not clock.pending


def test_the_reply_clock_is_silent_after_a_stop():
    b = PlaybackBuffer(RATE, jitter_ms=0)
    clock = ReplyClock()
    b.push(noise(1000))
    clock.wrote(b.render(400), 0)
    clock.stop(b.reply_id, b.stop())
    clock.wrote(b.render(400), 400)
    due = clock.advance(800)
    assert not due.started and not due.finished and clock.played == 400


def test_samples_from_pcm():
    assert samples_from_pcm(np.array([1, -2], dtype="<i2").tobytes()).tolist() == [1, -2]
    with pytest.raises(ValueError, match="whole 16-bit samples"):
        samples_from_pcm(b"\x00\x01\x02")


def test_apply_volume_is_exact_fixed_point():
    x = noise(1000)
    assert apply_volume(x, 1.0) is x
    assert not apply_volume(x, 0.0).any()
    half = apply_volume(x, 0.5)
    assert np.array_equal(half, x >> 1)
    assert apply_volume(np.array([32767, -32768], dtype=np.int16), 0.999).tolist() == [32734, -32735]


def test_mix_and_channels():
    assert mix(np.array([32000, -32000], np.int16), np.array([1000, -1000], np.int16)).tolist() == [32767, -32768]
    assert to_channels(np.array([1, 2], np.int16), 2).tolist() == [1, 1, 2, 2]


@pytest.mark.parametrize(("in_rate", "out_rate"), [(24000, 16000), (16000, 48000), (16000, 16000)])
def test_streaming_rate_conversion_keeps_pitch_and_length(in_rate, out_rate):
    x = tone(440, 1.0, in_rate)
    converter = Resampler(in_rate, 1, out_rate=out_rate)
    pieces = [converter.convert(x[i : i + in_rate // 50]) for i in range(0, len(x), in_rate // 50)]
    out = np.concatenate([*pieces, converter.flush()])
    assert out.dtype == np.int16
    assert abs(len(out) - out_rate) <= 2
    assert abs(dominant_frequency(out, out_rate) - 440) < 2
    whole = resample(x, in_rate, out_rate)
    assert abs(len(whole) - len(out)) <= 2


def test_whole_samples_drops_only_a_trailing_half_sample():
    assert whole_samples(b"\x01\x02\x03") == b"\x01\x02"
    assert whole_samples(b"\x01") == b""
    even = b"\x01\x02\x03\x04"
    assert whole_samples(even) is even  # nothing to cut: no copy
    samples_from_pcm(whole_samples(b"\x00" * 321))  # what the speaker takes
