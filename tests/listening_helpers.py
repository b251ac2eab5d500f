"""Shared pieces for the audio and listening tests: real espeak-ng speech, the corpus, ALSA homes."""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import soxr

from edgevoice.audio.frames import FRAME_BYTES

ROOT = Path(__file__).resolve().parent.parent
CORPUS_ROOT = ROOT / "tests" / ".corpus"
PYTHON = sys.executable


@functools.cache
def tts(text: str, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """espeak-ng speech at 16 kHz as float32 (-1..1), leading/trailing silence trimmed."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
    y = soxr.resample(x, rate, 16000).astype(np.float32)
    idx = np.flatnonzero(np.abs(y) > 1e-3)
    y = y[idx[0] : idx[-1] + 1]
    y.setflags(write=False)
    return y


def floor(seconds: float, dbfs: float = -70.0, seed: int = 0) -> np.ndarray:
    """A microphone's self-noise: white noise at ``dbfs`` RMS (real microphones are never digitally silent)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * 16000)) * 10 ** (dbfs / 20)).astype(np.float32)


def scene(*parts: np.ndarray | float, level_dbfs: float = -26.0, floor_dbfs: float = -70.0, seed: int = 0) -> np.ndarray:
    """Speech pieces and pauses (floats = seconds of room noise) in a row, speech at ``level_dbfs`` RMS."""
    pieces = []
    for p in parts:
        if isinstance(p, int | float):
            pieces.append(np.zeros(int(p * 16000), np.float32))
        else:
            rms = float(np.sqrt(np.mean(p.astype(np.float64) ** 2)))
            pieces.append(p * (10 ** (level_dbfs / 20) / rms))
    x = np.concatenate(pieces)
    return x + floor(len(x) / 16000, floor_dbfs, seed)


def pcm16(x: np.ndarray) -> bytes:
    """float -1..1 to int16 little-endian bytes."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2").tobytes()


def frames_of(pcm: bytes) -> list[bytes]:
    """Whole 10 ms frames (a partial last frame is padded with zeros)."""
    if len(pcm) % FRAME_BYTES:
        pcm = pcm + bytes(FRAME_BYTES - len(pcm) % FRAME_BYTES)
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def write_wav(path: Path, pcm: bytes, rate: int = 16000, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 400) -> tuple[float, int]:
    """Highest normalized correlation of ``a`` against ``b`` over lags 0..max_lag (b delayed), and that lag."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    best = (-1.0, 0)
    n = min(len(a), len(b)) - max_lag
    for lag in range(max_lag + 1):
        x, y = a[:n], b[lag : lag + n]
        c = float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12))
        if c > best[0]:
            best = (c, lag)
    return best


# -- the generated corpus -----------------------------------------------------------------------


def _make_corpus_module():
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "scripts" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def corpus_dir() -> Path:
    """The accuracy corpus, generated on first use and cached under tests/.corpus/<content hash>/."""
    return _make_corpus_module().ensure_corpus(CORPUS_ROOT)


def corpus_manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


# -- PyAudio through ALSA's file plugin ---------------------------------------------------------


def alsa_home(home: Path, infile: Path, outfile: Path | None = None) -> Path:
    """A HOME whose ~/.asoundrc makes ALSA's "default" device capture from ``infile`` (raw s16le)."""
    home.mkdir(parents=True, exist_ok=True)
    out = outfile or (home / "playback.raw")
    (home / ".asoundrc").write_text(
        "pcm.!default {\n"
        "  type asym\n"
        f'  playback.pcm {{ type file; slave.pcm "null"; file "{out}"; format "raw" }}\n'
        f'  capture.pcm  {{ type file; slave.pcm "null"; file "/dev/null"; infile "{infile}"; format "raw" }}\n'
        "}\n"
    )
    return home


def run_with_home(home: Path, code: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a fresh interpreter with HOME=home (ALSA reads ~/.asoundrc at load time)."""
    env = dict(os.environ, HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run([PYTHON, "-c", code, *args], env=env, capture_output=True, text=True, timeout=timeout)

