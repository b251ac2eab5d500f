"""What the assistant asks the shell to do, in order.

The shell carries out a step's actions in the order given. Session-bound actions (audio
streamed through the gate, Commit, RequestResponse, ClearInput, CancelResponse, Truncate) go
through one first-in-first-out outbox: while the session is still opening the shell buffers
them and sends them, in order, as soon as it is ready, so nothing said during a cold connect
is lost. When the session fails the outbox is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from edgevoice.assistant import events as E
from edgevoice.assistant.state import Led, Timer
from edgevoice.config.offline import Phrase  # the phrase keys live with their texts


class Chime(StrEnum):
    """The short sounds in edgevoice/data/chimes/."""

    WAKE = "wake"  # the device is listening
    END = "end"  # the device stopped listening


class Mark(StrEnum):
    """Names of the milestones written to the events file (telemetry)."""

    WAKE = "wake"
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"
    AUDIO_SENT = "audio_sent"  # the shell marks this: only it sees the first chunk leave
    COMMIT = "commit"
    REPLY_AUDIO_FIRST = "reply_audio_first"
    PLAYBACK_START = "playback_start"
    PLAYBACK_END = "playback_end"
    BARGE_IN = "barge_in"
    OFFLINE_REPLY = "offline_reply"
    CACHED_PLAYBACK_START = "cached_playback_start"  # a cached phrase became audible
    STATE = "state"
    ERROR = "error"
    TOOL_CALL = "tool_call"  # a tool the model called was answered: name, ms, sources
    ANNOUNCE = "announce"  # an announcement (say, a presence greeting) starts: via session or local
    PRESENCE = "presence"  # a visitor arrived or left
    CONTEXT_RESET = "context_reset"  # a context limit was reached: the next turn starts a fresh session
    BUDGET = "budget"  # the daily budget's level changed: level, previous, over_budget


@dataclass(frozen=True, slots=True)
class Action:
    """Base class of everything the machine returns."""


# --- the gate and the session ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenGate(Action):
    """Let microphone audio through the gate, starting with the pre-roll kept before the wake word."""

    pre_roll: bool = True


@dataclass(frozen=True, slots=True)
class HoldForWords(Action):
    """The wake word was said with the gate already open: what it let through is dropped (see
    ClearInput) and, from now, the audio is held until the person's words start, as after a wake
    word with the gate closed (the wake word's tail never goes out)."""


@dataclass(frozen=True, slots=True)
class CloseGate(Action):
    """Stop letting microphone audio through (nothing leaves the device until the next OpenGate)."""


@dataclass(frozen=True, slots=True)
class StartStreaming(Action):
    """Send the gate's audio to the session (buffered in the outbox while the session opens)."""


@dataclass(frozen=True, slots=True)
class StopStreaming(Action):
    """Stop sending audio to the session."""


@dataclass(frozen=True, slots=True)
class OpenSession(Action):
    """Make sure a session is open or opening (no-op for the shell if one is)."""


@dataclass(frozen=True, slots=True)
class OpenSpareSession(Action):
    """Open a fresh session in the background so the next wake finds it warm."""


@dataclass(frozen=True, slots=True)
class CloseSession(Action):
    """Close the session (its conversation is forgotten; the next person starts afresh).

    ``carry_summary``: a context limit ended it; the next session starts with the last exchange, as text.
    """

    carry_summary: bool = False


@dataclass(frozen=True, slots=True)
class UseModel(Action):
    """Open sessions from now on with the cheaper model (``cheaper``) or the configured one again."""

    cheaper: bool


@dataclass(frozen=True, slots=True)
class Commit(Action):
    """Commit the streamed audio as the user's turn (input_audio_buffer.commit)."""


@dataclass(frozen=True, slots=True)
class RequestResponse(Action):
    """Ask for the reply (response.create)."""


@dataclass(frozen=True, slots=True)
class ClearInput(Action):
    """Forget audio streamed or buffered since the last commit (input_audio_buffer.clear)."""


@dataclass(frozen=True, slots=True)
class CancelResponse(Action):
    """Cancel the response in progress (response.cancel); ``None``: whichever is in progress."""

    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class Truncate(Action):
    """Tell the server how much of an assistant item was heard (conversation.item.truncate)."""

    item_id: str
    audio_end_ms: int


# --- tools ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunTool(Action):
    """Run the tool the model called, off the loop; report ToolFinished (within the tools' timeout)."""

    call_id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True, slots=True)
class SendToolOutput(Action):
    """Answer a function call (conversation.item.create with a function_call_output item)."""

    call_id: str
    output: str


# --- the speaker ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayAudio(Action):
    """Queue a chunk of the reply on the speaker (playback starts with the first chunk)."""

    response_id: str
    item_id: str
    pcm: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class FinishPlayback(Action):
    """No more audio is coming for this reply; report PlaybackFinished once it has played."""


@dataclass(frozen=True, slots=True)
class StopPlayback(Action):
    """Silence the speaker now and report PlaybackStopped(ms played of the reply)."""


@dataclass(frozen=True, slots=True)
class PlayCached(Action):
    """Play a cached phrase instead of a live reply; report PlaybackFinished when done.

    ``after_reply``: queue it after the reply audio already received (a reply cut off mid-way
    ends with the phrase, not with silence) instead of cutting what is playing.
    """

    key: Phrase
    after_reply: bool = False


@dataclass(frozen=True, slots=True)
class RecogniseQuestion(Action):
    """Recognise the turn's question on the device (the service cannot answer); report OfflineHeard."""


@dataclass(frozen=True, slots=True)
class PlayAnswer(Action):
    """Play the cached answer ``answer`` (an [[offline.answers]] id); report PlaybackFinished when done."""

    answer: str


@dataclass(frozen=True, slots=True)
class SpeakText(Action):
    """Ask the session to speak ``text`` as it is (response.create with pre_generated_assistant_message);
    its audio comes back as a reply."""

    text: str


@dataclass(frozen=True, slots=True)
class PlayText(Action):
    """Play ``text`` on the device: a cached phrase with that text, else the local voice; report
    PlaybackFinished when done (an announcement while the service cannot be used)."""

    text: str


@dataclass(frozen=True, slots=True)
class PlayChime(Action):
    """Play a short chime over whatever is playing (no playback events)."""

    name: Chime


# --- feedback, the microphone, timers, telemetry ----------------------------------------


@dataclass(frozen=True, slots=True)
class SetLeds(Action):
    """Show this LED pattern."""

    led: Led


@dataclass(frozen=True, slots=True)
class SetMicrophone(Action):
    """Capture from the microphone (``on``) or stop capturing altogether (mute switch)."""

    on: bool


@dataclass(frozen=True, slots=True)
class RefuseConnect(Action):
    """A session was wanted while connecting is held off: none is opened; report ``failure`` back."""

    failure: E.SessionFailed


@dataclass(frozen=True, slots=True)
class StartTimer(Action):
    """Start (or restart) a timer; report TimerFired(name, timer_id) after ``seconds``."""

    name: Timer
    seconds: float
    timer_id: int


@dataclass(frozen=True, slots=True)
class CancelTimer(Action):
    """Cancel a running timer (a TimerFired already queued for it is ignored by the machine)."""

    name: Timer
    timer_id: int


@dataclass(frozen=True, slots=True)
class Telemetry(Action):
    """Write a milestone to the events file (and the debug log)."""

    name: Mark
    detail: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
