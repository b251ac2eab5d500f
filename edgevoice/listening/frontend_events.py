"""What the listening front-end tells the daemon: small frozen dataclasses, one per happening.

Every ``t`` is in seconds of audio-stream time (frames processed x 10 ms), so a WAV file gives
the same events every run. Times that are known only afterwards (when speech started or ended)
are back-dated to when it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

#: Why an utterance ended: silence after speech, too long, or nobody spoke after the gate opened.
EndReason = Literal["silence", "max_length", "no_speech"]


@dataclass(frozen=True, slots=True)
class WakeWordDetected:
    """A wake word was heard; ``t`` is when the detector fired (just after the word ended)."""

    name: str
    probability: float
    t: float


@dataclass(frozen=True, slots=True)
class LocalSpeechStarted:
    """Voice activity started (any time, gate open or not): ``t`` is the first voiced frame."""

    t: float


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """Voice activity ended: ``t`` is the end of the last voiced frame (reported after the silence)."""

    t: float


@dataclass(frozen=True, slots=True)
class UtteranceAudio:
    """Audio to send while the gate is open (10 ms at a time); ``t`` is the end of this audio."""

    pcm: bytes
    t: float


@dataclass(frozen=True, slots=True)
class UtteranceEnded:
    """The gate closed itself: the user finished (``silence``), ran long, or never spoke."""

    reason: EndReason
    t: float


@dataclass(frozen=True, slots=True)
class Muted:
    """The mute switch went on: nothing is processed and the gate is closed until ``Unmuted``."""

    t: float


@dataclass(frozen=True, slots=True)
class Unmuted:
    """The mute switch went off: listening resumes."""

    t: float


@dataclass(frozen=True, slots=True)
class ButtonPressed:
    """The push-to-talk button went down (open the gate like a wake word)."""

    t: float


@dataclass(frozen=True, slots=True)
class ButtonReleased:
    """The push-to-talk button came back up."""

    t: float


ListeningEvent = Union[
    WakeWordDetected,
    LocalSpeechStarted,
    SpeechEnded,
    UtteranceAudio,
    UtteranceEnded,
    Muted,
    Unmuted,
    ButtonPressed,
    ButtonReleased,
]
