"""After a wake word: hold the gate's audio until the person's own words start.

The pre-roll kept before a wake word is detected holds the end of the wake word itself ("...bu").
Sent at once, that tail is speech followed by the pause people leave for the chime, and a
service that endpoints by itself (server VAD) commits it as a turn of its own and answers it.
So after a wake word the front-end holds what the gate lets through, and sends it only once the
person's own speech has started (the endpointer says so):

* The wake word ends at the first quiet stretch of ``quiet_frames`` (200 ms, shorter than any
  service's end-of-turn silence) that ends after the detection. Everything before it is the wake
  word, and is dropped; of the quiet, at most ``preroll_frames`` are kept before the words, so
  the first syllable of the question is not cut.
* With no such pause ("okay nabu what time is it" in one breath) there is nothing to split: the
  held audio goes out whole, the wake word's tail with the question, as one utterance.

Pure and frame by frame: ``push(frame, voiced)`` for every frame while holding, ``release()``
once the words started.
"""

from __future__ import annotations

from collections import deque

#: A quiet stretch this long (frames of 10 ms) after the wake word separates it from the words.
QUIET_FRAMES = 20
#: A voiced blip this short inside a quiet stretch (a click, a breath) does not end it.
BLIP_FRAMES = 2
#: Never hold more than this (frames): a wake word and a long wait for the words are far shorter.
MAX_HELD_FRAMES = 1500


class WakeHold:
    """The audio after a wake word, held until the person's words start; the wake word's tail dropped."""

    __slots__ = ("preroll_frames", "quiet_frames", "_held", "_open_at", "_quiet", "_blip", "_cut", "_words")

    def __init__(self, preroll_frames: int, quiet_frames: int = QUIET_FRAMES) -> None:
        self.preroll_frames = max(0, preroll_frames)
        self.quiet_frames = max(1, quiet_frames)
        self._held: deque[bytes] = deque(maxlen=MAX_HELD_FRAMES)
        self._open_at = 0  # frames held before the gate opened (the pre-roll)
        self._quiet = 0  # quiet frames in a row (blips included)
        self._blip = 0  # voiced frames in a row inside the current quiet stretch
        self._cut = False  # the wake word's end was found (and dropped)
        self._words = False  # voice after the cut: the person's words (kept whole from here)

    def start(self, preroll: list[tuple[bytes, bool]]) -> None:
        """The gate opened on a wake word; ``preroll``: the frames kept before it, with the VAD's verdicts."""
        self._held.clear()
        self._quiet = self._blip = 0
        self._cut = self._words = False
        self._open_at = 0
        for frame, voiced in preroll:
            self._take(frame, voiced, before_open=True)
        self._open_at = len(self._held)

    def push(self, frame: bytes, voiced: bool) -> None:
        """One more frame while the words have not started."""
        self._take(frame, voiced, before_open=False)

    def release(self) -> bytes:
        """The words started: the audio to send first (oldest first); the hold is empty afterwards."""
        out = b"".join(self._held)
        self._held.clear()
        return out

    def _take(self, frame: bytes, voiced: bool, *, before_open: bool) -> None:
        held = self._held
        held.append(frame)
        if voiced:
            self._blip += 1
            if self._blip > BLIP_FRAMES:  # real voice: any quiet stretch is over
                self._quiet = 0
                if self._cut:
                    self._words = True
            else:
                self._quiet += 1
        else:
            self._blip = 0
            self._quiet += 1
        if self._cut:
            if not self._words:
                self._trim()
            return
        if not before_open and self._quiet >= self.quiet_frames:
            # The wake word ended where this quiet stretch began: drop it and everything before.
            self._cut = True
            keep = min(self._quiet, len(held))
            for _ in range(len(held) - keep):
                held.popleft()
            self._trim()

    def _trim(self) -> None:
        """Before the words: keep only the newest ``preroll_frames`` of the quiet."""
        held = self._held
        while len(held) > self.preroll_frames:
            held.popleft()
