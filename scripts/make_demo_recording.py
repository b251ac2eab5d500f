#!/usr/bin/env python3
"""Make the bundled demo recording: "okay nabu" then a question, spoken by espeak-ng in a quiet room.

Run from the repository root: ``python scripts/make_demo_recording.py``. Writes
``edgevoice/data/demo/okay_nabu_weather.wav`` (16 kHz mono int16). Deterministic for a given
espeak-ng version: the room noise is seeded.
"""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import soxr

RATE = 16000
OUT = Path(__file__).resolve().parent.parent / "edgevoice" / "data" / "demo" / "okay_nabu_weather.wav"


def speak(text: str, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """espeak-ng's speech for ``text`` as float32 samples at 16 kHz."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], check=True, capture_output=True).stdout
    with wave.open(__import__("io").BytesIO(wav)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return soxr.resample(samples, rate, RATE).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f) noise with unit RMS, made by shaping white noise in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return noise / np.sqrt(np.mean(noise**2))


def main() -> int:
    rng = np.random.default_rng(20261121)
    silence = lambda seconds: np.zeros(int(seconds * RATE), dtype=np.float32)  # noqa: E731
    speech = np.concatenate([
        silence(1.0),
        speak("okay nabu"),
        silence(0.35),
        speak("what is the weather like today?"),
        silence(3.0),
    ])
    voiced = speech[np.abs(speech) > 0.01]
    speech_rms = float(np.sqrt(np.mean(voiced**2)))
    room = pink_noise(len(speech), rng) * speech_rms * 10 ** (-35 / 20)  # a quiet room: 35 dB SNR
    pcm = np.clip((speech + room) * 32767, -32768, 32767).astype("<i2")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(OUT), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    print(f"wrote {OUT} ({len(pcm) / RATE:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
