"""What the assistant reacts to: events from the front-end, the session, the speaker and timers.

These are the machine's own vocabulary. The shell translates the listening front-end's events,
the Voice Live session's typed server events, the speaker's callbacks and fired timers into
them, so the machine depends on none of those modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from edgevoice.assistant.state import ConnectHold, Timer
from edgevoice.cost.budget import BudgetLevel
from edgevoice.cost.usage import Tokens

NO_SPEECH = "no_speech"  # UtteranceEnd.reason when the gate opened and nobody spoke


class FailureKind(StrEnum):
    """Why the session could not be had."""

    OFFLINE = "offline"  # network down, DNS, TLS, no answer in time, connection dropped
    AUTH = "auth"  # 401/403: the key or token is refused; retrying soon will not help
    THROTTLED = "throttled"  # 429 or quota: try again later
    SERVICE = "service"  # the service answers but fails: 5xx, a broken handshake, the session refused
    RESTING = "resting"  # the day's budget is spent (cost.over_budget = cached_only): no session is opened


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of everything :func:`edgevoice.assistant.machine.step` accepts."""


# --- the listening front-end and the buttons -------------------------------------------


@dataclass(frozen=True, slots=True)
class Wake(Event):
    """A wake word was heard (the front-end keeps the audio before it as pre-roll).

    ``drowned``: it was heard while the device's own sound played, no louder than that sound coming
    back (maybe a reply that says the wake word, or sounds like it): it does not count.
    """

    name: str = ""
    drowned: bool = False


@dataclass(frozen=True, slots=True)
class PushToTalk(Event):
    """The push-to-talk button went down (``pressed``) or up."""

    pressed: bool


@dataclass(frozen=True, slots=True)
class MuteChanged(Event):
    """The mute switch moved."""

    muted: bool


@dataclass(frozen=True, slots=True)
class MuteRequested(Event):
    """A script asked to mute or unmute (the control socket); the mute switch, when on, wins."""

    muted: bool


@dataclass(frozen=True, slots=True)
class PresenceChanged(Event):
    """The presence sensor saw someone in front of the kiosk (``present``) or nobody any more."""

    present: bool


@dataclass(frozen=True, slots=True)
class Announce(Event):
    """Say ``text`` in the assistant's voice (the control socket's ``say``); ``interrupt`` stops the
    current turn first, else it waits until the turn is over."""

    text: str
    interrupt: bool = False


@dataclass(frozen=True, slots=True)
class SpeechStart(Event):
    """The device's VAD heard speech begin.

    ``vad_only``: the VAD alone heard it, not judged against the device's own echo. Over a reply
    (barge-in by VAD) only speech the echo guard found louder than the echo (``vad_only`` False) counts.
    """

    vad_only: bool = False


@dataclass(frozen=True, slots=True)
class SpeechEnd(Event):
    """The device's VAD heard speech stop (the utterance may go on)."""


@dataclass(frozen=True, slots=True)
class UtteranceEnd(Event):
    """The front-end's endpointer decided the utterance is over; ``reason`` NO_SPEECH if nobody spoke."""

    reason: str = "silence"


# --- the Voice Live session ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionReady(Event):
    """The session is open and configured (session.updated received)."""


@dataclass(frozen=True, slots=True)
class SessionFailed(Event):
    """The session could not be opened (the service is unreachable), or an open one was ``lost``."""

    kind: FailureKind = FailureKind.OFFLINE
    detail: str = ""
    retry_after: float | None = None  # seconds the service asked us to wait (HTTP 429/503 Retry-After)
    lost: bool = False  # an open session ended (dropped, went silent), rather than a connect failing
    held: bool = False  # no connect was tried: the machine refused it while connecting is held off


@dataclass(frozen=True, slots=True)
class HoldChanged(Event):
    """Whether connecting is held off changed (the service's Retry-After, the offline backoff)."""

    hold: ConnectHold | None = None


@dataclass(frozen=True, slots=True)
class ServiceBack(Event):
    """The background check reached the service again after it could not be reached."""


@dataclass(frozen=True, slots=True)
class CredentialsChanged(Event):
    """The credential that failed (refused, or a key file that could not be used) is different now."""


@dataclass(frozen=True, slots=True)
class ServiceUnreachable(Event):
    """The background check could not reach the service (after a session was lost, say)."""

    kind: FailureKind = FailureKind.OFFLINE
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ServerSpeechStarted(Event):
    """Server turn detection heard speech begin (input_audio_buffer.speech_started)."""


@dataclass(frozen=True, slots=True)
class ServerSpeechStopped(Event):
    """Server turn detection ended the utterance (speech_stopped, then it commits by itself)."""


@dataclass(frozen=True, slots=True)
class ReplyAudio(Event):
    """A chunk of the reply's audio (response.audio.delta), decoded; ``ms`` is its length."""

    response_id: str
    item_id: str
    ms: float
    pcm: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class ReplyDone(Event):
    """The response ended (response.done): completed, cancelled, failed or incomplete."""

    response_id: str
    status: str = "completed"
    reason: str = ""  # status_details.reason, e.g. "turn_detected" when the server cancelled
    context_tokens: int = 0  # the response's input tokens: the conversation the model read (usage)
    usage: Tokens | None = None  # its token usage by billing kind (the shell's ledger counts it)
    usage_problem: str = ""  # why the usage the server sent cannot be counted ("" = fine, or none sent)


@dataclass(frozen=True, slots=True)
class ServiceError(Event):
    """The service failed the current turn (an error the session could not shrug off)."""

    code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class BudgetChanged(Event):
    """The day's spending moved to another level of the daily budget (or back to OK after midnight)."""

    level: BudgetLevel


# --- tools the model calls --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCallRequested(Event):
    """The model called a function (response.function_call_arguments.done)."""

    response_id: str
    call_id: str
    name: str
    arguments: str = "{}"  # JSON text, as the model wrote it (maybe malformed)


@dataclass(frozen=True, slots=True)
class ToolFinished(Event):
    """A tool the shell ran (after RunTool) is done, failed or timed out; ``output`` is JSON text."""

    call_id: str
    name: str
    output: str
    ms: float = 0.0
    sources: tuple[str, ...] = ()  # the knowledge files it used
    ok: bool = True
    ends_conversation: bool = False  # end_conversation: reset once the reply has played


@dataclass(frozen=True, slots=True)
class OfflineHeard(Event):
    """The offline recogniser's verdict on the question (after RecogniseQuestion): the configured
    ``answer`` that fits ("" = none fits well enough: apologise), what it heard, and the match score."""

    answer: str = ""
    heard: str = ""
    score: float = 0.0


# --- the speaker -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaybackStarted(Event):
    """The first audio of the reply reached the speaker."""


@dataclass(frozen=True, slots=True)
class PlaybackProgress(Event):
    """How much of the current reply has been played so far."""

    ms_played: float


@dataclass(frozen=True, slots=True)
class PlaybackStopped(Event):
    """The shell stopped playback (after StopPlayback) having played ``ms_played`` of the reply."""

    ms_played: float


@dataclass(frozen=True, slots=True)
class PlaybackFinished(Event):
    """Everything queued (after FinishPlayback, or a cached phrase) has been played."""


# --- timers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimerFired(Event):
    """A timer started with StartTimer ran out; ``timer_id`` is echoed from the action."""

    name: Timer
    timer_id: int
