"""Audio formats on the wire: sample rates, bytes per sample, and G.711 <-> 16-bit PCM."""

from __future__ import annotations

import numpy as np

from edgevoice.voicelive.emulator.vocabulary import G711_RATE, OUTPUT_AUDIO_RATES

_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)


def input_rate(audio_format: str, sampling_rate: int) -> int:
    """Sample rate of client audio: G.711 is always 8 kHz, pcm16 uses the session's sampling rate."""
    return G711_RATE if audio_format.startswith("g711") else sampling_rate


def output_rate(audio_format: str) -> int:
    """Sample rate of the audio deltas for an ``output_audio_format``."""
    return OUTPUT_AUDIO_RATES[audio_format]


def bytes_per_sample(audio_format: str) -> int:
    return 1 if audio_format.startswith("g711") else 2


def to_pcm16(audio_format: str, data: bytes) -> np.ndarray:
    """Decode client audio (pcm16 little-endian, g711_ulaw or g711_alaw) to int16 samples."""
    if audio_format == "g711_ulaw":
        return _ulaw_decode(np.frombuffer(data, dtype=np.uint8))
    if audio_format == "g711_alaw":
        return _alaw_decode(np.frombuffer(data, dtype=np.uint8))
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def from_pcm16(audio_format: str, samples: np.ndarray) -> bytes:
    """Encode int16 samples in an output format (pcm16* little-endian, or G.711)."""
    if audio_format == "g711_ulaw":
        return _ulaw_encode(samples).tobytes()
    if audio_format == "g711_alaw":
        return _alaw_encode(samples).tobytes()
    return samples.astype("<i2").tobytes()


def _ulaw_decode(codes: np.ndarray) -> np.ndarray:
    u = (~codes.astype(np.int32)) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


def _ulaw_encode(samples: np.ndarray) -> np.ndarray:
    x = samples.astype(np.int32) >> 2  # 14-bit, as in the ITU reference code
    mask = np.where(x < 0, 0x7F, 0xFF)
    x = np.minimum(np.abs(x), 8159) + 33
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, x)
    code = (np.minimum(segment, 7) << 4) | ((x >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _alaw_decode(codes: np.ndarray) -> np.ndarray:
    a = codes.astype(np.int32) ^ 0x55
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.int16)


def _alaw_encode(samples: np.ndarray) -> np.ndarray:
    x = samples.astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, x)  # first segment whose end >= x
    shift = np.where(segment < 2, 1, segment)
    code = (np.minimum(segment, 7) << 4) | ((x >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)
