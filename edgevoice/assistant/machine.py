"""The assistant's behaviour as one pure function: ``step(context, event, settings)``.

No clocks, threads, sockets or devices here: time arrives as TimerFired events, the speaker's
progress as Playback* events, and everything the assistant does leaves as a list of actions for
the shell to carry out in order. The same sequence of events always gives the same actions,
so every conversation can be tested (and replayed from a log) without hardware.

Three rules are kept by :func:`step` after every event rather than by each transition:
the LEDs follow the state, a ``state`` telemetry mark is written on each change, and the
timers that belong to a state run exactly while the machine is in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import MappingProxyType

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant.settings import AssistantSettings, BargeIn, Endpointing
from edgevoice.cost.budget import BudgetLevel
from edgevoice.assistant.state import (
    LED_FOR_STATE,
    ConnectHold,
    Context,
    PendingTruncate,
    Playing,
    Reply,
    SessionStatus,
    State,
    Timer,
    ToolRound,
    Turn,
)

MAX_STALE_RESPONSES = 8  # enough to cover responses still trickling in after a barge-in
#: The answer to a function call from a reply that was given up (barge-in): it is not run.
NOT_RUN_OUTPUT = '{"error":"not run: the visitor interrupted this reply"}'

_FAILURE_PHRASE = MappingProxyType(
    {
        E.FailureKind.OFFLINE: A.Phrase.OFFLINE,
        E.FailureKind.THROTTLED: A.Phrase.BUSY,
        E.FailureKind.AUTH: A.Phrase.SERVICE_ERROR,
        E.FailureKind.SERVICE: A.Phrase.SERVICE_ERROR,
        E.FailureKind.RESTING: A.Phrase.RESTING,
    }
)

# The states a turn is in progress in (the user is talking or waiting for the answer).
_IN_TURN = frozenset({State.LISTENING, State.THINKING, State.SPEAKING})
# The states from which the wake word or the button starts a new turn.
_READY_FOR_TURN = frozenset({State.IDLE, State.FOLLOW_UP, State.OFFLINE})


def start(settings: AssistantSettings, hold: ConnectHold | None = None) -> tuple[Context, list[A.Action]]:
    """The context and actions for a freshly started assistant (LEDs off, maybe a warm session, unless
    connecting is held off: after an internal error, the service may still be asking to wait)."""
    run = _Step(Context(hold=hold), settings)
    run.do(A.SetLeds(LED_FOR_STATE[run.state]))
    if settings.prewarm:
        run.set(session=SessionStatus.OPENING)
        run.connect(spare=True)
    return run.ctx, run.actions


def step(ctx: Context, event: E.Event, settings: AssistantSettings) -> tuple[Context, list[A.Action]]:
    """React to one event: the new context and the actions to carry out, in order."""
    run = _Step(ctx, settings)
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(run, event)
    run.settle(ctx)
    return run.ctx, run.actions


def timer_seconds(name: Timer, state: State, settings: AssistantSettings) -> float:
    """How long a timer runs when started in ``state``."""
    if name is Timer.LISTEN:
        return settings.max_listen_s
    if name is Timer.REPLY:
        return settings.reply_timeout_s
    if name is Timer.FOLLOW_UP:
        return settings.follow_up_s
    if name is Timer.IDLE:
        return settings.idle_timeout_s
    if name is Timer.SPARE:
        return settings.offline_retry_s
    if name is Timer.LEAVE:
        return settings.leave_s
    return settings.error_retry_s if state is State.ERROR else settings.offline_retry_s


def echo_guarded(ctx: Context, settings: AssistantSettings) -> bool:
    """A reply plays and the device's own VAD may interrupt it: speech must beat the echo guard
    (the shell asks the guard only then, and sends its verdict as a SpeechStart)."""
    return ctx.state is State.SPEAKING and settings.barge_in is BargeIn.VAD and not ctx.gate_open


_STATE_TIMER = MappingProxyType(
    {
        State.LISTENING: Timer.LISTEN,
        State.THINKING: Timer.REPLY,
        State.FOLLOW_UP: Timer.FOLLOW_UP,
        State.ERROR: Timer.RETRY,  # OFFLINE ends when the service is back (SessionReady, ServiceBack)
    }
)


def wanted_timers(ctx: Context, settings: AssistantSettings) -> frozenset[Timer]:
    """The timers that should be running in this context."""
    wanted = set()
    if ctx.state in _STATE_TIMER:
        wanted.add(_STATE_TIMER[ctx.state])
    if ctx.state is State.SPEAKING and ctx.reply is not None and ctx.reply.active:
        wanted.add(Timer.REPLY)  # the reply must keep coming until response.done (see on_timer_fired)
    if ctx.state in (State.IDLE, State.FOLLOW_UP) and ctx.session is not SessionStatus.CLOSED and ctx.session_used:
        wanted.add(Timer.IDLE)
    if settings.prewarm and not resting(ctx, settings) and ctx.state is State.IDLE and ctx.session is SessionStatus.CLOSED:
        wanted.add(Timer.SPARE)  # the spare session was lost: open another, but not in a tight loop
    if ctx.visitor and not ctx.present:
        wanted.add(Timer.LEAVE)  # the sensor lost them: gone for good unless they are back in time
    return frozenset(wanted)


def resting(ctx: Context, settings: AssistantSettings) -> bool:
    """The day's budget is spent and cost.over_budget is cached_only: new conversations get cached replies."""
    return ctx.budget == BudgetLevel.OVER and settings.over_budget == "cached_only"


def context_full(ctx: Context, settings: AssistantSettings) -> bool:
    """The conversation reached assistant.max_turns_per_conversation or max_context_tokens."""
    return bool((settings.max_turns and ctx.turns >= settings.max_turns)
                or (settings.max_context_tokens and ctx.context_tokens >= settings.max_context_tokens))


class _Step:
    """One step in progress: the evolving context and the actions so far (lives for one event)."""

    def __init__(self, ctx: Context, settings: AssistantSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.actions: list[A.Action] = []

    # --- small helpers ------------------------------------------------------------------

    def do(self, *actions: A.Action) -> None:
        self.actions.extend(actions)

    def set(self, **changes: object) -> None:
        self.ctx = dataclasses.replace(self.ctx, **changes)

    def set_turn(self, **changes: object) -> None:
        self.set(turn=dataclasses.replace(self.ctx.turn, **changes))

    def mark(self, mark: A.Mark, /, **detail: object) -> None:
        self.do(A.Telemetry(mark, MappingProxyType(dict(detail))))

    @property
    def state(self) -> State:
        return self.ctx.state

    @property
    def device_endpointing(self) -> bool:
        return self.settings.endpointing is Endpointing.DEVICE

    # --- fragments shared by several transitions -----------------------------------------

    @property
    def prewarm(self) -> bool:
        """Keep a spare session open (not while resting: no session is wanted then)."""
        return self.settings.prewarm and not resting(self.ctx, self.settings)

    def ensure_session(self) -> None:
        if self.ctx.session is SessionStatus.CLOSED:
            self.connect(spare=False)
            self.set(session=SessionStatus.OPENING, session_used=False)

    def connect(self, *, spare: bool) -> None:
        """Open a session (a spare: nobody waits for it), unless connecting is held off: then the
        refusal comes back as the SessionFailed it stands for, right after this step."""
        hold = self.ctx.hold
        if hold is None or (hold.spare_only and not spare):
            self.do(A.OpenSpareSession() if spare else A.OpenSession())
            return
        self.do(A.RefuseConnect(E.SessionFailed(E.FailureKind(hold.kind), hold.detail, held=True)))

    def on_hold_changed(self, event: E.HoldChanged) -> None:
        self.set(hold=event.hold)

    def open_gate(self, *, pre_roll: bool) -> None:
        if not self.ctx.gate_open:
            self.do(A.StartStreaming(), A.OpenGate(pre_roll=pre_roll))
            self.set(gate_open=True, session_used=True)

    def close_gate(self) -> None:
        if self.ctx.gate_open:
            self.do(A.CloseGate(), A.StopStreaming())
            self.set(gate_open=False)

    def chime(self, name: A.Chime) -> None:
        if self.settings.chimes:
            self.do(A.PlayChime(name))

    def stop_playback(self, *, truncate: bool) -> None:
        """Silence the speaker; with ``truncate``, tell the server how much of the reply was heard."""
        if self.ctx.playing is Playing.NOTHING:
            return
        reply = self.ctx.reply
        pending = None
        if truncate and self.ctx.playing is Playing.REPLY and reply is not None:
            pending = PendingTruncate(reply.item_id, reply.start_ms, reply.received_ms)
        self.do(A.StopPlayback())
        self.set(playing=Playing.NOTHING, pending_truncate=pending)

    def abandon_reply(self, *, cancel: bool) -> None:
        """Drop the reply in progress; its late audio will be ignored."""
        reply = self.ctx.reply
        if reply is not None:
            if cancel and reply.active:
                self.do(A.CancelResponse(reply.response_id))
            self.set(stale_responses=_with_stale(self.ctx.stale_responses, reply.response_id))
        elif cancel and self.state is State.THINKING:
            self.do(A.CancelResponse(None))
        self.set(reply=None, total_received_ms=0.0, played_ms=0.0, reply_checked_ms=0.0)

    def start_turn(self, trigger: str, *, pre_roll: bool, chime: bool, heard: bool = False,
                   server_heard: bool = False, button: bool = False) -> None:
        """Open the gate and stream to a (possibly still opening) session: the user is talking."""
        if self.ctx.playing is Playing.CACHED:
            self.stop_playback(truncate=False)
        if self.ctx.answering:
            self.set(answering="")  # a new question: the one being recognised is dropped
        rest = resting(self.ctx, self.settings) and not self.ctx.session_used  # a conversation under way goes on
        if rest and self.ctx.session is not SessionStatus.CLOSED:
            self.do(A.CloseSession())
            self.set(session=SessionStatus.CLOSED)
        if not rest:
            self.ensure_session()
        self.open_gate(pre_roll=pre_roll)
        if rest:
            self.set(session_used=False)  # nothing goes to a service: the next turn rests too
        if chime:
            self.chime(A.Chime.WAKE)
        self.set(state=State.LISTENING,
                 turn=Turn(trigger=trigger, heard_speech=heard, server_heard=server_heard, button_held=button,
                           failure=E.FailureKind.RESTING.value if rest else ""))

    def barge_in(self, trigger: str, *, cancel: bool, chime: bool = False, button: bool = False) -> None:
        """The user interrupts the reply: stop it, cancel it, truncate it to what was heard, listen."""
        self.mark(A.Mark.BARGE_IN, trigger=trigger)
        self.stop_playback(truncate=True)
        self.abandon_reply(cancel=cancel)
        # Pre-roll holds the start of the interrupting speech; a button press needs none.
        self.start_turn(trigger, pre_roll=not button, chime=chime, heard=trigger == "vad",
                        server_heard=trigger == "server", button=button)

    def end_utterance(self) -> None:
        """The user stopped talking: commit the turn, or give up quietly if nobody spoke."""
        turn = self.ctx.turn
        heard = turn.heard_speech or turn.server_heard
        self.close_gate()
        self.chime(A.Chime.END)
        if turn.failure:
            self.fail_turn(E.FailureKind(turn.failure), speak=heard)
            return
        if not heard:
            if self.ctx.session is not SessionStatus.CLOSED:
                self.do(A.ClearInput())
            if turn.trigger == "button" and self.ctx.playing is Playing.NOTHING:
                self.do(A.PlayCached(A.Phrase.NOT_HEARD))  # the button was pressed on purpose: say so
                self.set(playing=Playing.CACHED)
            self.set(state=self.resting_state, turn=Turn())
            return
        if self.ctx.outage and self.ctx.session is not SessionStatus.READY:
            # The service is known to be unreachable and this turn's connect has not got through
            # yet: answer from the cache now rather than wait for the connect deadline.
            if self.ctx.session is SessionStatus.OPENING:
                self.do(A.CloseSession())
                self.set(session=SessionStatus.CLOSED, session_used=False)
            self.fail_turn(E.FailureKind(self.ctx.outage), speak=True)
            return
        self.do(A.Commit(), A.RequestResponse())
        self.mark(A.Mark.COMMIT, by="device")
        self.set(state=State.THINKING, turn=dataclasses.replace(turn, button_held=False), turns=self.ctx.turns + 1)

    def fail_turn(self, kind: E.FailureKind, *, speak: bool, after_reply: bool = False) -> None:
        """The session cannot serve this turn: stand in with a cached phrase, show offline or error.

        ``after_reply``: the reply died mid-way; what arrived of it plays out, then the error phrase.
        An announcement is said on the device instead.
        """
        if self.announcing_in_turn:
            self.announce_locally()
            return
        self.close_gate()
        if not after_reply:
            self.stop_playback(truncate=False)
        self.set(reply=None, turn=Turn(), pending_truncate=None)
        if speak and self.settings.offline_answers and not after_reply and kind is not E.FailureKind.AUTH:
            # Maybe a question the device can answer by itself: recognise it first (OfflineHeard).
            self.do(A.RecogniseQuestion())
            self.set(playing=Playing.CACHED, answering=kind.value)
        elif speak:
            phrase = A.Phrase.SERVICE_ERROR if after_reply else _FAILURE_PHRASE[kind]
            self.do(A.PlayCached(phrase, after_reply=after_reply))
            self.set(playing=Playing.CACHED)
            if kind is not E.FailureKind.AUTH:
                self.mark(A.Mark.OFFLINE_REPLY, kind=kind.value, phrase=phrase.value)
        if kind is E.FailureKind.AUTH:
            self.set(state=State.ERROR)
        else:
            # Offline when a connect failed (the outage is known); after a lost session, idle until
            # the background check says whether the service can be reached.
            self.set(state=self.resting_state)

    def on_offline_heard(self, event: E.OfflineHeard) -> None:
        """The question of a turn the service could not serve was recognised: its answer, or the apology."""
        if not self.ctx.answering:
            return  # a new turn began meanwhile
        failure = E.FailureKind(self.ctx.answering)
        self.set(answering="")
        if event.answer:
            self.do(A.PlayAnswer(event.answer))
            self.mark(A.Mark.OFFLINE_REPLY, kind="answer", id=event.answer, heard=event.heard,
                      score=round(event.score, 3), failure=failure.value)
        else:
            phrase = _FAILURE_PHRASE[failure]
            self.do(A.PlayCached(phrase))
            self.mark(A.Mark.OFFLINE_REPLY, kind="apology", phrase=phrase.value, heard=event.heard,
                      score=round(event.score, 3), failure=failure.value)

    def service_error(self, code: str, message: str = "") -> None:
        """The service failed this turn: apologise with a cached phrase and go back to idle."""
        self.mark(A.Mark.ERROR, code=code, message=message, state=self.state.value)
        if self.announcing_in_turn:
            self.abandon_reply(cancel=True)
            self.announce_locally()
            return
        self.close_gate()
        self.stop_playback(truncate=False)
        if self.state is State.LISTENING and self.ctx.session is not SessionStatus.CLOSED:
            self.do(A.ClearInput())
        self.abandon_reply(cancel=True)
        # An empty commit means the service heard nothing it could use: ask again, not "went wrong".
        phrase = A.Phrase.NOT_HEARD if code == "input_audio_buffer_commit_empty" else A.Phrase.SERVICE_ERROR
        self.do(A.PlayCached(phrase))
        self.set(playing=Playing.CACHED, state=self.resting_state, turn=Turn(), pending_truncate=None)

    @property
    def resting_state(self) -> State:
        """Where a turn ends up when it is over: offline while the service is known to be unreachable."""
        return State.OFFLINE if self.ctx.outage else State.IDLE

    def to_idle(self) -> None:
        self.close_gate()
        self.set(state=self.resting_state, turn=Turn())

    # --- the front-end -------------------------------------------------------------------

    def on_wake(self, event: E.Wake) -> None:
        if event.drowned:
            return  # no louder than the device's own sound coming back: maybe its own echo
        if self.state in _READY_FOR_TURN:
            self.mark(A.Mark.WAKE, name=event.name)
            self.start_turn("wake", pre_roll=True, chime=True)
        elif self.state is State.SPEAKING and self.settings.barge_in is not BargeIn.OFF:
            # The wake word over a reply stops it in every barge-in mode but "off" (the shell lets only a
            # wake word louder than the reply's echo through).
            self.mark(A.Mark.WAKE, name=event.name)
            streaming = self.ctx.gate_open  # server endpointing streams through the reply
            self.barge_in("wake", cancel=True, chime=True)
            if streaming:
                self.restart_for_wake()
        elif self.state is State.LISTENING and self.ctx.turn.trigger in ("follow_up", "vad", "server"):
            # The speech that opened this turn (a barge-in, a follow-up) was the wake word: start the turn
            # again from it, so that the wake word itself is not the person's question.
            self.mark(A.Mark.WAKE, name=event.name)
            self.set_turn(trigger="wake", heard_speech=False, server_heard=False)
            self.restart_for_wake()
        elif self.state is State.ERROR:
            self.mark(A.Mark.WAKE, name=event.name)
            self.say_still_broken()

    def restart_for_wake(self) -> None:
        """The gate was already open when the wake word came: forget what it let through, hold for the words."""
        if self.ctx.gate_open:
            if self.ctx.session is not SessionStatus.CLOSED:
                self.do(A.ClearInput())
            self.do(A.HoldForWords())

    def say_still_broken(self) -> None:
        if self.ctx.playing is Playing.NOTHING:
            self.do(A.PlayCached(A.Phrase.SERVICE_ERROR))
            self.set(playing=Playing.CACHED)

    def on_push_to_talk(self, event: E.PushToTalk) -> None:
        if not event.pressed:
            if self.state is State.LISTENING and self.ctx.turn.button_held:
                self.end_utterance()
            elif self.ctx.turn.button_held:
                self.set_turn(button_held=False)
            return
        if self.state in _READY_FOR_TURN:
            self.start_turn("button", pre_roll=False, chime=True, button=True)
        elif self.state in (State.THINKING, State.SPEAKING):
            # The button is an explicit request to talk: it interrupts whatever the barge-in mode.
            self.barge_in("button", cancel=True, chime=True, button=True)
        elif self.state is State.LISTENING:
            self.set_turn(button_held=True)
        elif self.state is State.ERROR:
            self.say_still_broken()
        elif self.state is State.MUTED:
            self.do(A.PlayCached(A.Phrase.MUTED))  # nobody hears the button while muted: say so

    def on_mute_changed(self, event: E.MuteChanged) -> None:
        """The mute switch moved: it wins, whatever a script asked before."""
        self.set(switch_muted=event.muted)
        self.mute(event.muted)

    def on_mute_requested(self, event: E.MuteRequested) -> None:
        """A script asked (the control socket): unmuting is refused while the switch is on."""
        if not event.muted and self.ctx.switch_muted:
            return
        self.mute(event.muted)

    def mute(self, muted: bool) -> None:
        if muted and self.state is not State.MUTED:
            self.close_gate()
            self.stop_playback(truncate=False)
            if self.ctx.session is not SessionStatus.CLOSED:
                self.do(A.CloseSession())
            self.do(A.SetMicrophone(False), A.PlayCached(A.Phrase.MUTED))
            # Forget the conversation (announcements still waiting too: muted means quiet) but keep the
            # timers, so settle() can cancel them; the switch and who is in front of the kiosk stay known.
            old = self.ctx
            self.ctx = Context(state=State.MUTED, timers=old.timers, next_timer_id=old.next_timer_id,
                               switch_muted=old.switch_muted, present=old.present, visitor=old.visitor, budget=old.budget)
        elif not muted and self.state is State.MUTED:
            self.do(A.SetMicrophone(True))
            self.set(state=State.IDLE)
            if self.prewarm:
                self.connect(spare=True)
                self.set(session=SessionStatus.OPENING)

    # --- announcements and presence -------------------------------------------------------

    def on_announce(self, event: E.Announce) -> None:
        text = event.text.strip()
        if not text:
            return
        if self.state is State.MUTED:
            self.mark(A.Mark.ANNOUNCE, outcome="refused", reason="muted")
            return
        if len(self.ctx.announcements) >= self.settings.max_announcements:
            self.mark(A.Mark.ANNOUNCE, outcome="refused", reason="queue full")
            return
        if event.interrupt:
            self.interrupt_for_announcement()
            self.set(announcements=(text, *self.ctx.announcements))  # now: before those still waiting
        else:
            self.set(announcements=(*self.ctx.announcements, text))

    def interrupt_for_announcement(self) -> None:
        """``say --interrupt``: stop the turn in progress (a reply, the user's words, another announcement)."""
        if self.state is State.LISTENING and self.ctx.session is not SessionStatus.CLOSED:
            self.do(A.ClearInput())
        if self.state in _IN_TURN or self.state is State.FOLLOW_UP:
            self.mark(A.Mark.BARGE_IN, trigger="announce")
            self.stop_playback(truncate=True)
            self.abandon_reply(cancel=True)
            self.close_gate()
            self.set(state=self.resting_state, turn=Turn(), announcing="", answering="")
        elif self.ctx.playing is Playing.CACHED:
            self.stop_playback(truncate=False)
            self.set(announcing="", answering="")

    def next_announcement(self) -> None:
        """Between turns, with nothing playing: say the next announcement waiting."""
        ctx = self.ctx
        if not ctx.announcements or ctx.announcing or ctx.playing is not Playing.NOTHING or ctx.answering:
            return
        if ctx.state not in (State.IDLE, State.FOLLOW_UP, State.OFFLINE, State.ERROR):
            return
        text, rest = ctx.announcements[0], ctx.announcements[1:]
        if ctx.state is State.FOLLOW_UP:
            if ctx.gate_open and ctx.session is not SessionStatus.CLOSED:
                self.do(A.ClearInput())
            self.close_gate()
        self.set(announcements=rest, announcing=text)
        if ctx.state is State.ERROR or ctx.outage:
            self.announce_locally()
            return
        self.mark(A.Mark.ANNOUNCE, outcome="spoken", via="session", text=text)
        self.ensure_session()
        self.do(A.SpeakText(text))
        self.set(state=State.THINKING, turn=Turn(trigger="announce"), session_used=True)

    def announce_locally(self) -> None:
        """The announcement cannot go through the session: a cached phrase with its text, or the local voice."""
        text = self.ctx.announcing
        self.mark(A.Mark.ANNOUNCE, outcome="spoken", via="local", text=text)
        self.close_gate()
        self.stop_playback(truncate=False)
        self.do(A.PlayText(text))
        self.set(playing=Playing.CACHED, reply=None, turn=Turn(), pending_truncate=None,
                 state=State.ERROR if self.state is State.ERROR else self.resting_state)

    @property
    def announcing_in_turn(self) -> bool:
        return self.ctx.turn.trigger == "announce"

    def on_presence_changed(self, event: E.PresenceChanged) -> None:
        if event.present == self.ctx.present:
            return
        self.set(present=event.present)
        if not event.present or self.ctx.visitor:
            return  # gone from the sensor, or the same visitor back within leave_s: no second greeting
        self.set(visitor=True)
        self.mark(A.Mark.PRESENCE, visitor="arrived")
        if self.settings.greeting and self.state is not State.MUTED:
            self.on_announce(E.Announce(self.settings.greeting))

    def visitor_left(self) -> None:
        """Nobody seen for leave_s: the next visitor starts a fresh conversation."""
        self.set(visitor=False, announcements=tuple(a for a in self.ctx.announcements if a != self.settings.greeting))
        self.mark(A.Mark.PRESENCE, visitor="left")  # ... and a greeting not yet said is not said to nobody
        if self.state in _IN_TURN:
            self.set(ending=True)  # reset once the reply has played
        elif self.state in (State.IDLE, State.FOLLOW_UP, State.OFFLINE):
            if self.ctx.gate_open and self.ctx.session is not SessionStatus.CLOSED:
                self.do(A.ClearInput())
            self.to_idle()
            if self.ctx.session_used:
                self.fresh_session()

    def on_speech_start(self, event: E.SpeechStart) -> None:
        if echo_guarded(self.ctx, self.settings):
            if event.vad_only:
                return  # maybe the reply's own echo: only the echo guard's verdict interrupts it
            # With the gate open (server endpointing) the server hears the user and decides.
            self.mark(A.Mark.SPEECH_START, barge_in=True)
            self.barge_in("vad", cancel=True)
        elif (self.state in (State.IDLE, State.OFFLINE) and self.ctx.present and self.settings.listen_without_wake
                and self.ctx.playing is Playing.NOTHING):
            # Someone stands in front of the kiosk and speaks: as after a wake word, from their first word.
            self.mark(A.Mark.SPEECH_START, presence=True)
            self.start_turn("presence", pre_roll=True, chime=False, heard=True)
        elif self.state is State.LISTENING:
            if not self.ctx.turn.heard_speech:
                self.mark(A.Mark.SPEECH_START)
            self.set_turn(heard_speech=True)
        elif self.state is State.FOLLOW_UP:
            self.mark(A.Mark.SPEECH_START, follow_up=True)
            self.start_turn("follow_up", pre_roll=True, chime=False, heard=True)

    def on_speech_end(self, _event: E.SpeechEnd) -> None:
        if self.state is State.LISTENING:
            self.mark(A.Mark.SPEECH_END)

    def on_utterance_end(self, event: E.UtteranceEnd) -> None:
        if self.state is not State.LISTENING or self.ctx.turn.button_held:
            return
        if event.reason != E.NO_SPEECH and not self.ctx.turn.heard_speech:
            # The endpointer heard the user even without a SpeechStart in this turn: the words ran on
            # from the wake word in one breath ("okay nabu, what time is it"), so speech began before
            # the gate opened.
            self.set_turn(heard_speech=True)
        turn = self.ctx.turn
        known_down = bool(self.ctx.outage) and self.ctx.session is not SessionStatus.READY
        if self.device_endpointing or turn.failure or known_down:
            self.end_utterance()
        elif event.reason == E.NO_SPEECH and not turn.server_heard:
            # Server endpointing, but nobody spoke: do not wait for a server that heard nothing.
            self.set_turn(heard_speech=False)
            self.end_utterance()
        else:
            # The server's speech_stopped ends the utterance; if the session fails first, answer then.
            self.set_turn(device_ended=True)

    # --- the session ---------------------------------------------------------------------

    def on_session_ready(self, _event: E.SessionReady) -> None:
        if self.ctx.session is SessionStatus.OPENING:
            self.set(session=SessionStatus.READY)
            self.service_back()

    def on_service_back(self, _event: E.ServiceBack) -> None:
        self.service_back()

    def on_credentials_changed(self, _event: E.CredentialsChanged) -> None:
        if self.state is State.ERROR:
            self.set(state=State.IDLE)  # worth trying now rather than after error_retry_s

    def on_service_unreachable(self, event: E.ServiceUnreachable) -> None:
        if self.state is State.MUTED or event.kind is E.FailureKind.AUTH:
            return
        self.set(outage=self.ctx.outage or event.kind.value)
        if self.state is State.IDLE:
            self.set(state=State.OFFLINE)  # nobody is talking: show it; a turn in progress ends offline

    def service_back(self) -> None:
        """The service can be reached again: leave OFFLINE; the next wake (or a spare) uses it."""
        if not self.ctx.outage:
            return
        self.set(outage="")
        if self.state is State.OFFLINE:
            self.set(state=State.IDLE)
            if self.prewarm and self.ctx.session is SessionStatus.CLOSED:
                self.connect(spare=True)
                self.set(session=SessionStatus.OPENING, session_used=False)

    def on_session_failed(self, event: E.SessionFailed) -> None:
        if self.state is State.MUTED or self.ctx.session is SessionStatus.CLOSED:
            return
        self.mark(A.Mark.ERROR, code=f"session_{event.kind.value}", message=event.detail, state=self.state.value)
        self.set(session=SessionStatus.CLOSED, session_used=False)
        # A connect that failed (not an open session that ended) means the service cannot be reached.
        unreachable = not event.lost and event.kind is not E.FailureKind.AUTH
        if unreachable:
            self.set(outage=event.kind.value)
        reply = self.ctx.reply
        if self.state is State.LISTENING and not self.ctx.turn.failure:
            # The user is still talking: stop streaming, answer when they finish.
            self.close_gate()
            self.set_turn(failure=event.kind.value)
            if self.ctx.turn.device_ended:  # ... or they already have (server endpointing): answer now
                self.end_utterance()
        elif self.state is State.THINKING:
            self.abandon_reply(cancel=False)
            self.fail_turn(event.kind, speak=True)
        elif self.state is State.SPEAKING and reply is not None and not reply.active:
            pass  # the whole reply is here: let it play out; the next turn opens a new session
        elif self.state is State.SPEAKING:
            # The reply died mid-stream: what arrived plays out, then the cached error phrase.
            self.abandon_reply(cancel=False)
            self.fail_turn(event.kind, speak=True, after_reply=True)
        elif event.kind is E.FailureKind.AUTH and self.state is not State.LISTENING:
            self.fail_turn(event.kind, speak=False)
        elif unreachable and self.state in (State.IDLE, State.FOLLOW_UP, State.OFFLINE):
            self.close_gate()  # a spare session could not open: offline, quietly (nobody asked anything)
            self.set(state=State.OFFLINE, turn=Turn())
        elif self.state is State.FOLLOW_UP:
            self.to_idle()

    def on_server_speech_started(self, _event: E.ServerSpeechStarted) -> None:
        if self.state is State.LISTENING:
            self.set_turn(server_heard=True)
        elif self.state is State.FOLLOW_UP and self.ctx.gate_open:
            self.mark(A.Mark.SPEECH_START, follow_up=True, by="server")
            self.start_turn("follow_up", pre_roll=True, chime=False, server_heard=True)
        elif self.state in (State.THINKING, State.SPEAKING) and self.ctx.gate_open:
            # Server turn detection interrupts the response itself (interrupt_response).
            self.barge_in("server", cancel=False)

    def on_server_speech_stopped(self, _event: E.ServerSpeechStopped) -> None:
        if self.state is not State.LISTENING or self.device_endpointing or self.ctx.turn.failure:
            return
        if not self.settings.gate_open_while_replying:
            self.close_gate()
        self.chime(A.Chime.END)
        self.mark(A.Mark.COMMIT, by="server")
        self.set(state=State.THINKING, turn=dataclasses.replace(self.ctx.turn, button_held=False), turns=self.ctx.turns + 1)

    def on_reply_audio(self, event: E.ReplyAudio) -> None:
        if event.response_id in self.ctx.stale_responses:
            return
        if self.state not in (State.THINKING, State.SPEAKING):
            # Nobody is waiting for it (the user is talking again, or the turn was dropped).
            self.set(stale_responses=_with_stale(self.ctx.stale_responses, event.response_id))
            return
        reply = self.ctx.reply
        if reply is None:
            if not self.announcing_in_turn:  # an announcement is no turn's reply: no latency figures
                self.mark(A.Mark.REPLY_AUDIO_FIRST, response_id=event.response_id)
            reply = Reply(event.response_id, event.item_id, start_ms=self.ctx.total_received_ms)
        elif (reply.response_id, reply.item_id) != (event.response_id, event.item_id):
            # A further item (or response) of the same reply: it starts where the last one ended.
            reply = Reply(event.response_id, event.item_id, start_ms=self.ctx.total_received_ms)
            if self.ctx.tools is not None and self.ctx.tools.answered:
                self.set(tools=None)  # the answer after the tools has begun
        self.do(A.PlayAudio(event.response_id, event.item_id, event.pcm))
        self.set(
            reply=dataclasses.replace(reply, received_ms=reply.received_ms + event.ms),
            total_received_ms=self.ctx.total_received_ms + event.ms,
            playing=Playing.REPLY,
            state=State.SPEAKING,
        )

    def on_reply_done(self, event: E.ReplyDone) -> None:
        if self.ctx.session is not SessionStatus.CLOSED and event.context_tokens > self.ctx.context_tokens:
            self.set(context_tokens=event.context_tokens)  # even a cancelled reply read the whole conversation
        if event.response_id in self.ctx.stale_responses or self.state not in (State.THINKING, State.SPEAKING):
            return
        reply = self.ctx.reply
        if reply is not None and reply.response_id != event.response_id:
            return  # a response whose audio we never played
        rnd = self.ctx.tools
        if rnd is not None and rnd.response_id == event.response_id:
            if event.status == "completed":
                # The model called tools: the reply goes on once they are answered.
                self.set(tools=dataclasses.replace(rnd, response_done=True))
                if reply is not None:
                    self.do(A.FinishPlayback())
                    self.set(reply=dataclasses.replace(reply, active=False))
                self.continue_after_tools()
                return
            self.set(tools=None)  # cancelled or failed: its calls are answered when done, no reply asked
        server_heard_user = event.status == "cancelled" and event.reason == "turn_detected"
        if event.status == "failed":
            self.service_error(code="response_failed", message=event.reason)
        elif server_heard_user and self.settings.barge_in is not BargeIn.OFF:
            # The server heard the user over the reply and cancelled it: follow it.
            self.barge_in("server", cancel=False)
        elif reply is None:
            # Finished without audio (or cancelled before any): nothing to play, listen for more.
            self.after_reply()
        else:
            self.do(A.FinishPlayback())
            self.set(reply=dataclasses.replace(reply, active=False))

    def reply_stalled(self) -> None:
        """No audio for a whole reply timeout and no response.done (lost, or the service is stuck):
        what arrived plays out, then the cached error phrase; the response is cancelled."""
        self.mark(A.Mark.ERROR, code="reply_stalled", message="the reply stopped coming", state=self.state.value)
        self.abandon_reply(cancel=True)
        self.fail_turn(E.FailureKind.SERVICE, speak=True, after_reply=True)

    def on_service_error(self, event: E.ServiceError) -> None:
        if self.state in _IN_TURN:
            self.service_error(code=event.code or "service_error", message=event.message)
        else:
            self.mark(A.Mark.ERROR, code=event.code or "service_error", message=event.message, state=self.state.value)

    def after_reply(self) -> None:
        """The reply is over: open the follow-up window (or go idle if there is none)."""
        announced = self.announcing_in_turn
        self.set(reply=None, total_received_ms=0.0, played_ms=0.0, reply_checked_ms=0.0, turn=Turn(), announcing="")
        if self.ctx.ending:
            self.end_conversation()
            return
        if context_full(self.ctx, self.settings) and self.ctx.session is not SessionStatus.CLOSED:
            # A turn boundary: the next turn (a follow-up too) starts a fresh session, never mid-reply.
            self.mark(A.Mark.CONTEXT_RESET, turns=self.ctx.turns, context_tokens=self.ctx.context_tokens,
                      carry_summary=self.settings.carry_summary)
            self.fresh_session(carry_summary=self.settings.carry_summary)
            if self.settings.carry_summary and self.ctx.session is SessionStatus.CLOSED:
                # Without prewarm: open it now, so the summary goes to this visitor's next turn and the
                # idle reset still ends the conversation (the next visitor never gets it).
                self.connect(spare=False)
                self.set(session=SessionStatus.OPENING, session_used=True)
        if self.settings.follow_up_s > 0 and not announced:
            self.set(state=State.FOLLOW_UP)
        else:
            self.to_idle()

    def end_conversation(self) -> None:
        """The model called end_conversation and its reply has played: start afresh for the next
        visitor (no follow-up window, a new session)."""
        self.set(ending=False)
        self.to_idle()
        self.fresh_session()

    def fresh_session(self, *, carry_summary: bool = False) -> None:
        """Close the conversation's session (its context goes with it) and, with prewarm, open a spare."""
        if self.ctx.session is not SessionStatus.CLOSED:
            self.do(A.CloseSession(carry_summary=carry_summary))
        self.set(session=SessionStatus.CLOSED, session_used=False, turns=0, context_tokens=0)
        if self.prewarm:
            self.connect(spare=True)
            self.set(session=SessionStatus.OPENING)

    # --- the daily budget ------------------------------------------------------------------

    def on_budget_changed(self, event: E.BudgetChanged) -> None:
        """Past the budget (or back under it after midnight): cost.over_budget applies from the next
        conversation. A conversation under way goes on as it is; a spare session nobody used yet is replaced."""
        old = BudgetLevel(self.ctx.budget)
        if event.level is old:
            return
        self.set(budget=event.level.value)
        policy = self.settings.over_budget
        self.mark(A.Mark.BUDGET, level=event.level.value, previous=old.value, over_budget=policy)
        over = event.level is BudgetLevel.OVER
        if over == (old is BudgetLevel.OVER) or policy == "warn":
            return
        if policy == "cheaper_model":
            self.do(A.UseModel(cheaper=over))
        if not self.ctx.session_used and self.ctx.session is not SessionStatus.CLOSED and self.state not in _IN_TURN:
            self.fresh_session()
        elif not over and self.ctx.session is SessionStatus.CLOSED and self.prewarm and self.state is State.IDLE:
            self.connect(spare=True)  # resting is over: warm a session for the next visitor
            self.set(session=SessionStatus.OPENING, session_used=False)

    # --- tools the model calls -------------------------------------------------------------

    def on_tool_call(self, event: E.ToolCallRequested) -> None:
        if event.response_id in self.ctx.stale_responses or self.state not in (State.THINKING, State.SPEAKING):
            # Its reply was given up (the visitor interrupted it): answer the call, do not run it.
            self.mark(A.Mark.TOOL_CALL, name=event.name, ms=0.0, sources=(), ok=False, error="not run: reply interrupted")
            self.do(A.SendToolOutput(event.call_id, NOT_RUN_OUTPUT))
            return
        rnd = self.ctx.tools
        if rnd is None or rnd.response_id != event.response_id:
            rnd = ToolRound(event.response_id)
        self.set(tools=dataclasses.replace(rnd, running=(*rnd.running, event.call_id)))
        self.do(A.RunTool(event.call_id, event.name, event.arguments))
        self.restart_timer(Timer.REPLY)  # the wait for the reply starts again after the tool

    def on_tool_finished(self, event: E.ToolFinished) -> None:
        self.mark(A.Mark.TOOL_CALL, name=event.name, ms=round(event.ms, 1), sources=tuple(event.sources), ok=event.ok)
        self.do(A.SendToolOutput(event.call_id, event.output))  # every call is answered, even a late one
        rnd = self.ctx.tools
        if rnd is None or event.call_id not in rnd.running:
            return  # its reply was given up meanwhile: answered, but nobody waits for more
        if event.ends_conversation:
            self.set(ending=True)
        self.set(tools=dataclasses.replace(rnd, running=tuple(c for c in rnd.running if c != event.call_id)))
        self.continue_after_tools()

    def continue_after_tools(self) -> None:
        """Every call of the round is answered and its response is done: ask for the reply."""
        rnd = self.ctx.tools
        if rnd is None or rnd.running or not rnd.response_done or rnd.answered:
            return
        self.do(A.RequestResponse())
        self.restart_timer(Timer.REPLY)
        if self.ctx.playing is Playing.REPLY and self.state is State.SPEAKING:
            self.set(tools=dataclasses.replace(rnd, answered=True))  # what it said before the call plays out first
        else:
            self.set(tools=None, state=State.THINKING)

    def restart_timer(self, name: Timer) -> None:
        """Cancel a running timer; settle() starts it afresh if the state still wants it."""
        for running, timer_id in self.ctx.timers:
            if running is name:
                self.do(A.CancelTimer(running, timer_id))
        self.set(timers=tuple(t for t in self.ctx.timers if t[0] is not name))

    # --- the speaker ---------------------------------------------------------------------

    def on_playback_started(self, _event: E.PlaybackStarted) -> None:
        if self.ctx.playing is Playing.REPLY and not self.announcing_in_turn:
            self.mark(A.Mark.PLAYBACK_START)
        elif self.ctx.playing is Playing.CACHED:
            self.mark(A.Mark.CACHED_PLAYBACK_START)

    def on_playback_progress(self, event: E.PlaybackProgress) -> None:
        if self.ctx.playing is Playing.REPLY:
            self.set(played_ms=event.ms_played)

    def on_playback_stopped(self, event: E.PlaybackStopped) -> None:
        pending = self.ctx.pending_truncate
        if pending is not None:
            heard = min(max(event.ms_played - pending.start_ms, 0.0), pending.received_ms)
            self.do(A.Truncate(pending.item_id, int(heard)))
            self.set(pending_truncate=None)

    def on_playback_finished(self, _event: E.PlaybackFinished) -> None:
        if self.ctx.playing is Playing.CACHED:
            self.set(playing=Playing.NOTHING, announcing="")
        elif self.ctx.playing is Playing.REPLY and self.state is State.SPEAKING:
            reply = self.ctx.reply
            if reply is not None and reply.active:
                return  # only FinishPlayback (after response.done) ends a reply
            if not self.announcing_in_turn:
                self.mark(A.Mark.PLAYBACK_END)
            self.set(playing=Playing.NOTHING)
            rnd = self.ctx.tools
            if rnd is not None:
                # What was said before a tool call has played: wait for the tools' answer.
                self.set(reply=None, total_received_ms=0.0, played_ms=0.0, reply_checked_ms=0.0,
                         state=State.THINKING, tools=None if rnd.answered else rnd)
                return
            self.after_reply()

    # --- timers --------------------------------------------------------------------------

    def on_timer_fired(self, event: E.TimerFired) -> None:
        entry = (event.name, event.timer_id)
        if entry not in self.ctx.timers:
            return  # cancelled or restarted after it fired
        self.set(timers=tuple(t for t in self.ctx.timers if t != entry))
        if event.name is Timer.LISTEN and self.state is State.LISTENING:
            self.set_turn(button_held=False)
            self.end_utterance()
        elif event.name is Timer.REPLY and self.state is State.THINKING:
            self.service_error(code="reply_timeout")
        elif event.name is Timer.REPLY and self.state is State.SPEAKING:
            if self.ctx.total_received_ms > self.ctx.reply_checked_ms:
                self.set(reply_checked_ms=self.ctx.total_received_ms)  # still coming: settle() restarts the timer
            else:
                self.reply_stalled()
        elif event.name is Timer.FOLLOW_UP and self.state is State.FOLLOW_UP:
            if self.ctx.gate_open and self.ctx.session is not SessionStatus.CLOSED:
                self.do(A.ClearInput())
            self.to_idle()
        elif event.name is Timer.IDLE and self.state in (State.IDLE, State.FOLLOW_UP):
            self.to_idle()
            self.fresh_session()
        elif event.name is Timer.RETRY and self.state is State.ERROR:
            self.set(state=State.IDLE)
        elif event.name is Timer.LEAVE and self.ctx.visitor and not self.ctx.present:
            self.visitor_left()
        elif event.name is Timer.SPARE and self.state is State.IDLE and self.ctx.session is SessionStatus.CLOSED:
            self.connect(spare=True)
            self.set(session=SessionStatus.OPENING, session_used=False)

    # --- rules kept after every event ----------------------------------------------------

    def settle(self, before: Context) -> None:
        """LEDs and a telemetry mark on a state change; start/cancel timers to match the state."""
        if self.ctx.announcing and self.state is State.LISTENING:
            self.set(announcing="")  # the visitor spoke over it (barge-in): it is over
        self.next_announcement()
        old, new = before.state, self.ctx.state
        if self.ctx.tools is not None and new not in (State.THINKING, State.SPEAKING):
            self.set(tools=None)  # the reply was given up: late tool results are answered, no reply asked
        if self.ctx.ending and new is State.LISTENING:
            self.set(ending=False)  # the visitor is not done after all
        if self.ctx.session is SessionStatus.CLOSED and (self.ctx.turns or self.ctx.context_tokens):
            self.set(turns=0, context_tokens=0)  # the session, and its conversation, are gone
        if new is not old:
            if LED_FOR_STATE[new] is not LED_FOR_STATE[old]:
                self.do(A.SetLeds(LED_FOR_STATE[new]))
            self.mark(A.Mark.STATE, state=new.value, previous=old.value)
        wanted = wanted_timers(self.ctx, self.settings)
        # A state's own timer starts afresh on entering it; one the new state still wants keeps
        # running (REPLY, from THINKING into SPEAKING: the reply must keep coming).
        restart = {_STATE_TIMER.get(new)} if new is not old else set()
        running = []
        for name, timer_id in self.ctx.timers:
            if name in wanted and name not in restart:
                running.append((name, timer_id))
            else:
                self.do(A.CancelTimer(name, timer_id))
        next_id = self.ctx.next_timer_id
        for name in sorted(wanted - {name for name, _ in running}):
            self.do(A.StartTimer(name, timer_seconds(name, new, self.settings), next_id))
            running.append((name, next_id))
            next_id += 1
        if tuple(running) != self.ctx.timers or next_id != self.ctx.next_timer_id:
            self.set(timers=tuple(running), next_timer_id=next_id)


def _with_stale(stale: tuple[str, ...], response_id: str) -> tuple[str, ...]:
    if response_id in stale:
        return stale
    return (stale + (response_id,))[-MAX_STALE_RESPONSES:]


_HANDLERS: MappingProxyType[type[E.Event], Callable[[_Step, E.Event], None]] = MappingProxyType(
    {
        E.Wake: _Step.on_wake,
        E.PushToTalk: _Step.on_push_to_talk,
        E.MuteChanged: _Step.on_mute_changed,
        E.MuteRequested: _Step.on_mute_requested,
        E.Announce: _Step.on_announce,
        E.PresenceChanged: _Step.on_presence_changed,
        E.SpeechStart: _Step.on_speech_start,
        E.SpeechEnd: _Step.on_speech_end,
        E.UtteranceEnd: _Step.on_utterance_end,
        E.SessionReady: _Step.on_session_ready,
        E.SessionFailed: _Step.on_session_failed,
        E.ServiceBack: _Step.on_service_back,
        E.CredentialsChanged: _Step.on_credentials_changed,
        E.ServiceUnreachable: _Step.on_service_unreachable,
        E.OfflineHeard: _Step.on_offline_heard,
        E.ServerSpeechStarted: _Step.on_server_speech_started,
        E.ServerSpeechStopped: _Step.on_server_speech_stopped,
        E.ReplyAudio: _Step.on_reply_audio,
        E.ReplyDone: _Step.on_reply_done,
        E.ServiceError: _Step.on_service_error,
        E.ToolCallRequested: _Step.on_tool_call,
        E.ToolFinished: _Step.on_tool_finished,
        E.PlaybackStarted: _Step.on_playback_started,
        E.PlaybackProgress: _Step.on_playback_progress,
        E.PlaybackStopped: _Step.on_playback_stopped,
        E.PlaybackFinished: _Step.on_playback_finished,
        E.TimerFired: _Step.on_timer_fired,
        E.HoldChanged: _Step.on_hold_changed,
        E.BudgetChanged: _Step.on_budget_changed,
    }
)
