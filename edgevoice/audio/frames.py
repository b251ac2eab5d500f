"""The one audio format everything after the microphone speaks: 10 ms frames of 16 kHz mono int16."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2  # bytes, signed 16-bit little-endian
FRAME_SAMPLES = 160
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE


@dataclass(frozen=True)
class SourceStatus:
    """How an audio source is doing: ``state`` is one of the names below, ``detail`` says why.

    States: ``opening`` (starting up), ``listening`` (frames flowing), ``stalled`` (no frames for
    the stall timeout), ``deaf`` (only digital silence), ``missing`` (no such device or it failed
    to open; retrying), ``finished`` (a recording ran out) and ``closed``.
    """

    state: str
    detail: str = ""
    device: str | None = None

    @property
    def ok(self) -> bool:
        """True when frames are (or will shortly be) flowing normally."""
        return self.state in ("opening", "listening")


StatusCallback = Callable[[SourceStatus], None]


class FrameSource(Protocol):
    """Anything that yields 10 ms frames: the microphone, a WAV file."""

    @property
    def status(self) -> SourceStatus: ...

    def frames(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class Framer:
    """Cut a stream of byte chunks of any size into whole 320-byte frames."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        """Add ``data`` and return the complete frames now available (the rest waits)."""
        buf = self._buf
        if not buf and len(data) == FRAME_BYTES:
            return [bytes(data)]
        buf += data
        n = len(buf) // FRAME_BYTES * FRAME_BYTES
        if not n:
            return []
        out = [bytes(buf[i : i + FRAME_BYTES]) for i in range(0, n, FRAME_BYTES)]
        del buf[:n]
        return out

    def flush(self) -> bytes | None:
        """The last partial frame padded with silence, or None when nothing is pending."""
        if not self._buf:
            return None
        frame = bytes(self._buf) + bytes(FRAME_BYTES - len(self._buf))
        self._buf.clear()
        return frame

    def clear(self) -> None:
        """Drop anything pending (after a device was reopened: do not glue two streams)."""
        self._buf.clear()
