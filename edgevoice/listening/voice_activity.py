"""Voice activity: webrtcvad on every frame, with hysteresis so a cough is not a sentence."""

from __future__ import annotations

import webrtcvad

from edgevoice.audio.frames import FRAME_SECONDS, SAMPLE_RATE
from edgevoice.listening.nearfield import NearField

#: ``VoiceActivity.update`` results.
NONE, START, END = 0, 1, 2


class VoiceActivity:
    """Speech starts after ``speech_start_frames`` voiced frames in a row and ends after ``silence_ms``.

    ``update(frame)`` returns ``START``/``END`` on the frame where that becomes known, else ``NONE``;
    ``lag`` then says how many frames earlier it really happened (START: the first voiced frame
    began ``lag`` frames before the end of this one; END: the last voiced frame ended ``lag``
    frames before), so the events can be back-dated.

    With a ``NearField``, a voiced frame far below the level of the person talking to the device
    is background, not speech (``heard`` still says what webrtcvad said).
    """

    __slots__ = ("_vad", "speech_start_frames", "silence_frames", "in_speech", "voiced", "heard", "lag", "_run",
                 "_quiet", "aggressiveness", "near",
                 "talker")

    def __init__(self, aggressiveness: int = 2, speech_start_frames: int = 3, silence_ms: int = 600,
                 near: NearField | None = None) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError(f"VAD aggressiveness {aggressiveness!r} is not 0-3")
        if speech_start_frames < 1 or silence_ms < 10:
            raise ValueError("speech_start_frames must be >= 1 and silence_ms >= 10")
        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)
        self.speech_start_frames = speech_start_frames
        self.silence_frames = max(1, round(silence_ms / 1000 / FRAME_SECONDS))
        self.in_speech = False  #: inside a stretch of speech (after hysteresis)
        self.voiced = False  #: the last frame alone was voiced (by the person talking to the device)
        self.heard = False  #: webrtcvad called the last frame speech (anyone's)
        self.talker = False  #: the last frame was voiced by someone talking to the device, or by its own echo
        self.near = near
        self.lag = 0  #: frames between the last START/END and when it was reported
        self._run = 0  # voiced frames in a row
        self._quiet = 0  # unvoiced frames in a row

    @classmethod
    def from_config(cls, vad) -> VoiceActivity:  # vad: edgevoice.config.listening.VadConfig
        """The detector described by [listening.vad]."""
        near = NearField(vad.near_field_margin_db) if vad.near_field_margin_db > 0 else None
        return cls(vad.aggressiveness, vad.speech_start_frames, vad.silence_ms, near)

    def update(self, frame: bytes, raw: bytes | None = None, tracking: bool = False, masked: bool = False) -> int:
        """Classify one 320-byte frame; returns NONE, START or END.

        ``raw``: the microphone's frame before noise suppression and gain (its level is the one the
        near field compares); ``tracking``: the gate is open, so the near field follows the visitor;
        ``masked``: the frame is no louder than the device's own echo, so it counts as silence
        whatever webrtcvad says (``heard`` keeps that).
        """
        heard = self.heard = self._vad.is_speech(frame, SAMPLE_RATE)
        near = self.near
        talker = self.talker = heard if near is None else near.hear(frame if raw is None else raw, heard, tracking,
                                                                          self.in_speech)
        voiced = self.voiced = talker and not masked
        if voiced:
            self._run += 1
            self._quiet = 0
            if not self.in_speech and self._run >= self.speech_start_frames:
                self.in_speech = True
                self.lag = self._run
                return START
            return NONE
        self._run = 0
        if self.in_speech:
            self._quiet += 1
            if self._quiet >= self.silence_frames:
                self.in_speech = False
                self.lag = self._quiet
                self._quiet = 0
                return END
        return NONE

    def reset(self) -> None:
        """Back to silence (after mute: no speech carries over)."""
        self.in_speech = self.voiced = self.heard = self.talker = False
        self._run = self._quiet = 0
        if self.near is not None:
            self.near.forget()
