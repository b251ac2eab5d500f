"""Where the assistant is in a conversation: the State enum and the immutable Context around it.

The machine in :mod:`edgevoice.assistant.machine` turns ``(Context, event)`` into a new
``Context`` and a list of actions. Everything it needs to remember between events lives here,
in frozen dataclasses, so a context can be logged, compared and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class State(StrEnum):
    """What the assistant is doing, as a user would describe it."""

    IDLE = "idle"  # waiting for the wake word or the button
    LISTENING = "listening"  # the gate is open; the user's words stream to Voice Live
    THINKING = "thinking"  # the utterance is committed; waiting for the reply
    SPEAKING = "speaking"  # the reply is playing
    FOLLOW_UP = "follow_up"  # just replied; speech (no wake word) starts the next turn
    MUTED = "muted"  # the mute switch is on: microphone, gate and session closed
    OFFLINE = "offline"  # the service cannot be reached; cached replies stand in until it is back
    ERROR = "error"  # the service refused us (bad key); waiting before trying again


class SessionStatus(StrEnum):
    """What the machine knows about the Voice Live session."""

    CLOSED = "closed"
    OPENING = "opening"  # asked for; audio sent now is buffered by the shell
    READY = "ready"


class Playing(StrEnum):
    """What the speaker is playing (chimes are fire-and-forget and not tracked)."""

    NOTHING = "nothing"
    REPLY = "reply"  # the assistant's reply, streamed from the session
    CACHED = "cached"  # a cached phrase (offline or error message)


class Led(StrEnum):
    """The LED pattern shown for a state; the [leds] table maps each to a pin."""

    OFF = "off"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    MUTED = "muted"
    OFFLINE = "offline"
    ERROR = "error"


class Timer(StrEnum):
    """The machine's timers; the shell runs them and reports ``TimerFired``."""

    LISTEN = "listen"  # longest a gate stays open for one utterance
    REPLY = "reply"  # longest wait for a reply's first audio, and then for more of it until it is done
    FOLLOW_UP = "follow_up"  # the follow-up window after a reply
    IDLE = "idle"  # quiet time after which the session is closed
    RETRY = "retry"  # how long ERROR lasts before trying the service again
    SPARE = "spare"  # wait before reopening a lost spare session (prewarm)
    LEAVE = "leave"  # the presence sensor has seen nobody this long: the visitor has left


LED_FOR_STATE: MappingProxyType[State, Led] = MappingProxyType(
    {
        State.IDLE: Led.OFF,
        State.LISTENING: Led.LISTENING,
        State.FOLLOW_UP: Led.LISTENING,
        State.THINKING: Led.THINKING,
        State.SPEAKING: Led.SPEAKING,
        State.MUTED: Led.MUTED,
        State.OFFLINE: Led.OFFLINE,
        State.ERROR: Led.ERROR,
    }
)


@dataclass(frozen=True, slots=True)
class Turn:
    """One user utterance: how it started and what has been heard so far."""

    trigger: str = ""  # "wake", "button", "follow_up", "vad" / "server" (barge-in)
    heard_speech: bool = False  # the device's VAD heard speech in this utterance
    server_heard: bool = False  # the server's VAD reported speech_started
    button_held: bool = False  # push-to-talk is down: the release ends the utterance
    failure: str = ""  # a SessionFailed kind that arrived while the user was still talking
    device_ended: bool = False  # the device's endpointer ended it; the server's has not yet (server mode)


@dataclass(frozen=True, slots=True)
class Reply:
    """The assistant item being played, for barge-in truncation."""

    response_id: str
    item_id: str
    start_ms: float = 0.0  # where this item starts on the speaker's played_ms clock
    received_ms: float = 0.0  # audio of this item received so far
    active: bool = True  # the server has not sent response.done yet


@dataclass(frozen=True, slots=True)
class PendingTruncate:
    """A barge-in stopped playback; truncate this item once the shell reports ms played."""

    item_id: str
    start_ms: float
    received_ms: float


@dataclass(frozen=True, slots=True)
class ToolRound:
    """The function calls of one response: the reply goes on once they are all answered and it is done."""

    response_id: str
    running: tuple[str, ...] = ()  # call ids sent to the shell, not finished yet
    response_done: bool = False  # its response.done (completed) has arrived
    answered: bool = False  # outputs sent and the reply asked for, while what came before the call plays


@dataclass(frozen=True, slots=True)
class ConnectHold:
    """Connecting is held off now: what to report instead (a SessionFailed ``kind`` value and why).

    ``spare_only``: only a spare session waits (a backoff runs until the next check finds the
    service); a person waiting connects anyway. Else nothing connects (the service's Retry-After).
    """

    kind: str
    detail: str = ""
    spare_only: bool = False


@dataclass(frozen=True, slots=True)
class Context:
    """Everything the machine remembers between two events (immutable; replaced each step)."""

    state: State = State.IDLE
    session: SessionStatus = SessionStatus.CLOSED
    session_used: bool = False  # audio has gone to this session (so idling closes it)
    gate_open: bool = False  # the front-end's gate is open and its audio is streamed
    turn: Turn = Turn()
    reply: Reply | None = None
    total_received_ms: float = 0.0  # reply audio handed to the speaker since the reply began
    played_ms: float = 0.0  # last PlaybackProgress
    reply_checked_ms: float = 0.0  # total_received_ms when the reply timer last found the reply still coming
    pending_truncate: PendingTruncate | None = None
    stale_responses: tuple[str, ...] = ()  # responses whose late audio is dropped
    playing: Playing = Playing.NOTHING
    outage: str = ""  # a FailureKind value while the service is known to be unreachable ("" = reachable)
    answering: str = ""  # the FailureKind value of a turn whose question is being recognised offline ("" = none)
    timers: tuple[tuple[Timer, int], ...] = ()  # running timers as (name, id)
    next_timer_id: int = 1
    tools: ToolRound | None = None  # function calls of the reply in progress
    ending: bool = False  # end_conversation was called: reset once the reply has played
    hold: ConnectHold | None = None  # connecting is held off (HoldChanged): connects are refused, not tried
    switch_muted: bool = False  # the mute switch is on (it wins over a MuteRequested)
    announcements: tuple[str, ...] = ()  # texts to say once the current turn is over, in order
    announcing: str = ""  # the announcement being said now ("" = none)
    present: bool = False  # the presence sensor sees someone now
    visitor: bool = False  # someone arrived and has not been gone for presence leave_s yet (greeted once)
    turns: int = 0  # turns committed to this session's conversation
    context_tokens: int = 0  # the largest input a reply of this session's conversation read (tokens)
    budget: str = "ok"  # the daily budget's level (a BudgetLevel value)
