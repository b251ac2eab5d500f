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

from edgevoice.audio.frames import FRAME_SECONDS, Framer, SourceStatus, StatusCallback
from edgevoice.audio.resample import Resampler

logger = logging.getLogger(__name__)

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
_CHUNK_FRAMES = 4096  # sample frames read per step
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # data chunk sizes a streaming writer puts in the header


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
    offset = 12  # counted, not asked with tell(): a pipe cannot say where it is
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            raise WavError(f"{name} has no audio data chunk")
        offset += 8
        cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"fmt ":
            body = f.read(size + (size & 1))
            offset += len(body)
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
            return WavFormat(rate, channels, bits // 8, is_float, offset, size)
        else:
            offset += _skip(f, size + (size & 1))


def _skip(f: BinaryIO, n: int) -> int:
    """Skip ``n`` bytes of ``f`` (by reading, if it is a pipe); returns how many were skipped."""
    if f.seekable():
        f.seek(n, 1)
        return n
    skipped = 0
    while skipped < n and (got := len(f.read(min(n - skipped, 65536)))):
        skipped += got
    return skipped


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

    The path may also be a FIFO (or another pipe) carrying a WAV stream: it is opened once, here
    (which waits for a writer), and read as the audio arrives, until the data chunk's size or the
    end of the stream; a size of 0 or 0xFFFFFFFF (a streaming writer's "unknown") means the end of
    the stream. A stream can be read by ``frames()`` only once.
    """

    def __init__(self, path: str | Path, *, realtime: bool = False, on_status: StatusCallback | None = None) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self._on_status = on_status
        self._closed = threading.Event()
        self._stream: BinaryIO | None = None  # a pipe, kept open from the header on
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - kept open when it is a pipe
        except OSError as exc:
            raise WavError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        try:
            self.format = read_wav_format(f, str(self.path))
        except OSError as exc:
            f.close()
            raise WavError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        except BaseException:
            f.close()
            raise
        #: True when the path is a pipe (a FIFO), read as it arrives rather than from a file.
        self.is_stream = not f.seekable()
        if self.is_stream:
            self._stream = f
        else:
            f.close()
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
        for block in self.blocks(1):
            yield from block

    def blocks(self, block_frames: int = 1) -> Iterator[list[bytes]]:
        """Every frame of the file once, ``block_frames`` at a time (paced per block when real-time)."""
        block: list[bytes] = []
        start = time.monotonic()
        sent = 0
        for frame in self._read_frames():
            block.append(frame)
            if len(block) < block_frames:
                continue
            if self.realtime:
                self._pace(start, sent + len(block) - 1)
            if self._closed.is_set():
                self._set_status("closed")
                return
            sent += len(block)
            yield block
            block = []
        if block and self.realtime:
            self._pace(start, sent + len(block) - 1)
        if block and not self._closed.is_set():
            yield block

    def _read_frames(self) -> Iterator[bytes]:
        fmt = self.format
        resampler = Resampler(fmt.rate, fmt.channels)
        framer = Framer()
        block = fmt.channels * fmt.sample_width
        remaining: float = fmt.data_bytes
        if self.is_stream:
            if self._stream is None:
                raise WavError(f"{self.path} is a stream and can be read only once")
            f, self._stream = self._stream, None
            read = f.read1  # type: ignore[attr-defined]  # whatever has arrived: a pipe may pause mid-chunk
            if fmt.data_bytes in _UNKNOWN_SIZES:
                remaining = float("inf")
        else:
            f = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
            f.seek(fmt.data_offset)
            read = f.read
        self._set_status("listening")
        partial = b""  # the start of a sample frame a pipe delivered without its end
        with f:
            while remaining > 0 and not self._closed.is_set():
                raw = read(int(min(remaining, _CHUNK_FRAMES * block)))
                if not raw:
                    break  # truncated file: the header promised more than there is
                remaining -= len(raw)
                raw = partial + raw
                whole = len(raw) - len(raw) % block
                raw, partial = raw[:whole], raw[whole:]
                pcm = raw if (fmt.sample_width == 2 and not fmt.is_float) else _to_int16(raw, fmt).tobytes()
                out = resampler.process(pcm, last=remaining <= 0)
                for frame in framer.push(out):
                    if self._closed.is_set():
                        break
                    yield frame
            if not resampler.passthrough and remaining > 0:
                yield from framer.push(resampler.process(b"", last=True))
            tail = framer.flush()
            if tail is not None and not self._closed.is_set():
                yield tail
        self._set_status("closed" if self._closed.is_set() else "finished")

    def _pace(self, start: float, sent: int) -> None:
        delay = start + (sent + 1) * FRAME_SECONDS - time.monotonic()
        if delay > 0:
            self._closed.wait(delay)

    def close(self) -> None:
        """Stop ``frames()`` (from any thread; a read waiting on a silent pipe stays blocked)."""
        self._closed.set()
        stream, self._stream = self._stream, None
        if stream is not None:  # a pipe that frames() never took
            stream.close()


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


__all__ = ["WavError", "WavFormat", "WavSource", "read_wav_16k", "write_wav"]
