"""A WAV recording as a frame source, at real-time pace or as fast as possible."""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from edgevoice.audio.frames import FRAME_BYTES, FRAME_SECONDS, Framer, SourceStatus, StatusCallback
from edgevoice.audio.resample import Resampler

logger = logging.getLogger(__name__)

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
_CHUNK_FRAMES = 4096  # sample frames read per step


class WavError(ValueError):
    """A file that is not a WAV this program can read; the message says what is wrong."""


@dataclass(frozen=True)
class WavFormat:
    """What the header of a WAV file says."""

    rate: int
    channels: int
    sample_width: int  # bytes per sample
    is_float: bool
    data_offset: int
    data_bytes: int

    @property
    def duration_s(self) -> float:
        return self.data_bytes / (self.rate * self.channels * self.sample_width)


def read_wav_format(f: BinaryIO, name: str = "file") -> WavFormat:
    """Parse the RIFF header: PCM 8/16/24/32-bit, 32-bit float, plain or WAVE_FORMAT_EXTENSIBLE."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavError(f"{name} is not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            raise WavError(f"{name} has no audio data chunk")
        cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"fmt ":
            body = f.read(size + (size & 1))
            if len(body) < 16:
                raise WavError(f"{name} has a truncated format chunk")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise WavError(f"{name} has audio data before its format chunk")
            tag, channels, rate, bits = fmt
            if tag == _PCM and bits in (8, 16, 24, 32):
                is_float = False
            elif tag == _FLOAT and bits == 32:
                is_float = True
            else:
                raise WavError(f"{name}: unsupported WAV encoding (format tag {tag}, {bits} bits); "
                               "use PCM 8/16/24/32-bit or 32-bit float")
            if channels < 1 or rate < 1000:
                raise WavError(f"{name}: implausible format ({channels} channels, {rate} Hz)")
            return WavFormat(rate, channels, bits // 8, is_float, f.tell(), size)
        else:
            f.seek(size + (size & 1), 1)


def _to_int16(raw: bytes, fmt: WavFormat) -> np.ndarray:
    """Interleaved samples of any supported encoding as int16."""
    width = fmt.sample_width
    if fmt.is_float:
        x = np.frombuffer(raw, "<f4")
        return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    if width == 2:
        return np.frombuffer(raw, "<i2")
    if width == 1:
        return ((np.frombuffer(raw, np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        return (b[:, 1].astype(np.uint16) | (b[:, 2].astype(np.uint16) << 8)).view(np.int16)
    return (np.frombuffer(raw, "<i4") >> 16).astype(np.int16)


class WavSource:
    """Frames from a WAV file, converted to 16 kHz mono int16 on the fly.

    ``realtime=True`` paces frames like a microphone (one every 10 ms); otherwise they come as
    fast as the reader takes them (analysis, tests). The last partial frame is padded with silence.
    """

    def __init__(self, path: str | Path, *, realtime: bool = False, on_status: StatusCallback | None = None) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self._on_status = on_status
        self._closed = threading.Event()
        try:
            with open(self.path, "rb") as f:
                self.format = read_wav_format(f, str(self.path))
        except OSError as exc:
            raise WavError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        self._status = SourceStatus("opening", device=str(self.path))

    @property
    def status(self) -> SourceStatus:
        return self._status

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.format.duration_s

    def _set_status(self, state: str, detail: str = "") -> None:
        self._status = SourceStatus(state, detail, str(self.path))
        if self._on_status is not None:
            self._on_status(self._status)

    def frames(self) -> Iterator[bytes]:
        """Yield every frame of the file once, then stop."""
        fmt = self.format
        resampler = Resampler(fmt.rate, fmt.channels)
        framer = Framer()
        block = fmt.channels * fmt.sample_width
        remaining = fmt.data_bytes
        sent = 0
        start = time.monotonic()
        self._set_status("listening")
        with open(self.path, "rb") as f:
            f.seek(fmt.data_offset)
            while remaining > 0 and not self._closed.is_set():
                raw = f.read(min(remaining, _CHUNK_FRAMES * block))
                if not raw:
                    break  # truncated file: the header promised more than there is
                remaining -= len(raw)
                raw = raw[: len(raw) - len(raw) % block]
                pcm = raw if (fmt.sample_width == 2 and not fmt.is_float) else _to_int16(raw, fmt).tobytes()
                out = resampler.process(pcm, last=remaining <= 0)
                for frame in framer.push(out):
                    if self.realtime:
                        self._pace(start, sent)
                    if self._closed.is_set():
                        break
                    sent += 1
                    yield frame
            if not resampler.passthrough and remaining > 0:
                for frame in framer.push(resampler.process(b"", last=True)):
                    sent += 1
                    yield frame
            tail = framer.flush()
            if tail is not None and not self._closed.is_set():
                yield tail
        self._set_status("closed" if self._closed.is_set() else "finished")

    def _pace(self, start: float, sent: int) -> None:
        delay = start + (sent + 1) * FRAME_SECONDS - time.monotonic()
        if delay > 0:
            self._closed.wait(delay)

    def close(self) -> None:
        """Stop ``frames()`` (from any thread)."""
        self._closed.set()


def read_wav_16k(path: str | Path) -> bytes:
    """A whole WAV file as 16 kHz mono int16 PCM bytes (padded to whole 10 ms frames)."""
    return b"".join(WavSource(path).frames())


def write_wav(path: str | Path, pcm: bytes, rate: int = 16000, channels: int = 1) -> None:
    """Write int16 PCM as a WAV file."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


__all__ = ["WavError", "WavFormat", "WavSource", "read_wav_16k", "write_wav", "FRAME_BYTES"]
