"""Which of the frames handed to an output belong to the reply, and how many have been heard."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from edgevoice.playback.buffer import Block


@dataclass(slots=True)
class Due:
    """Callbacks that became due (the caller runs them outside its locks)."""

    started: bool = False
    finished: bool = False


class ReplyClock:
    """Maps positions on the output's timeline (frames written) to frames of the reply played.

    ``wrote`` records each block as it goes out; ``advance`` is told how far the output has
    actually played and says whether the reply has just become audible or just ended. Not
    thread-safe: the speaker calls it under its lock.
    """

    def __init__(self) -> None:
        self.reply_id = 0
        self.played = 0  # frames of the current reply played
        self._blocks: deque[tuple[int, int]] = deque()  # (start position, reply frames) not fully played
        self._started = False
        self._finish_at: int | None = None
        self._stopped = False

    @property
    def pending(self) -> bool:
        """The end of a reply has been written but not yet played."""
        return self._finish_at is not None

    def wrote(self, block: Block, start: int) -> None:
        """``block`` went out at output position ``start``."""
        if block.reply_id != self.reply_id and (block.reply_frames or block.finished):
            self._new_reply(block.reply_id)
        if block.reply_id != self.reply_id or self._stopped:
            return
        if block.reply_frames:
            self._blocks.append((start, block.reply_frames))
        if block.finished:
            self._finish_at = start + block.reply_frames

    def advance(self, position: int) -> Due:
        """The output has played everything before ``position``."""
        due = Due()
        while self._blocks:
            start, frames = self._blocks[0]
            if position >= start + frames:
                self.played += frames
                self._blocks.popleft()
            else:
                partial = max(0, position - start)
                if partial:
                    self.played += partial
                    self._blocks[0] = (start + partial, frames - partial)
                break
        if self.played and not self._started and not self._stopped:
            self._started = True
            due.started = True
        if self._finish_at is not None and position >= self._finish_at and not self._stopped:
            self._finish_at = None
            due.finished = True
        return due

    def stop(self, reply_id: int, rendered: int) -> None:
        """The reply was cut after ``rendered`` frames (all of which will still be heard): no more callbacks."""
        if reply_id != self.reply_id:
            self._new_reply(reply_id)
        self._stopped = True
        self._finish_at = None
        self._blocks.clear()
        self.played = rendered

    def _new_reply(self, reply_id: int) -> None:
        self.reply_id = reply_id
        self.played = 0
        self._blocks.clear()
        self._started = False
        self._finish_at = None
        self._stopped = False
