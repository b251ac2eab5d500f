"""Capture: hands the loop the microphone's (or a recording's) audio in whole blocks.

A source that delivers several frames at once (the microphone: one device buffer of
``buffer_ms``) hands them over as one :class:`Block`, so the loop wakes once per block rather
than once per 10 ms frame. The microphone's blocks are posted from its device's thread
(``stream()``), so they take no extra hop; a recording is read on the capture thread, a frame
at a time (``frames()``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from edgevoice.audio.frames import FRAME_BYTES, FRAME_SECONDS, FrameSource

logger = logging.getLogger(__name__)

# 3 s of audio waiting for a loop that fell behind: newer frames are dropped. More than the
# microphone's own buffer, which a process that was frozen for a moment hands over all at once.
MAX_BACKLOG_FRAMES = 300


@dataclass(frozen=True, slots=True)
class Block:
    """Frames the source delivered together, and when the last of them was captured (daemon clock)."""

    frames: tuple[bytes, ...]
    at: float

    def frame_times(self) -> Iterator[tuple[bytes, float]]:
        """Each frame with its own capture time: the earlier ones of a block were heard a frame apart."""
        last = len(self.frames) - 1
        for i, frame in enumerate(self.frames):
            yield frame, self.at - (last - i) * FRAME_SECONDS


class InputOver:
    """The source ran out (a recording ended, or it failed): posted once, after the last block."""


INPUT_OVER = InputOver()


def source_blocks(source: FrameSource, block_frames: int) -> Iterator[tuple[bytes, ...]]:
    """The source's frames as the blocks it delivers them in (``blocks()``), else one by one."""
    blocks = getattr(source, "blocks", None)
    if blocks is not None:
        for block in blocks(block_frames):
            yield tuple(block)
    else:
        for frame in source.frames():
            yield (frame,)


class Capture:
    """Reads a frame source on a thread of its own and posts its blocks to the daemon's loop.

    ``post(item, at)`` is the loop's queue. The loop reports the frames it has taken with
    :meth:`taken`; more than :data:`MAX_BACKLOG_FRAMES` waiting means the loop fell behind, and
    newer audio is dropped (and said so) until it catches up. With ``finish_with_input``, a quiet
    room goes on at real-time pace after a recording ends, so replies play out and timers run.
    """

    def __init__(self, source: FrameSource, post: Callable[[object, float], None], *,
                 clock: Callable[[], float], block_frames: int = 1, finish_with_input: bool = False) -> None:
        self.source = source
        self._post = post
        self._clock = clock
        self.block_frames = max(1, block_frames)
        self.finish_with_input = finish_with_input
        self._stop = threading.Event()
        self._put = 0  # frames posted: written by the capture thread (or the device's) only
        self._dropped = 0  # frames dropped since the loop fell behind (the same thread)
        self._taken = 0  # frames processed: written by the loop only
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (from any thread); the source is closed by its owner."""
        self._stop.set()

    def taken(self, frames: int) -> None:
        """The loop processed ``frames`` more frames (called by the loop only)."""
        self._taken += frames

    def run(self) -> None:
        """Read blocks onto the loop's queue; after a recording ends, a quiet room goes on."""
        stream = getattr(self.source, "stream", None)
        try:
            if stream is not None:
                stream(self._take)  # the microphone: its device's thread posts each block itself
            else:
                for frames in source_blocks(self.source, self.block_frames):
                    if self._stop.is_set():
                        return
                    self._take(frames)
        except Exception:
            logger.exception("audio input failed")
        self._post(INPUT_OVER, self._clock())
        if self.finish_with_input:
            self._quiet_room()

    def _take(self, frames: tuple[bytes, ...] | list[bytes]) -> None:
        """Post one block to the loop, unless the loop is this far behind (then it is dropped, and said so)."""
        if self._stop.is_set():
            return
        if self._put - self._taken >= MAX_BACKLOG_FRAMES:
            if not self._dropped:
                logger.warning("the assistant fell %.1f s behind the microphone; dropping audio until it "
                               "catches up", MAX_BACKLOG_FRAMES * FRAME_SECONDS)
            self._dropped += len(frames)
            return
        if self._dropped:
            logger.warning("caught up with the microphone: %.1f s of audio was dropped", self._dropped * FRAME_SECONDS)
            self._dropped = 0
        self._put += len(frames)
        at = self._clock()
        self._post(Block(tuple(frames), at), at)

    def _quiet_room(self) -> None:
        """The recording is over but the conversation may not be: silence at real-time pace, in blocks."""
        block = (bytes(FRAME_BYTES),) * self.block_frames
        seconds = self.block_frames * FRAME_SECONDS
        start, sent = time.monotonic(), 0
        while not self._stop.is_set():
            sent += 1
            delay = start + sent * seconds - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            self._put += len(block)
            self._post(Block(block, self._clock()), self._clock())
