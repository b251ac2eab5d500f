"""Carrying the machine's actions out: a table from action type to the handler that does it.

The handlers decide nothing: each does what its action says, on the parts an
:class:`ActionTarget` offers (the daemon's, or a test shell's on a model clock). An action may
cause an event right away (the speaker stopped: how much was heard); :func:`execute` returns them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.daemon.link import SessionLink
from edgevoice.daemon.timers import Timers
from edgevoice.playback.output import ReplyOutput
from edgevoice.playback.sound import Sound

logger = logging.getLogger(__name__)


class ActionTarget(Protocol):
    """What the handlers act on: the session, the speaker, the timers, and the device's other parts."""

    link: SessionLink
    speaker: ReplyOutput
    timers: Timers

    def now(self) -> float: ...

    def open_gate(self, action: A.OpenGate, at: float) -> None: ...

    def hold_for_words(self) -> None: ...

    def close_gate(self) -> None: ...

    def run_tool(self, action: A.RunTool) -> None: ...

    def reply_audio(self, pcm: bytes) -> None: ...

    def cached_sound(self, key: str) -> Sound: ...

    def recognise_question(self) -> None: ...

    def answer_sound(self, answer: str) -> Sound: ...

    def text_sound(self, text: str) -> Sound: ...

    def set_listening(self, on: bool) -> None: ...

    def played_cached(self, at: float, **what: str) -> None: ...

    def close_session(self, carry_summary: bool) -> None: ...

    def use_model(self, cheaper: bool) -> None: ...

    def chime(self, name: A.Chime) -> Sound | None: ...

    def show_leds(self, action: A.SetLeds) -> None: ...

    def mark(self, action: A.Telemetry, at: float) -> None: ...


Handler = Callable[[ActionTarget, A.Action, float], "E.Event | None"]


def _open_gate(t: ActionTarget, action: A.OpenGate, at: float) -> None:
    t.open_gate(action, at)


def _open_session(t: ActionTarget, _action: A.Action, _at: float) -> None:
    t.link.open()  # the machine looked at the hold-off first (RefuseConnect instead)


def _stop_playback(t: ActionTarget, _action: A.StopPlayback, _at: float) -> E.Event:
    return E.PlaybackStopped(t.speaker.stop())


def _play_audio(t: ActionTarget, action: A.PlayAudio, _at: float) -> None:
    t.speaker.play(action.pcm, t.link.output_rate)
    t.reply_audio(action.pcm)


def _play_cached(t: ActionTarget, action: A.PlayCached, at: float) -> None:
    sound = t.cached_sound(action.key)
    if not action.after_reply:  # else: it follows what arrived of a reply that died
        t.speaker.stop()
    t.speaker.play(sound.pcm, sound.rate)
    t.speaker.finish()
    t.played_cached(at, phrase=action.key.value)


def _play_answer(t: ActionTarget, action: A.PlayAnswer, at: float) -> None:
    sound = t.answer_sound(action.answer)
    t.speaker.stop()
    t.speaker.play(sound.pcm, sound.rate)
    t.speaker.finish()
    t.played_cached(at, answer=action.answer)


def _play_chime(t: ActionTarget, action: A.PlayChime, _at: float) -> None:
    chime = t.chime(action.name)
    if chime is not None:
        t.speaker.play_sound(chime.pcm, chime.rate)


def _play_text(t: ActionTarget, action: A.PlayText, _at: float) -> None:
    sound = t.text_sound(action.text)  # a cached phrase with that text, else the local voice
    t.speaker.stop()
    t.speaker.play(sound.pcm, sound.rate)
    t.speaker.finish()


def _set_microphone(t: ActionTarget, action: A.SetMicrophone, _at: float) -> None:
    # The microphone stays open while muted: the front-end drops frames unprocessed, so the switch
    # is noticed at once and the watchdog still sees the capture alive.
    t.set_listening(action.on)
    logger.info("microphone %s", "on" if action.on else "muted")


def _refuse_connect(_t: ActionTarget, action: A.RefuseConnect, _at: float) -> E.Event:
    logger.info("not connecting now: %s", action.failure.detail)
    return action.failure  # the machine hears the refusal right after the step that wanted the session


def _start_timer(t: ActionTarget, action: A.StartTimer, _at: float) -> None:
    t.timers.start(action.name, action.timer_id, action.seconds, t.now())


HANDLERS: Mapping[type[A.Action], Handler] = MappingProxyType({
    A.StartStreaming: lambda t, a, at: t.link.start_streaming(),
    A.OpenGate: _open_gate,
    A.HoldForWords: lambda t, a, at: t.hold_for_words(),
    A.CloseGate: lambda t, a, at: t.close_gate(),
    A.StopStreaming: lambda t, a, at: t.link.stop_streaming(),
    A.OpenSession: _open_session,
    A.OpenSpareSession: _open_session,
    A.CloseSession: lambda t, a, at: t.close_session(a.carry_summary),
    A.UseModel: lambda t, a, at: t.use_model(a.cheaper),
    A.Commit: lambda t, a, at: t.link.commit(),
    A.RequestResponse: lambda t, a, at: t.link.request_response(),
    A.ClearInput: lambda t, a, at: t.link.clear_input(),
    A.CancelResponse: lambda t, a, at: t.link.cancel_response(a.response_id),
    A.Truncate: lambda t, a, at: t.link.truncate(a.item_id, a.audio_end_ms),
    A.RunTool: lambda t, a, at: t.run_tool(a),
    A.SendToolOutput: lambda t, a, at: t.link.send_tool_output(a.call_id, a.output),
    A.PlayAudio: _play_audio,
    A.FinishPlayback: lambda t, a, at: t.speaker.finish(),
    A.StopPlayback: _stop_playback,
    A.PlayCached: _play_cached,
    A.RecogniseQuestion: lambda t, a, at: t.recognise_question(),
    A.PlayAnswer: _play_answer,
    A.SpeakText: lambda t, a, at: t.link.speak_text(a.text),
    A.PlayText: _play_text,
    A.PlayChime: _play_chime,
    A.SetLeds: lambda t, a, at: t.show_leds(a),
    A.SetMicrophone: _set_microphone,
    A.RefuseConnect: _refuse_connect,
    A.StartTimer: _start_timer,
    A.CancelTimer: lambda t, a, at: t.timers.cancel(a.name, a.timer_id),
    A.Telemetry: lambda t, a, at: t.mark(a, at),
})


def execute(target: ActionTarget, actions: list[A.Action], at: float) -> list[E.Event]:
    """Carry out the machine's actions in order; returns the events they caused right away.

    ``at`` is when the event that led to them happened (on the daemon's clock). An action with no
    handler is a bug (a new action nobody wired in): it raises.
    """
    follow: list[E.Event] = []
    for action in actions:
        handler = HANDLERS.get(type(action))
        if handler is None:
            raise TypeError(f"no handler for the action {type(action).__name__}")
        event = handler(target, action, at)
        if isinstance(event, E.Event):
            follow.append(event)
    return follow
