#!/usr/bin/env python3
"""Make the wake and end chimes: two soft bell-like tones a fifth apart, rising or falling.

Run from the repository root: ``python scripts/make_chimes.py [--out DIR]``. Writes
``edgevoice/data/chimes/wake.wav`` (A5 then E6: "I'm listening") and ``end.wav`` (E6 then A5:
"got it"), 16 kHz mono int16, about 0.1 s each, peaking at -12 dBFS. Deterministic.
"""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import numpy as np

RATE = 16000
OUT = Path(__file__).resolve().parent.parent / "edgevoice" / "data" / "chimes"
A5, E6 = 880.0, 1318.51
NOTE_S = 0.06  # each tone
OVERLAP_S = 0.012  # the second tone starts before the first has faded
ATTACK_S = 0.004  # raised-cosine fade-in: no click
PEAK = 10 ** (-12 / 20)  # -12 dBFS: audible over a room, not startling


def tone(freq: float) -> np.ndarray:
    """One bell-like note: a sine with a soft octave, quick attack, smooth decay to silence."""
    t = np.arange(int(NOTE_S * RATE)) / RATE
    wave_ = np.sin(2 * np.pi * freq * t) + 0.2 * np.sin(2 * np.pi * 2 * freq * t)
    envelope = np.exp(-t / (NOTE_S / 4))
    attack = int(ATTACK_S * RATE)
    envelope[:attack] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
    release = int(0.3 * len(t))  # raised-cosine fade-out over the last 30%: ends at exactly 0
    envelope[-release:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, release + 1) / release)
    return wave_ * envelope


def chime(first: float, second: float) -> np.ndarray:
    a, b = tone(first), tone(second)
    start = len(a) - int(OVERLAP_S * RATE)
    out = np.zeros(start + len(b))
    out[: len(a)] += a
    out[start:] += b
    return np.round(out / np.max(np.abs(out)) * PEAK * 32767).astype("<i2")


def write(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder to write to (default {OUT})")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, notes in (("wake", (A5, E6)), ("end", (E6, A5))):
        path = out / f"{name}.wav"
        samples = chime(*notes)
        write(path, samples)
        print(f"{path}: {len(samples) / RATE * 1000:.0f} ms")


if __name__ == "__main__":
    main()
