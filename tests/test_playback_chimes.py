"""The bundled chimes: short, soft, two-tone, click-free, and reproducible from their script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgevoice.playback.sound import CHIMES, Sound, load_chime
from playback_helpers import dominant_frequency

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("name", "first", "second"), [("wake", 880, 1318.5), ("end", 1318.5, 880)])
def test_chime_is_a_short_soft_two_tone(name, first, second):
    chime = load_chime(name)
    assert chime.rate == 16000
    assert 50 <= chime.duration_ms <= 200
    x = np.frombuffer(chime.pcm, dtype=np.int16)
    peak_dbfs = 20 * np.log10(np.abs(x).max() / 32768)
    assert -14 < peak_dbfs < -10
    assert abs(int(x[0])) < 50 and x[-1] == 0  # fades in and out: no click
    half = len(x) // 2
    assert abs(dominant_frequency(x[:half], 16000) - first) < 40
    assert abs(dominant_frequency(x[half:], 16000) - second) < 40


def test_unknown_chime_names_the_ones_there_are():
    with pytest.raises(ValueError, match="no chime named 'ding'; there are: wake, end"):
        load_chime("ding")


def test_the_script_reproduces_the_committed_chimes(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_chimes.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in CHIMES:
        committed = ROOT / "edgevoice" / "data" / "chimes" / f"{name}.wav"
        assert (tmp_path / f"{name}.wav").read_bytes() == committed.read_bytes()


def test_sound_wav_round_trip_and_bad_files(tmp_path):
    sound = Sound(np.arange(100, dtype="<i2").tobytes(), 22050)
    sound.to_wav(tmp_path / "a.wav")
    assert Sound.from_wav(tmp_path / "a.wav") == sound
    assert Sound.from_wav((tmp_path / "a.wav").read_bytes()) == sound
    (tmp_path / "bad.wav").write_bytes(b"RIFF....not a wav")
    with pytest.raises(ValueError, match="not a readable WAV file"):
        Sound.from_wav(tmp_path / "bad.wav")
    import wave

    with wave.open(str(tmp_path / "stereo.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00" * 40)
    with pytest.raises(ValueError, match="expected mono 16-bit PCM, got 2 channel"):
        Sound.from_wav(tmp_path / "stereo.wav")
