"""The gate: nothing leaves the device until it opens; then the pre-roll and the utterance do."""

from __future__ import annotations

from collections import deque

from edgevoice.audio.frames import FRAME_SECONDS


class Gate:
    """A pre-roll ring buffer while closed; a pass-through while open.

    Closed, ``push(frame)`` keeps the last ``preroll_ms`` of audio (older audio is forgotten);
    ``open()`` hands that pre-roll out once, so the first syllable after the wake word is not cut.
    """

    __slots__ = ("preroll_frames", "_ring", "is_open", "reason")

    def __init__(self, preroll_ms: int = 300) -> None:
        self.preroll_frames = max(0, round(preroll_ms / 1000 / FRAME_SECONDS))
        self._ring: deque[bytes] = deque(maxlen=self.preroll_frames or 1)
        self.is_open = False
        self.reason: str | None = None  #: why the gate is open ("wake", "button", ...)

    def push(self, frame: bytes) -> None:
        """Remember a frame while closed (only the newest ``preroll_ms`` are kept)."""
        if self.preroll_frames:
            self._ring.append(frame)

    def open(self, reason: str) -> bytes:
        """Open and return the pre-roll (oldest first); empty if already open."""
        if self.is_open:
            return b""
        self.is_open = True
        self.reason = reason
        preroll = b"".join(self._ring)
        self._ring.clear()
        return preroll

    def close(self) -> None:
        """Close; the pre-roll starts filling again from the next frame."""
        self.is_open = False
        self.reason = None
        self._ring.clear()

    def clear(self) -> None:
        """Forget the pre-roll (after mute: nothing from before carries over)."""
        self._ring.clear()
