"""When an utterance is over: silence after speech, too long, or nobody spoke. Pure logic, no audio."""

from __future__ import annotations

from edgevoice.audio.frames import FRAME_SECONDS
from edgevoice.listening.frontend_events import EndReason
from edgevoice.listening.voice_activity import END, START

#: Speech already going on when the gate opened (the wake word itself, usually) counts as the
#: user's utterance only after this many more voiced frames: "okay nabu what time is it" said in
#: one breath carries on; "okay nabu ... what time is it" waits for the new speech.
CARRY_FRAMES = 20

WAITING, CARRY, SPEAKING = "waiting", "carry", "speaking"


class Endpointer:
    """Follows one open gate frame by frame and says when and why the utterance ended.

    Feed ``step(voiced, transition)`` once per frame with the VAD's verdicts; it returns an
    ``EndReason`` on the frame the utterance ends, else None. Time is counted in frames.
    """

    __slots__ = ("max_frames", "no_speech_frames", "state", "frames", "_carried")

    def __init__(self, max_utterance_s: float = 15.0, no_speech_timeout_s: float = 5.0) -> None:
        self.max_frames = max(1, round(max_utterance_s / FRAME_SECONDS))
        self.no_speech_frames = max(1, round(no_speech_timeout_s / FRAME_SECONDS))
        self.state = WAITING
        self.frames = 0
        self._carried = 0

    def start(self, in_speech: bool) -> None:
        """The gate just opened; ``in_speech``: the VAD is inside speech right now."""
        self.state = CARRY if in_speech else WAITING
        self.frames = 0
        self._carried = 0

    @property
    def heard_speech(self) -> bool:
        """The user has started speaking since the gate opened."""
        return self.state == SPEAKING

    def step(self, voiced: bool, transition: int) -> EndReason | None:
        """One frame with the gate open."""
        self.frames += 1
        state = self.state
        if state == SPEAKING:
            if transition == END:
                return "silence"
        elif state == WAITING:
            if transition == START:
                self.state = SPEAKING
            elif self.frames >= self.no_speech_frames:
                return "no_speech"
        else:  # CARRY
            if transition == END:
                self.state = WAITING
            elif voiced:
                self._carried += 1
                if self._carried >= CARRY_FRAMES:
                    self.state = SPEAKING
            if self.state != SPEAKING and self.frames >= self.no_speech_frames:
                return "no_speech"
        if self.frames >= self.max_frames:
            return "max_length"
        return None
