"""Turn device audio (any rate, any channel count, int16) into 16 kHz mono int16, in a stream."""

from __future__ import annotations

import numpy as np
import soxr

from edgevoice.audio.frames import SAMPLE_RATE


class Resampler:
    """Streaming conversion of interleaved int16 chunks to 16 kHz mono (soxr; mono by averaging).

    Same rate and one channel: the bytes pass through untouched.
    """

    def __init__(self, in_rate: int, channels: int = 1, out_rate: int = SAMPLE_RATE, quality: str = "HQ") -> None:
        if in_rate <= 0 or channels <= 0:
            raise ValueError(f"bad input format: {in_rate} Hz, {channels} channel(s)")
        self.in_rate = int(in_rate)
        self.channels = int(channels)
        self.out_rate = int(out_rate)
        self._quality = quality
        self._stream: soxr.ResampleStream | None = None
        self._reset_stream()

    @property
    def passthrough(self) -> bool:
        """True when no conversion is needed."""
        return self.in_rate == self.out_rate and self.channels == 1

    def _reset_stream(self) -> None:
        self._stream = (
            None
            if self.in_rate == self.out_rate
            else soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="int16", quality=self._quality)
        )

    def process(self, data: bytes, last: bool = False) -> bytes:
        """Convert one chunk; ``last=True`` flushes what the filter still holds."""
        if self.passthrough:
            return bytes(data)
        usable = len(data) - len(data) % (2 * self.channels)
        samples = np.frombuffer(data, dtype="<i2", count=usable // 2)
        if self.channels > 1:
            mono = samples.reshape(-1, self.channels).mean(axis=1)
            samples = np.round(mono).astype(np.int16)
        if self._stream is None:
            return samples.astype("<i2").tobytes()
        return self._stream.resample_chunk(samples, last=last).astype("<i2").tobytes()

    def reset(self) -> None:
        """Forget the filter state (a new, unrelated stream follows)."""
        self._reset_stream()
