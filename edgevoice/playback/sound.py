"""A short sound held in memory (a chime, a cached phrase) and the WAV files it comes from."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

CHIMES = ("wake", "end")


@dataclass(frozen=True, slots=True)
class Sound:
    """Mono 16-bit PCM and its sample rate."""

    pcm: bytes = field(repr=False)
    rate: int

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) / 2 / self.rate * 1000

    @classmethod
    def from_wav(cls, source: str | Path | bytes) -> Sound:
        """Read a mono 16-bit WAV file (a path, or the file's bytes)."""
        name = "<bytes>" if isinstance(source, bytes) else str(source)
        try:
            with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb") as wav:
                channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
                pcm = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError) as exc:
            raise ValueError(f"{name}: not a readable WAV file ({exc})") from None
        if channels != 1 or width != 2:
            raise ValueError(f"{name}: expected mono 16-bit PCM, got {channels} channel(s) of {8 * width}-bit")
        return cls(pcm, rate)

    def to_wav(self, path: str | Path) -> None:
        """Write as a mono 16-bit WAV file."""
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(self.pcm)


def load_chime(name: str) -> Sound:
    """One of the chimes bundled in edgevoice/data/chimes/ ("wake" or "end")."""
    if name not in CHIMES:
        raise ValueError(f"no chime named {name!r}; there are: {', '.join(CHIMES)}")
    data = resources.files("edgevoice").joinpath("data", "chimes", f"{name}.wav").read_bytes()
    return Sound.from_wav(data)
