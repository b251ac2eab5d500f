"""Frames, resampling and WAV input: any WAV becomes 10 ms frames of 16 kHz mono int16."""

from __future__ import annotations

import struct
import threading
import time

import numpy as np
import pytest

from edgevoice.audio.frames import FRAME_BYTES, Framer
from edgevoice.audio.resample import Resampler
from edgevoice.audio.wav import WavError, WavSource, read_wav_16k

from listening_helpers import best_correlation, pcm16, scene, tts, write_wav


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(pcm: bytes, rate: int = 16000) -> float:
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def test_framer_cuts_any_chunking_into_whole_frames():
    data = bytes(range(256)) * 10  # 2560 bytes = 8 frames
    framer = Framer()
    out = []
    for size in (1, 7, 320, 333, 1000, 899):
        chunk, data = data[:size], data[size:]
        out += framer.push(chunk)
    assert all(len(f) == FRAME_BYTES for f in out)
    assert b"".join(out) == (bytes(range(256)) * 10)[: len(out) * FRAME_BYTES]
    assert len(out) == 8 and framer.flush() is None


def test_framer_flush_pads_the_last_partial_frame():
    framer = Framer()
    assert framer.push(b"\x01\x02" * 10) == []
    tail = framer.flush()
    assert tail == b"\x01\x02" * 10 + bytes(300)


@pytest.mark.parametrize("rate", [48000, 44100, 22050, 8000])
def test_resampler_keeps_pitch_and_duration(rate):
    r = Resampler(rate)
    src = pcm16(tone(1000, 1.0, rate))
    out = b"".join(r.process(src[i : i + 1920]) for i in range(0, len(src), 1920)) + r.process(b"", last=True)
    assert abs(len(out) / 2 - 16000) <= 16
    assert abs(dominant_frequency(out) - 1000) < 5


def test_resampler_downmixes_stereo_and_passes_16k_mono_through():
    left = tone(500, 0.5, 16000)
    stereo = np.stack([left, left], axis=1).reshape(-1)
    assert Resampler(16000, channels=2).process(pcm16(stereo)) == pcm16(left)
    mono = pcm16(left)
    r = Resampler(16000)
    assert r.passthrough and r.process(mono) == mono


def _raw_wav(path, fmt_tag, channels, rate, bits, data, extensible=False):
    """A WAV written by hand, for encodings the wave module cannot write."""
    block = channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHHHHI16s", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 0,
                          struct.pack("<H", fmt_tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 4) + b"INFO"
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.fixture(scope="module")
def speech16k():
    return scene(0.2, tts("okay nabu, what time is it"), 0.3)


def _reference(speech16k):
    return np.frombuffer(pcm16(speech16k), "<i2")


@pytest.mark.parametrize(
    "kind", ["pcm16_16k", "pcm16_48k_stereo", "pcm8_22k", "pcm24_44k", "float32_16k", "extensible16_48k"]
)
def test_wav_source_reads_every_common_encoding(tmp_path, speech16k, kind):
    import soxr

    x = speech16k
    if kind == "pcm16_16k":
        path = write_wav(tmp_path / "a.wav", pcm16(x))
    elif kind == "pcm16_48k_stereo":
        y = soxr.resample(x, 16000, 48000)
        path = write_wav(tmp_path / "a.wav", pcm16(np.stack([y, y], 1).reshape(-1)), rate=48000, channels=2)
    elif kind == "pcm8_22k":
        y = soxr.resample(x, 16000, 22050)
        path = write_wav(tmp_path / "a.wav", (np.clip(y * 127, -128, 127) + 128).astype(np.uint8).tobytes(), rate=22050, width=1)
    elif kind == "pcm24_44k":
        y = np.clip(np.round(soxr.resample(x, 16000, 44100) * 8388607), -8388608, 8388607).astype("<i4")
        path = write_wav(tmp_path / "a.wav", y.view(np.uint8).reshape(-1, 4)[:, :3].tobytes(), rate=44100, width=3)
    elif kind == "float32_16k":
        path = _raw_wav(tmp_path / "a.wav", 3, 1, 16000, 32, x.astype("<f4").tobytes())
    else:
        y = soxr.resample(x, 16000, 48000)
        path = _raw_wav(tmp_path / "a.wav", 1, 1, 48000, 16, pcm16(y), extensible=True)
    frames = list(WavSource(path).frames())
    assert frames and all(len(f) == FRAME_BYTES for f in frames)
    got = np.frombuffer(b"".join(frames), "<i2")
    ref = _reference(speech16k)
    assert abs(len(got) - len(ref)) <= 160
    corr, lag = best_correlation(ref, got, max_lag=80)
    assert corr > (0.9 if kind == "pcm8_22k" else 0.99), (corr, lag)


def test_wav_source_reports_status_and_duration(tmp_path, speech16k):
    path = write_wav(tmp_path / "a.wav", pcm16(speech16k))
    seen = []
    src = WavSource(path, on_status=seen.append)
    assert src.duration_s == pytest.approx(len(speech16k) / 16000)
    n = sum(1 for _ in src.frames())
    assert n == -(-len(speech16k) // 160)
    assert [s.state for s in seen] == ["listening", "finished"]


def test_read_wav_16k_is_the_whole_file(tmp_path, speech16k):
    path = write_wav(tmp_path / "a.wav", pcm16(speech16k))
    assert read_wav_16k(path)[: len(pcm16(speech16k))] == pcm16(speech16k)


def test_realtime_pacing_takes_at_least_the_audio_duration_and_close_stops_it(tmp_path):
    path = write_wav(tmp_path / "a.wav", bytes(320 * 30))  # 0.3 s
    src = WavSource(path, realtime=True)
    start = time.monotonic()
    assert len(list(src.frames())) == 30
    assert time.monotonic() - start >= 0.29  # paced like a microphone (a lower bound cannot flake)

    long = WavSource(write_wav(tmp_path / "b.wav", bytes(320 * 6000)), realtime=True)  # 60 s
    got = []
    timer = threading.Timer(0.2, long.close)
    timer.start()
    got = list(long.frames())
    assert 0 < len(got) < 6000
    assert long.status.state == "closed"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "not a WAV"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "no audio data"),
        (b"hello world, definitely not audio", "not a WAV"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path, content, words):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(WavError, match=words):
        WavSource(path)


def test_missing_file_and_unsupported_encoding(tmp_path):
    with pytest.raises(WavError, match="cannot read"):
        WavSource(tmp_path / "nope.wav")
    path = _raw_wav(tmp_path / "alaw.wav", 6, 1, 8000, 8, bytes(800))
    with pytest.raises(WavError, match="unsupported WAV encoding"):
        WavSource(path)
