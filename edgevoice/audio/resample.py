"""The one streaming resampler: int16 audio at one rate to another, chunk by chunk (soxr).

The microphone and WAV input use it on bytes (any rate and channel count to 16 kHz mono),
playback on sample arrays (a reply's rate to the device's), the session on bytes again (16 kHz
to a service's wire rate). Whole short sounds use :func:`edgevoice.playback.convert.resample`.
"""

from __future__ import annotations

import numpy as np
import soxr

from edgevoice.audio.frames import SAMPLE_RATE


class Resampler:
    """Streaming conversion of interleaved int16 chunks to ``out_rate`` mono (soxr; mono by averaging).

    Same rate and one channel: the audio passes through untouched.
    """

    def __init__(self, in_rate: int, channels: int = 1, out_rate: int = SAMPLE_RATE, quality: str = "HQ") -> None:
        if in_rate <= 0 or channels <= 0 or out_rate <= 0:
            raise ValueError(f"bad format: {in_rate} Hz, {channels} channel(s) to {out_rate} Hz")
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

    def convert(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """Convert the next mono int16 samples; ``last=True`` adds what the filter still holds."""
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(np.asarray(samples, dtype=np.int16), last=last)

    def flush(self) -> np.ndarray:
        """The samples the filter still holds; the stream starts afresh afterwards."""
        tail = self.convert(np.zeros(0, dtype=np.int16), last=True) if self._stream is not None else np.zeros(0, np.int16)
        self._reset_stream()
        return tail

    def process(self, data: bytes, last: bool = False) -> bytes:
        """Convert one chunk of interleaved bytes; ``last=True`` flushes what the filter still holds."""
        if self.passthrough:
            return bytes(data)
        usable = len(data) - len(data) % (2 * self.channels)
        samples = np.frombuffer(data, dtype="<i2", count=usable // 2)
        if self.channels > 1:
            mono = samples.reshape(-1, self.channels).mean(axis=1)
            samples = np.round(mono).astype(np.int16)
        return self.convert(samples, last=last).astype("<i2").tobytes()

    def reset(self) -> None:
        """Forget the filter state (a new, unrelated stream follows)."""
        self._reset_stream()
