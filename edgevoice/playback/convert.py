"""Sample conversions for playback: bytes to samples, volume, rate, channels."""

from __future__ import annotations

import numpy as np
import soxr

from edgevoice.audio.frames import SAMPLE_WIDTH

_UNITY = 1 << 15  # volume 1.0 in Q15 fixed point


def whole_samples(pcm: bytes) -> bytes:
    """``pcm`` without a trailing half sample (a broken server's): what a speaker and a WAV can take."""
    extra = len(pcm) % SAMPLE_WIDTH
    return pcm[: len(pcm) - extra] if extra else pcm


def samples_from_pcm(pcm: bytes) -> np.ndarray:
    """Mono 16-bit little-endian PCM as an int16 array (a copy, safe to keep)."""
    if len(pcm) % SAMPLE_WIDTH:
        raise ValueError(f"PCM must be whole 16-bit samples; got {len(pcm)} bytes")
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)


def apply_volume(samples: np.ndarray, volume: float) -> np.ndarray:
    """Scale int16 samples by ``volume`` (0..1) in fixed point; 1 returns them unchanged."""
    if volume >= 1.0:
        return samples
    gain = int(round(max(volume, 0.0) * _UNITY))
    if gain == 0:
        return np.zeros_like(samples)
    return ((samples.astype(np.int32) * gain) >> 15).astype(np.int16)


def mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Add two int16 signals of the same length, clipping instead of wrapping."""
    return np.clip(a.astype(np.int32) + b, -32768, 32767).astype(np.int16)


def to_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """Mono samples as interleaved frames of ``channels`` (the same sound on each)."""
    if channels == 1:
        return samples
    return np.repeat(samples, channels)


def resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """A whole short sound (a chime) at another rate."""
    if in_rate == out_rate:
        return samples
    return soxr.resample(samples, in_rate, out_rate, quality="HQ").astype(np.int16)
