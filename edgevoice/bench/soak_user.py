"""The person a soak puts in front of the daemon: a frame source that talks when the daemon is ready.

:class:`SoakUser` is what the microphone would hear: a quiet room, and now and then a person
speaking one of the turns of its script (:class:`Move`) -- "okay nabu, <question>" once the
assistant is idle, a question without the wake word in the follow-up window, a question over a
reply that has just started (barge-in), a question with the push-to-talk button held, or nothing
until the idle timeout has closed the session and a fresh one is open. Like a person, it waits
for the assistant rather than for a fixed moment: it learns the assistant's state from the
daemon's milestones (:class:`DaemonWatch`, a telemetry listener), so however long a reply takes,
each turn starts when it should and the next one is never spoken over the last by accident.

Its audio runs at up to ``speed`` times real time and it is the daemon's clock: :meth:`clock` is
the time of the audio delivered so far, so the follow-up window and the idle timeout keep to the
audio at any speed. While the daemon waits for the service (a reply, a connect), which happens in
real time, the audio runs at real time too: a wait of 20 ms stays 20 ms of audio, and the reply
timeout means what it means with a microphone. It never runs more than ``max_lead`` frames ahead
of what the daemon has processed (a daemon that falls behind slows the soak down instead of
piling frames up in memory).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from edgevoice.audio.frames import FRAME_BYTES, FRAME_SAMPLES, FRAME_SECONDS, SourceStatus
from edgevoice.bench.audio import RATE, ROOM_DBFS, SPEECH_DBFS, Voice, pink_noise
from edgevoice.bench.conversations import PAUSE_AFTER_WAKE_S, QUESTIONS, WAKE

logger = logging.getLogger(__name__)

BARGE_IN_DBFS = SPEECH_DBFS + 6  # someone talking over the assistant leans in and speaks up
ROOM_LOOP_S = 3.0  # the room noise repeats after this long
ANSWER_GAP_S = 0.25  # how long the person takes to start a turn once the assistant is ready
BARGE_IN_AFTER_S = 0.3  # how far into a reply the person interrupts it
BUTTON_TAIL_S = 0.2  # the button is let go this long after the last word


class Move(StrEnum):
    """One step of a soak script."""

    WAKE = "wake"  # "okay nabu ... <question>" once the assistant is idle
    FOLLOW_UP = "follow_up"  # "<question>" in the follow-up window, no wake word
    BARGE_IN = "barge_in"  # "<question>" shortly after a reply starts to play
    BUTTON = "button"  # "<question>" with the push-to-talk button held, once idle
    NEW_SESSION = "new_session"  # silence until the idle timeout closed the session and a fresh one opened
    RELOAD = "reload"  # the config is reloaded (SIGHUP) between turns; silence until a fresh session opened

    @property
    def is_turn(self) -> bool:
        return self not in (Move.NEW_SESSION, Move.RELOAD)


class DaemonWatch:
    """What the daemon is doing, from its milestones (add it as a telemetry listener).

    Keeps counters, never lists: it lives in the process whose memory the soak measures.
    """

    def __init__(self) -> None:
        self.state = "idle"
        self.turn = 0  # the telemetry's turn number
        self.playing_turn = -1  # the last turn whose reply started to play
        self.answered = 0  # turns whose reply started to play
        self.barge_ins = 0
        self.errors = 0
        self.cached_replies = 0
        self.last_error = ""

    def __call__(self, record: dict[str, Any]) -> None:
        event = record["event"]
        if event == "state":
            self.state = str(record.get("state", ""))
            self.turn = int(record["turn"])
        elif event == "playback_start":
            turn = int(record["turn"])
            if turn != self.playing_turn:
                self.playing_turn = turn
                self.answered += 1
        elif event == "barge_in":
            self.barge_ins += 1
        elif event == "error":
            self.errors += 1
            self.last_error = f"turn {record['turn']}: {record.get('code')}: {record.get('message')}"[:300]
        elif event == "offline_reply":
            self.cached_replies += 1

    @property
    def reply_playing(self) -> bool:
        """The current turn's reply is playing."""
        return self.state == "speaking" and self.playing_turn == self.turn


class StuckError(RuntimeError):
    """The daemon never became ready for the next turn; the message says what was awaited."""


@dataclass(frozen=True)
class UserHooks:
    """How the person reaches the daemon besides the microphone, and who watches them."""

    heard: Callable[[], int]  # frames the daemon has processed so far
    sessions_opened: Callable[[], int]  # Voice Live sessions opened so far
    button: Callable[[bool], None] = lambda down: None  # push-to-talk pressed (True) or released
    reload: Callable[[], None] = lambda: None  # ask for the config to be reloaded (what SIGHUP does)
    awaiting_service: Callable[[], bool] = lambda: False  # the daemon waits for Voice Live (a reply, a connect)
    between_turns: Callable[[int], None] = lambda index: None  # before turn ``index`` (0-based); len(script) at the end


class SoakUser:
    """A frame source speaking ``script`` to the daemon, each turn when the daemon is ready for it."""

    def __init__(
        self,
        script: Sequence[Move],
        watch: DaemonWatch,
        hooks: UserHooks,
        *,
        voice: Voice | None = None,
        speed: float = 20.0,
        max_lead: int = 8,
        patience_s: float = 60.0,
        seed: int = 8,
    ) -> None:
        self.script = tuple(script)
        self.watch = watch
        self.hooks = hooks
        self.speed = speed  # at most this many times real time; 0: as fast as the daemon listens
        self.max_lead = max_lead
        self.patience_s = patience_s  # of audio: how long to wait for the daemon before giving up
        self.sent = 0  # frames delivered
        self.turns_spoken = 0
        self.stuck: str | None = None  # why the script was abandoned, if it was
        self._origin = time.monotonic()
        self._closed = threading.Event()
        self._status = SourceStatus("opening", device="soak")
        rng = np.random.default_rng(seed)
        room = pink_noise(int(ROOM_LOOP_S * RATE), ROOM_DBFS, rng)
        self._room = _pcm(room)
        self._room_at = 0
        voice = voice or Voice()
        self._speech = _Utterances(voice, room)
        self._due = 0.0

    # --- the daemon's view ---------------------------------------------------------------

    @property
    def status(self) -> SourceStatus:
        return self._status

    def clock(self) -> float:
        """The time of the audio delivered so far (monotonic when the soak started, plus the audio)."""
        return self._origin + self.sent * FRAME_SECONDS

    @property
    def audio_s(self) -> float:
        return self.sent * FRAME_SECONDS

    def frames(self) -> Iterator[bytes]:
        """The room and the script's turns, paced; ends after the last reply (or when stuck)."""
        self._status = SourceStatus("listening", device="soak")
        self._due = time.monotonic()  # when the next frame is due
        try:
            for frame in self._script():
                self._pace()
                if self._closed.is_set():
                    break
                self.sent += 1
                yield frame
        except StuckError as exc:
            self.stuck = str(exc)
            logger.error("soak: %s", exc)
        self._status = SourceStatus("closed" if self._closed.is_set() else "finished", device="soak")

    def close(self) -> None:
        self._closed.set()

    # --- the script ----------------------------------------------------------------------------

    def _script(self) -> Iterator[bytes]:
        hooks = self.hooks
        yield from self._wait_for_session(0)
        for index, move in enumerate(self.script):
            if not move.is_turn:
                opened = hooks.sessions_opened()
                if move is Move.RELOAD:
                    hooks.reload()
                yield from self._wait_for_session(opened)
                continue
            ready = _READY[move]
            yield from self._wait(lambda: ready(self.watch), f"{_WHAT[move]} before turn {index + 1} ({move.value})")
            if move is not Move.BARGE_IN:
                hooks.between_turns(index)  # the daemon rests between turns: a fair moment to measure it
            yield from self._room_frames(BARGE_IN_AFTER_S if move is Move.BARGE_IN else ANSWER_GAP_S)
            if move is Move.BUTTON:
                hooks.button(True)
            yield from self._speech.frames(move, self.turns_spoken)
            if move is Move.BUTTON:
                yield from self._room_frames(BUTTON_TAIL_S)
                hooks.button(False)
            self.turns_spoken += 1
        # The last reply plays out; then the input ends and the daemon settles.
        yield from self._wait(lambda: self.watch.state in ("idle", "follow_up"), "the last reply to end")
        hooks.between_turns(len(self.script))

    def _wait_for_session(self, opened_before: int) -> Iterator[bytes]:
        """Room noise until a session newer than the ``opened_before`` first ones is open, the daemon idle."""
        yield from self._wait(lambda: self.hooks.sessions_opened() > opened_before and self.watch.state == "idle",
                              "a fresh Voice Live session")

    def _wait(self, ready: Callable[[], bool], what: str) -> Iterator[bytes]:
        limit = self.sent + int(self.patience_s / FRAME_SECONDS)
        while not ready():
            if self.sent >= limit:
                raise StuckError(f"waited {self.patience_s:.0f} s of audio for {what}; the assistant stayed "
                                 f"{self.watch.state} (turn {self.watch.turn})")
            yield self._room_frame()

    def _room_frames(self, seconds: float) -> Iterator[bytes]:
        for _ in range(round(seconds / FRAME_SECONDS)):
            yield self._room_frame()

    def _room_frame(self) -> bytes:
        at = self._room_at
        self._room_at = (at + FRAME_BYTES) % len(self._room)
        return self._room[at : at + FRAME_BYTES]

    # --- pacing --------------------------------------------------------------------------------

    def _pace(self) -> None:
        """At most ``speed`` x real time (real time while the daemon waits for the service), and never
        more than ``max_lead`` frames ahead of the daemon."""
        speed = 1.0 if self.hooks.awaiting_service() else self.speed
        if speed > 0:
            now = time.monotonic()
            # After a slow spell (the daemon, or this machine, was busy) carry on from now: no rush to catch up.
            self._due = max(self._due, now - 0.05) + FRAME_SECONDS / speed
            if self._due - now > 0.002:  # sleeping for less overshoots: run a little ahead instead
                self._closed.wait(self._due - now)
        heard = self.hooks.heard
        while self.sent - heard() >= self.max_lead and not self._closed.is_set():
            self._closed.wait(0.001)


_READY: dict[Move, Callable[[DaemonWatch], bool]] = {
    Move.WAKE: lambda w: w.state == "idle",
    Move.BUTTON: lambda w: w.state == "idle",
    Move.FOLLOW_UP: lambda w: w.state == "follow_up",
    Move.BARGE_IN: lambda w: w.reply_playing,
}
_WHAT = {
    Move.WAKE: "the assistant to be idle",
    Move.BUTTON: "the assistant to be idle",
    Move.FOLLOW_UP: "the follow-up window",
    Move.BARGE_IN: "a reply to interrupt",
}


class _Utterances:
    """Every turn's words, rendered once, over the room: "okay nabu ... <question>" or a question alone."""

    def __init__(self, voice: Voice, room: np.ndarray) -> None:
        wake = voice.say(WAKE)
        pause = np.zeros(int(PAUSE_AFTER_WAKE_S * RATE), np.float32)
        self._pcm: dict[tuple[bool, float, int], bytes] = {}
        for i, question in enumerate(QUESTIONS):
            asked = voice.say(question)
            for dbfs in (SPEECH_DBFS, BARGE_IN_DBFS):
                self._pcm[(False, dbfs, i)] = _over_room(_at_level(asked, dbfs), room)
            self._pcm[(True, SPEECH_DBFS, i)] = _over_room(
                np.concatenate([_at_level(wake, SPEECH_DBFS), pause, _at_level(asked, SPEECH_DBFS)]), room)

    def frames(self, move: Move, n: int) -> Iterator[bytes]:
        """The words of the ``n``-th turn (the question changes from turn to turn)."""
        dbfs = BARGE_IN_DBFS if move is Move.BARGE_IN else SPEECH_DBFS
        pcm = self._pcm[(move is Move.WAKE, dbfs, n % len(QUESTIONS))]
        for at in range(0, len(pcm), FRAME_BYTES):
            yield pcm[at : at + FRAME_BYTES]


def _at_level(speech: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) or 1.0
    return (speech * (10 ** (dbfs / 20) / rms)).astype(np.float32)


def _over_room(speech: np.ndarray, room: np.ndarray) -> bytes:
    """Speech over the room's noise, padded to whole frames."""
    n = -(-len(speech) // FRAME_SAMPLES) * FRAME_SAMPLES
    mixed = np.resize(room, n).astype(np.float32)
    mixed[: len(speech)] += speech
    return _pcm(mixed)


def _pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


__all__ = ["DaemonWatch", "Move", "SoakUser", "StuckError", "UserHooks"]
