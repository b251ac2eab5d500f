"""Local speech synthesis: real speech from espeak-ng when it is installed, else an obviously synthetic chirp.

Rendered phrases are cached in memory (least recently used first out), so a test that hears the
same reply many times pays for synthesis once; the cache is bounded by count and, where given, by bytes.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import zlib
from collections import OrderedDict

import numpy as np
import soxr

logger = logging.getLogger(__name__)

# espeak-ng voices the session's voice name is mapped onto (stable per name), so voices differ.
_ESPEAK_VOICES = ("en-us", "en-us+f3", "en-gb", "en-us+m3", "en-gb+f2")
_CHIRP_MS_PER_CHAR = 65  # about 15 characters a second, like speech


def espeak_voice(voice: object) -> str:
    """The espeak-ng voice that stands in for a Voice Live voice (an OpenAI name or a voice object)."""
    name = voice.get("name", "") if isinstance(voice, dict) else str(voice or "")
    return _ESPEAK_VOICES[zlib.crc32(str(name).encode()) % len(_ESPEAK_VOICES)]


class Speech:
    """Turns reply text into 16-bit mono PCM at a given rate. Thread-safe."""

    def __init__(self, espeak: str | None = "auto", *, cache_size: int = 64, cache_bytes: int | None = None) -> None:
        self.espeak = shutil.which("espeak-ng") if espeak == "auto" else espeak
        self._cache: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()
        self._cache_size = cache_size
        self._cache_bytes = cache_bytes  # None: only the count bounds it
        self._cached_bytes = 0
        self._lock = threading.Lock()

    @property
    def real(self) -> bool:
        """True when replies are real speech (espeak-ng found), False for the synthetic chirp."""
        return self.espeak is not None

    def render(self, text: str, sample_rate: int, voice: object = None) -> bytes:
        """PCM16 little-endian audio of ``text`` at ``sample_rate``; empty text gives no audio."""
        if not text.strip():
            return b""
        key = (text, espeak_voice(voice), sample_rate)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        samples = self._espeak(text, key[1], sample_rate) if self.espeak else None
        if samples is None:
            samples = chirp(len(text) * _CHIRP_MS_PER_CHAR, sample_rate)
        pcm = samples.astype("<i2").tobytes()
        with self._lock:
            if key not in self._cache:  # another thread may have rendered it meanwhile
                self._cache[key] = pcm
                self._cached_bytes += len(pcm)
            while self._cache and (len(self._cache) > self._cache_size or
                                   (self._cache_bytes is not None and self._cached_bytes > self._cache_bytes)):
                self._cached_bytes -= len(self._cache.popitem(last=False)[1])
        return pcm

    @property
    def cached_bytes(self) -> int:
        """The audio the cache holds now, in bytes."""
        with self._lock:
            return self._cached_bytes

    def _espeak(self, text: str, voice: str, sample_rate: int) -> np.ndarray | None:
        assert self.espeak is not None
        try:
            result = subprocess.run(
                [self.espeak, "--stdout", "--stdin", "-v", voice],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=30,
                check=True,
            )
            rate, samples = parse_wav(result.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            logger.warning("espeak-ng failed (%s); using a synthetic tone instead", exc)
            return None
        if rate != sample_rate:
            samples = soxr.resample(samples, rate, sample_rate)
        return samples.astype(np.int16)


def parse_wav(data: bytes) -> tuple[int, np.ndarray]:
    """Rate and int16 samples of a mono 16-bit WAV; tolerates the unknown lengths of a streamed WAV."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            channels = int.from_bytes(data[body + 2 : body + 4], "little")
            rate = int.from_bytes(data[body + 4 : body + 8], "little")
            bits = int.from_bytes(data[body + 14 : body + 16], "little")
            if channels != 1 or bits != 16:
                raise ValueError(f"expected mono 16-bit WAV, got {channels} channels of {bits} bits")
        elif chunk == b"data":
            if rate is None:
                raise ValueError("WAV data before its format")
            end = min(len(data), body + size)
            end -= (end - body) % 2
            return rate, np.frombuffer(data[body:end], dtype="<i2").astype(np.int16)
        pos = body + size + (size & 1)
    raise ValueError("WAV without a data chunk")


def chirp(duration_ms: int, sample_rate: int) -> np.ndarray:
    """An unmistakably synthetic stand-in for speech: alternating 440/660 Hz beeps, 150 ms each."""
    n = sample_rate * max(duration_ms, 150) // 1000
    t = np.arange(n) / sample_rate
    beep = sample_rate * 150 // 1000
    freq = np.where((np.arange(n) // beep) % 2 == 0, 440.0, 660.0)
    envelope = np.sin(np.pi * (np.arange(n) % beep) / beep)  # fade each beep in and out
    return (0.3 * 32767 * envelope * np.sin(2 * np.pi * freq * t)).astype(np.int16)
