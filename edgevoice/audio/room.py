"""What the speaker played, on the capture clock, and a simulated room that hears it come back.

``PlayedHistory`` keeps the last seconds of everything the speaker rendered (replies, chimes,
cached phrases), resampled to the capture format (16 kHz mono) and placed at the capture
sample where it was played. It is the echo reference that Voice Live's client-reference echo
cancellation wants on channel 1, and what the simulated room plays back into the microphone.

``SimulatedRoom`` is a microphone in a room: the person (the input recording), the room's noise,
and the speaker's sound coming back through an echo path (a gain, a delay and a short
reverberant tail). ``edgevoice run --room-echo -12@40`` uses it so that a kiosk owner can try
their ``echo_coupling_db`` on a recording; the tests and the bench use it to check that the
device never answers itself.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edgevoice.audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from edgevoice.playback.convert import resample

#: How much of the echo path's energy arrives directly (the rest is the reverberant tail).
DIRECT_SHARE = 0.7


class PlayedHistory:
    """The speaker's output of the last ``seconds``, 16 kHz mono int16, indexed by capture sample."""

    def __init__(self, seconds: float = 10.0) -> None:
        self._cap = int(seconds * SAMPLE_RATE)
        self._ring = np.zeros(self._cap, dtype=np.int16)
        self.end = 0  #: the capture sample after the last one known
        self._lock = threading.Lock()  # a sound card's speaker renders on its own thread

    def add(self, samples: np.ndarray, rate: int, at: int) -> None:
        """``samples`` (int16 at ``rate``) were played starting at capture sample ``at`` (16 kHz)."""
        # Block by block, with no stream delay (the reference must stay on the capture clock).
        converted = resample(samples, rate, SAMPLE_RATE)
        with self._lock:
            start = self.end if abs(at - self.end) < FRAME_SAMPLES else at  # continuous, or a new stretch
            if start > self.end:
                self._write(self.end, np.zeros(min(start - self.end, self._cap), dtype=np.int16))
            self._write(start, converted)

    def _write(self, start: int, samples: np.ndarray) -> None:
        samples = samples[-self._cap :]
        n = len(samples)
        i = start % self._cap
        first = min(n, self._cap - i)
        self._ring[i : i + first] = samples[:first]
        self._ring[: n - first] = samples[first:]
        self.end = max(self.end, start + n)

    def span(self, start: int, n: int) -> np.ndarray:
        """The ``n`` samples played from capture sample ``start`` (silence where nothing is known)."""
        out = np.zeros(n, dtype=np.int16)
        with self._lock:
            self._read(start, out)
        return out

    def _read(self, start: int, out: np.ndarray) -> None:
        n = len(out)
        lo, hi = max(start, self.end - self._cap, 0), min(start + n, self.end)
        if hi > lo:
            idx = np.arange(lo, hi) % self._cap
            out[lo - start : hi - start] = self._ring[idx]


@dataclass(frozen=True)
class EchoPath:
    """How the speaker's sound comes back to the microphone: ``gain_db`` (energy, relative to what is
    played), after ``delay_ms``, with a reverberant tail that dies away (60 dB) over ``tail_ms``."""

    gain_db: float
    delay_ms: float = 40.0
    tail_ms: float = 150.0

    @classmethod
    def parse(cls, text: str) -> EchoPath:
        """``DB[@DELAY_MS]``, e.g. ``-12@40`` or ``-20``; ValueError with what is wrong otherwise."""
        m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*(?:@\s*(\d+(?:\.\d+)?)\s*)?", text)
        if not m:
            raise ValueError(f"{text!r} is not DB[@DELAY_MS], e.g. -12@40 (12 dB quieter, 40 ms later)")
        gain, delay = float(m.group(1)), float(m.group(2)) if m.group(2) else cls.delay_ms
        if not -80 <= gain <= 20:
            raise ValueError(f"echo gain {gain:g} dB is outside -80..20 dB")
        if not 0 <= delay <= 1000:
            raise ValueError(f"echo delay {delay:g} ms is outside 0..1000 ms")
        return cls(gain, delay)

    def impulse_response(self, seed: int = 0) -> np.ndarray:
        """The path's impulse response at 16 kHz: total energy ``gain_db``; a direct tap, then the tail."""
        delay = int(round(self.delay_ms * SAMPLE_RATE / 1000))
        tail = max(1, int(round(self.tail_ms * SAMPLE_RATE / 1000)))
        t = np.arange(1, tail + 1) / SAMPLE_RATE
        rng = np.random.default_rng(seed)
        reverb = rng.standard_normal(tail) * np.exp(-math.log(1000.0) * t / (self.tail_ms / 1000))
        energy = 10 ** (self.gain_db / 10)
        reverb *= math.sqrt(energy * (1 - DIRECT_SHARE) / float(np.dot(reverb, reverb)))
        h = np.zeros(delay + 1 + tail)
        h[delay] = math.sqrt(energy * DIRECT_SHARE)
        h[delay + 1 :] = reverb
        return h


class SimulatedRoom:
    """A microphone in a room: the person (each frame given), the room's noise and the speaker's echo."""

    def __init__(self, path: EchoPath, played: PlayedHistory, *, noise_dbfs: float | None = None,
                 seed: int = 0) -> None:
        self.path = path
        self.played = played
        self._h_reversed = path.impulse_response(seed)[::-1].astype(np.float32)
        self._noise = None if noise_dbfs is None else 10 ** (noise_dbfs / 20) * 32768
        self._rng = np.random.default_rng(seed + 1)

    def hear(self, frame: bytes, start: int) -> bytes:
        """The microphone's frame starting at capture sample ``start``: ``frame`` (the person) plus the
        echo of what the speaker played up to then, plus the room's noise."""
        n = len(frame) // 2
        taps = len(self._h_reversed)
        played = self.played.span(start - taps + 1, n + taps - 1).astype(np.float32)
        echo = sliding_window_view(played, taps) @ self._h_reversed
        x = np.frombuffer(frame, "<i2").astype(np.float32) + echo
        if self._noise is not None:
            x += self._rng.standard_normal(n).astype(np.float32) * self._noise
        return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
