"""The jitter buffer and mixer behind every speaker: what to play in the next few milliseconds.

A reply arrives in chunks at network pace; the buffer holds a little (``jitter_ms``) before it
starts, plays on as chunks come, and fills gaps with silence (holding again until it has enough)
if the network falls behind. Short sounds (chimes) are mixed over it. Devices and files pull
blocks with :meth:`PlaybackBuffer.render`; the buffer itself does no I/O and is thread-safe.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from edgevoice.playback.convert import apply_volume, mix


@dataclass(frozen=True, slots=True)
class Block:
    """One rendered block and what it holds of the current reply."""

    samples: np.ndarray  # int16 mono, exactly the frames asked for
    reply_id: int  # the reply the reply frames belong to (0: none yet)
    reply_frames: int  # frames of reply audio at the start of the block (the rest is silence or sounds)
    finished: bool  # the reply's last frame is in this block (or it ended empty)


class _Queue:
    """FIFO of int16 arrays, read in arbitrary-sized pieces."""

    def __init__(self) -> None:
        self._chunks: deque[np.ndarray] = deque()
        self.frames = 0

    def push(self, samples: np.ndarray) -> None:
        if len(samples):
            self._chunks.append(samples)
            self.frames += len(samples)

    def pop(self, frames: int) -> np.ndarray:
        """Up to ``frames`` samples from the front."""
        parts = []
        wanted = frames
        while wanted and self._chunks:
            head = self._chunks[0]
            if len(head) <= wanted:
                parts.append(self._chunks.popleft())
                wanted -= len(head)
            else:
                parts.append(head[:wanted])
                self._chunks[0] = head[wanted:]
                wanted = 0
        taken = frames - wanted
        self.frames -= taken
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def clear(self) -> None:
        self._chunks.clear()
        self.frames = 0


class PlaybackBuffer:
    """Jitter buffer for one reply at a time, with sounds mixed over it, at one sample rate."""

    def __init__(self, rate: int, *, jitter_ms: float = 60.0, volume: float = 1.0) -> None:
        self.rate = rate
        self.jitter_frames = int(rate * jitter_ms / 1000)
        self.volume = volume
        self._lock = threading.Lock()
        self._reply = _Queue()
        self._sounds = _Queue()
        self._reply_id = 0
        self._open = False  # a reply is in progress (pushed or finishing, not yet fully rendered)
        self._finishing = False  # no more audio will come for it
        self._flowing = False  # past the jitter hold (until the next underrun)
        self._rendered = 0  # reply frames rendered of the current (or last) reply

    @property
    def reply_id(self) -> int:
        """The current reply, or the last one (0 before the first)."""
        return self._reply_id

    @property
    def in_reply(self) -> bool:
        """A reply has begun and has not yet been fully rendered or stopped."""
        with self._lock:
            return self._open

    @property
    def ready(self) -> bool:
        """:meth:`render` would give sound now, or end the reply (not just silence)."""
        with self._lock:
            if self._sounds.frames:
                return True
            if not self._open:
                return False
            if self._finishing:
                return True
            return self._reply.frames >= (1 if self._flowing else max(self.jitter_frames, 1))

    @property
    def busy(self) -> bool:
        """A reply is in progress or a sound is still to be played."""
        with self._lock:
            return self._open or self._sounds.frames > 0

    def rendered_frames(self) -> int:
        """Frames of the current (or last) reply rendered so far."""
        with self._lock:
            return self._rendered

    def push(self, samples: np.ndarray) -> int:
        """Queue reply audio (a new reply begins if none is in progress); returns the reply id."""
        with self._lock:
            if not self._open:
                self._begin()
            self._reply.push(samples)
            return self._reply_id

    def finish(self) -> int:
        """No more audio for this reply: play out what is queued. An empty reply ends at once."""
        with self._lock:
            if not self._open:
                self._begin()
            self._finishing = True
            return self._reply_id

    def stop(self) -> int:
        """Drop the rest of the reply; returns how many of its frames were rendered."""
        with self._lock:
            self._reply.clear()
            self._open = self._finishing = self._flowing = False
            return self._rendered

    def push_sound(self, samples: np.ndarray) -> None:
        """Queue a short sound, mixed over the reply (or over silence)."""
        with self._lock:
            self._sounds.push(samples)

    def render(self, frames: int) -> Block:
        """The next ``frames`` samples to play."""
        with self._lock:
            out = np.zeros(frames, dtype=np.int16)
            reply_frames = 0
            finished = False
            if self._open:
                if not self._flowing and (self._reply.frames >= max(self.jitter_frames, 1) or self._finishing):
                    self._flowing = True
                if self._flowing:
                    piece = self._reply.pop(frames)
                    reply_frames = len(piece)
                    out[:reply_frames] = piece
                    self._rendered += reply_frames
                    if self._reply.frames == 0:
                        if self._finishing:
                            finished = True
                            self._open = self._finishing = self._flowing = False
                        elif reply_frames < frames:
                            self._flowing = False  # underrun: hold until the buffer refills
            if self._sounds.frames:
                sound = self._sounds.pop(frames)
                out[: len(sound)] = mix(out[: len(sound)], sound)
            return Block(apply_volume(out, self.volume), self._reply_id, reply_frames, finished)

    def _begin(self) -> None:
        self._reply_id += 1
        self._reply.clear()
        self._open = True
        self._finishing = self._flowing = False
        self._rendered = 0
