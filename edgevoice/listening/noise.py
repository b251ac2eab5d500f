"""WebRTC noise suppression and auto gain on 10 ms frames, before VAD and wake word detection."""

from __future__ import annotations

from webrtc_noise_gain import AudioProcessor


class NoiseFilter:
    """Clean up near-field audio: suppress steady noise (level 0-4), even out the level (auto gain).

    Switched off (``enabled=False``, or both settings 0) it hands frames back untouched and costs nothing.
    """

    __slots__ = ("suppression", "auto_gain_dbfs", "_enabled", "_processor")

    def __init__(self, suppression: int = 4, auto_gain_dbfs: int = 0, *, enabled: bool = True) -> None:
        if not 0 <= suppression <= 4:
            raise ValueError(f"noise suppression level {suppression!r} is not 0-4")
        if not 0 <= auto_gain_dbfs <= 31:
            raise ValueError(f"auto gain {auto_gain_dbfs!r} dBFS is not 0-31")
        self.suppression = suppression
        self.auto_gain_dbfs = auto_gain_dbfs
        self._processor: AudioProcessor | None = None
        self._enabled = False
        self.enabled = enabled

    @classmethod
    def from_config(cls, noise) -> NoiseFilter:  # noise: edgevoice.config.listening.NoiseConfig
        """The filter described by [listening.noise]."""
        return cls(noise.suppression, noise.auto_gain_dbfs, enabled=noise.enabled)

    @property
    def enabled(self) -> bool:
        """Whether frames are processed; can be switched at any time."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = bool(value) and (self.suppression > 0 or self.auto_gain_dbfs > 0)
        if self._enabled and self._processor is None:
            self._processor = AudioProcessor(self.auto_gain_dbfs, self.suppression)

    def process(self, frame: bytes) -> bytes:
        """One 320-byte frame in, one out."""
        if not self._enabled:
            return frame
        return self._processor.Process10ms(frame).audio  # type: ignore[union-attr]

    def reset(self) -> None:
        """Forget the learned noise profile and gain (after a gap in the audio)."""
        if self._processor is not None:
            self._processor = AudioProcessor(self.auto_gain_dbfs, self.suppression)
