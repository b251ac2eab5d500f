"""The assistant daemon: microphone -> front-end -> state machine -> Voice Live -> speaker, in one loop.

Everything that decides lives in :func:`edgevoice.assistant.machine.step`; this module only
carries events to it and its actions out (through the table in :mod:`edgevoice.daemon.execute`).
What a config decides is one bundle (:class:`edgevoice.daemon.parts.Parts`) that a reload swaps.
One thread (the caller's, normally the main thread) runs the loop: it processes microphone blocks
through the listening front-end, steps the machine, and executes the actions, so no two pieces of
state are ever touched concurrently. Other threads only put things on the loop's queue: the
capture thread (blocks of frames, :mod:`edgevoice.daemon.capture`), the session's
receive thread (server events), the speaker (playback started/finished) and GPIO callbacks (via
the front-end). Each queued item carries the time it happened (on the daemon's clock: monotonic,
or a faster recording's own), so telemetry measures when things happened, not when the loop got
round to them.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant import machine
from edgevoice.assistant.state import Context, Playing, State
from edgevoice.audio.frames import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, FrameSource
from edgevoice.audio.room import EchoPath, PlayedHistory, SimulatedRoom
from edgevoice.config.errors import ConfigError
from edgevoice.config.schema import Config
from edgevoice.config.voicelive import VoiceLiveConfig
from edgevoice.daemon.capture import INPUT_OVER, MAX_BACKLOG_FRAMES, Block, Capture
from edgevoice.daemon.carry import LastExchange
from edgevoice.daemon.costs import CostTracker
from edgevoice.daemon.execute import execute
from edgevoice.daemon.link import SessionFactory, TextDelta, Transcript
from edgevoice.daemon.parts import LinkHooks, Parts, listening_frontend
from edgevoice.daemon.telemetry import Telemetry
from edgevoice.daemon.timers import Timers
from edgevoice.daemon.translate import from_listening
from edgevoice.listening import frontend_events as L
from edgevoice.listening.frontend import ListeningFrontend
from edgevoice.playback.output import ReplyOutput
from edgevoice.playback.sound import Sound
from edgevoice.playback.wav_speaker import WavSpeaker

logger = logging.getLogger(__name__)

#: What systemd's STATUS= line (and the log) says in each state.
STATUS_TEXT = {
    State.IDLE: "listening for the wake word",
    State.LISTENING: "listening",
    State.THINKING: "thinking",
    State.SPEAKING: "speaking",
    State.FOLLOW_UP: "listening for a follow-up",
    State.MUTED: "muted",
    State.OFFLINE: "offline: cached replies",
    State.ERROR: "error: credentials rejected",
}
OFFLINE_ANSWERING = "offline: answering from cache"  # STATUS while offline with [[offline.answers]]
RESTING = "resting: the daily budget is spent (cached replies until midnight)"  # cost.over_budget = cached_only

_SETTLED_STATES = frozenset({State.IDLE, State.FOLLOW_UP, State.OFFLINE, State.ERROR, State.MUTED})
_BETWEEN_TURNS = frozenset({State.IDLE, State.OFFLINE, State.ERROR})  # nobody is talking to the assistant
SESSION_RENEW_MARGIN_S = 120.0  # renew a session this long before it expires, between turns
__all__ = ["MAX_BACKLOG_FRAMES", "Daemon", "DaemonHooks"]  # MAX_BACKLOG_FRAMES: see edgevoice.daemon.capture
MAINTAIN_EVERY_S = 0.1  # upkeep between blocks of audio: at most this often (and after every other event)
CRASH_LIMIT, CRASH_WINDOW_S = 5, 60.0  # this many internal errors this fast end the run (systemd restarts it)


@dataclasses.dataclass(frozen=True)
class _LoopCall:
    """A function to run on the loop (see :meth:`Daemon.call_soon`)."""

    fn: Callable[[], object]


@dataclasses.dataclass
class DaemonHooks:
    """Optional connections to the outside: systemd, the watchdog, and whoever wants transcripts."""

    on_status: Callable[[str], None] | None = None  # STATUS= text on each state change
    on_ready: Callable[[], None] | None = None  # audio is open and the front-end listens
    on_frame: Callable[[], None] | None = None  # microphone audio was processed (watchdog; once per block)
    on_loop: Callable[[], None] | None = None  # the loop went round (watchdog: the machine is alive)
    on_transcript: Callable[[Transcript], None] | None = None
    should_stop: Callable[[], bool] | None = None  # polled by the loop (signals)
    take_reload: Callable[[], Config | None] | None = None  # a new config to apply between turns
    on_reloaded: Callable[[bool, str], None] | None = None  # whether a reload was applied, and why not
    on_stopped: Callable[[], None] | None = None  # the loop has ended and the parts are closed

    def reloaded(self, applied: bool, message: str) -> None:
        if self.on_reloaded is not None:
            self.on_reloaded(applied, message)


class Daemon:
    """Runs one assistant: feed it a frame source, a speaker and a way to open Voice Live sessions."""

    def __init__(
        self,
        config: Config,
        *,
        source: FrameSource,
        speaker: ReplyOutput,
        sessions: Callable[[VoiceLiveConfig], SessionFactory],
        telemetry: Telemetry | None = None,
        hooks: DaemonHooks | None = None,
        frontend: ListeningFrontend | None = None,
        pin_factory: Any = None,
        finish_with_input: bool = False,
        settle_timeout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        room_echo: EchoPath | None = None,
        room_noise_dbfs: float | None = None,
    ) -> None:
        self.source = source
        self.speaker = speaker
        # What the timers, the queue's timestamps and the milestones run on: the monotonic clock for a
        # microphone; a recording played faster than real time gives its own (see edgevoice.bench.soak).
        self.clock = clock
        self.telemetry = telemetry or Telemetry(clock=clock)
        self.hooks = hooks or DaemonHooks()
        self.finish_with_input = finish_with_input
        self.settle_timeout_s = settle_timeout_s
        self._pin_factory = pin_factory
        self._queue: queue.SimpleQueue[tuple[object, float]] = queue.SimpleQueue()
        self.timers = Timers()
        self._stop = threading.Event()
        self._input_over_at: float | None = None
        self._frames_taken = 0  # written by the loop only
        self._maintained_at = -float("inf")  # the loop's clock at the last upkeep
        self._sessions = sessions
        self._crashes: deque[float] = deque(maxlen=CRASH_LIMIT)
        self.last_exchange = LastExchange()  # carried into a fresh session after a context limit
        # The microphone's blocks (one device callback of buffer_ms) reach the loop whole: it wakes once per
        # block, not per 10 ms frame. A recording is read a frame at a time, as before (its latency figures
        # stay comparable).
        self.capture = Capture(source, self.post, clock=clock, finish_with_input=finish_with_input)
        self.parts = self._build(config, sessions(config.voicelive), frontend or listening_frontend(config))
        # Usage, prices and the daily budget (edgevoice.cost); after a reload the day's count goes on.
        self.costs = CostTracker(config, self.telemetry)
        self.ctx = Context()
        self.exit_code = 0
        self._speaker_at: float | None = None  # while a WavSpeaker renders: when the loop handed it the audio
        # Everything the speaker plays, on the capture clock: the echo reference streamed to the service
        # ("client" echo cancellation) and what a simulated room plays back into the microphone.
        self.played = PlayedHistory()
        speaker.on_rendered = self._on_rendered
        self.room = None if room_echo is None else SimulatedRoom(room_echo, self.played, noise_dbfs=room_noise_dbfs)
        speaker.on_start = lambda: self.post(E.PlaybackStarted(), self._speaker_at)
        speaker.on_finished = lambda: self.post(E.PlaybackFinished(), self._speaker_at)

    # --- wiring ---------------------------------------------------------------------------

    def _build(self, config: Config, factory: SessionFactory, frontend: ListeningFrontend) -> Parts:
        """Every part a config decides (at start, and on reload once the old parts are closed)."""
        return Parts.build(config, factory, frontend, post=self.post, clock=self.clock, pin_factory=self._pin_factory,
                           hooks=LinkHooks(on_audio_sent=lambda: self.telemetry.mark("audio_sent"),
                                           on_transcript=self._on_transcript,
                                           on_connect=lambda outcome: self.telemetry.mark("connection", outcome=outcome),
                                           on_text_delta=self._on_text_delta))

    # The parts of the current config, by name (what reload swaps: see Parts).
    config = property(lambda self: self.parts.config)
    settings = property(lambda self: self.parts.settings)
    frontend = property(lambda self: self.parts.frontend)
    buttons = property(lambda self: self.parts.buttons)
    leds = property(lambda self: self.parts.leds)
    echo_guard = property(lambda self: self.parts.echo_guard)
    tools = property(lambda self: self.parts.tools)
    link = property(lambda self: self.parts.link)
    credentials = property(lambda self: self.parts.credentials)
    offline = property(lambda self: self.parts.offline)
    phrases = property(lambda self: self.parts.phrases)
    answers = property(lambda self: self.parts.answers)
    presence = property(lambda self: self.parts.presence)

    def _on_rendered(self, samples: Any, position: int) -> None:
        """The speaker rendered a block: note it on the capture clock (a WAV recorder renders on it;
        a sound card's block is placed where capture is now)."""
        speaker = self.speaker
        if isinstance(speaker, WavSpeaker):
            at = position * SAMPLE_RATE // speaker.rate
        else:
            at = self.frontend.frames * FRAME_SAMPLES
        self.played.add(samples, speaker.rate, at)

    def _send_audio(self, pcm: bytes) -> None:
        """Stream microphone audio that ends now (at the capture clock); with a client echo reference,
        as stereo: channel 0 the microphone, channel 1 what the speaker played over the same samples."""
        if not pcm:
            return
        if self.config.voicelive.input_channels == 2:
            n = len(pcm) // 2
            stereo = np.empty((n, 2), dtype="<i2")
            stereo[:, 0] = np.frombuffer(pcm, "<i2")
            stereo[:, 1] = self.played.span(self.frontend.frames * FRAME_SAMPLES - n, n)
            pcm = stereo.tobytes()
        self.link.send_audio(pcm)

    def post(self, item: object, at: float | None = None) -> None:
        """Hand an event to the loop from any thread."""
        self._queue.put((item, self.clock() if at is None else at))

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the loop, between two items (from any thread): the control socket's commands."""
        self.post(_LoopCall(fn))

    def feed(self, event: E.Event) -> None:
        """Step the machine with ``event`` now and carry out its actions (on the loop only)."""
        self._step(event, self.clock())

    def state_text(self) -> str:
        """What STATUS= says now."""
        return self._state_text()

    def stop(self) -> None:
        """Ask the loop to end (from any thread)."""
        self._stop.set()
        self.post(None)

    @property
    def state(self) -> State:
        return self.ctx.state

    def _on_transcript(self, transcript: Transcript) -> None:
        event = "transcript" if transcript.role == "user" else "reply_text"
        self.telemetry.mark(event, text=transcript.text, item_id=transcript.item_id)
        self.last_exchange.note(transcript)
        logger.info("%s: %s", "heard" if transcript.role == "user" else "replied", transcript.text)
        if self.answers.learned is not None:
            self.post(transcript)  # offline.learn: to the loop (this is the session's receive thread)
        if self.hooks.on_transcript is not None:
            self.hooks.on_transcript(transcript)

    def _on_text_delta(self, delta: TextDelta) -> None:
        """Streamed words as records (the captions page shows them; the log does not)."""
        if delta.role == "user":
            self.telemetry.mark("transcript_delta", text=delta.text, item_id=delta.item_id)
        else:
            self.telemetry.mark("reply_delta", text=delta.text, item_id=delta.item_id, response_id=delta.response_id,
                                audio_ms=delta.audio_ms)

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> int:
        """Listen and converse until stopped (or, with ``finish_with_input``, until the input is over
        and the conversation has settled). Returns the process exit status."""
        self.capture.start()
        self.ctx, actions = machine.start(self.settings, self.offline.hold(self.clock()))
        self._execute(actions, self.clock())
        for event in self.costs.start():
            self._step(event, self.clock())
        try:
            while not self._stop.is_set():
                if self.hooks.should_stop is not None and self.hooks.should_stop():
                    break
                try:
                    self._go_round()
                except Exception:  # a bug, not bad input (that is handled where it arrives)
                    self._recover()
                if self.hooks.on_loop is not None:
                    self.hooks.on_loop()
                if self._input_over_at is not None and self._finished():
                    break
        finally:
            self._shutdown()
        return self.exit_code

    def _go_round(self) -> None:
        """One item from the queue (or a timer's deadline), then the timers and the upkeep."""
        item, at = self._next_item()
        if isinstance(item, Block):
            first = self._frames_taken == 0
            for frame, frame_at in item.frame_times():
                self._on_frame(frame, frame_at)
            self._frames_taken += len(item.frames)
            self.capture.taken(len(item.frames))
            if self.hooks.on_frame is not None:
                self.hooks.on_frame()
            if first:
                self._ready()
        elif isinstance(item, E.Event):
            self._step(item, at)
        elif isinstance(item, Transcript):
            self.answers.transcript(item.role, item.text)
        elif isinstance(item, _LoopCall):
            item.fn()
        elif item is INPUT_OVER:
            self._input_over_at = time.monotonic()
            logger.info("input is over; waiting for the conversation to settle")
        self._fire_timers()
        now = self.clock()
        if not isinstance(item, Block) or now - self._maintained_at >= MAINTAIN_EVERY_S:
            # The upkeep (checks, renewals, a reload) can wait that long: not after every block of audio.
            self._maintained_at = now
            self._maintain()

    def _recover(self) -> None:
        """An unexpected error in the loop: log it, drop the conversation and start over, listening.
        The same error again and again (CRASH_LIMIT in CRASH_WINDOW_S) is raised: a restart may help."""
        now = time.monotonic()
        self._crashes.append(now)
        if len(self._crashes) == CRASH_LIMIT and now - self._crashes[0] < CRASH_WINDOW_S:
            logger.critical("%d internal errors within %.0f s; giving up", CRASH_LIMIT, CRASH_WINDOW_S)
            raise
        logger.exception("internal error (state %s); dropping this conversation and listening again",
                         self.ctx.state.value)
        try:
            self.link.close()
            self.speaker.stop()
            if self.frontend.gate_open:
                self.frontend.close_gate()
            self._start_over()
            self._status(self._state_text())
        except Exception:
            logger.critical("could not start over after an internal error")
            raise

    def _next_item(self) -> tuple[object, float]:
        deadline = self.timers.next_deadline()
        timeout = 0.25 if deadline is None else min(0.25, max(0.0, deadline - self.clock()))
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None, self.clock()

    def _ready(self) -> None:
        logger.info("listening (wake words: %s)", ", ".join(self.config.listening.wake.words) or "none")
        if self.hooks.on_ready is not None:
            self.hooks.on_ready()
        self._status(self._state_text())

    def _on_frame(self, frame: bytes, at: float) -> None:
        frontend = self.frontend
        if isinstance(self.speaker, WavSpeaker):
            # The speaker plays while the microphone records this frame: render its part of the output
            # first (what this frame leads to is heard from the next one). Its callbacks come from in here,
            # stamped when the loop hands the audio to the recorder (its "device"), on the loop's clock:
            # never before the reply audio arrived, and including the time the loop took to get here.
            self._speaker_at = self.clock()
            try:
                self.speaker.advance_to(frontend.t + FRAME_SECONDS)
            finally:
                self._speaker_at = None
        if self.room is not None:
            frame = self.room.hear(frame, frontend.frames * FRAME_SAMPLES)
        guard = self.echo_guard
        played = self.speaker.level
        holding = frontend.holding
        events = frontend.process(frame, guard.echo_floor(played))
        if holding and not frontend.holding and frontend.gate_open:
            # After the wake word, the audio was held until now: the person's words started.
            self.telemetry.mark("words", at=at)
        # The guard judges the echo itself: it is given the VAD's verdict before the echo mask.
        guard.hear(frame, frontend.vad.talker and not frontend.muted, played)
        for event in events:
            if isinstance(event, L.UtteranceAudio):
                self._send_audio(event.pcm)
                self.answers.hear(event.pcm)  # kept in case the service cannot take the question
                continue
            translated = from_listening(event)  # a SpeechStart is the VAD's alone: the echo guard's comes below
            if isinstance(translated, E.Wake) and played > 0.0 and not guard.wake_over_echo():
                logger.info("wake word %s heard no louder than the device's own sound coming back", event.name)
                translated = E.Wake(translated.name, drowned=True)
            if translated is not None:
                # Back-date to when it happened in the audio (speech ends are known after the silence).
                self._step(translated, at - max(0.0, frontend.t - event.t))
        if machine.echo_guarded(self.ctx, self.settings) and guard.barge_in():
            logger.info("barge-in: speech at %.0f dBFS over a reply whose echo should stay below %.0f dBFS",
                        guard.mic_dbfs, guard.threshold_dbfs)
            self.telemetry.mark("barge_in_speech", at=at - guard.frames * FRAME_SECONDS)  # where its window began
            self._step(E.SpeechStart(), at)

    def _step(self, event: E.Event, at: float) -> None:
        pending: deque[E.Event] = deque([event])
        while pending:
            ev = pending.popleft()
            self.offline.observe(ev)
            self._observe_credentials(ev)
            budget = self.costs.observe(ev)  # usage counted; a budget level reached follows this event
            hold = self.offline.hold(self.clock())
            if hold != self.ctx.hold:
                # What a session outcome or a check changed: the machine decides its connects by it.
                pending.extendleft(self._step_machine(E.HoldChanged(hold), at))
            pending.extend(self._step_machine(ev, at))
            pending.extend(budget)
        self._sync_gate()

    def _step_machine(self, ev: E.Event, at: float) -> list[E.Event]:
        """One event through the machine and its actions out; returns the events they caused."""
        before = self.ctx
        self.ctx, actions = machine.step(self.ctx, ev, self.settings)
        if self.ctx.state is State.LISTENING and before.state is not State.LISTENING:
            # A new turn (wake, button, follow-up, barge-in), whether or not the gate was already open.
            self.telemetry.begin_turn()
        follow = self._execute(actions, at)
        if self.ctx.state is not before.state or self.ctx.budget != before.budget:
            self._status(self._state_text())
        return follow

    def _sync_gate(self) -> None:
        """Keep the front-end's gate open exactly while the machine listens to the user.

        The front-end closes its gate by itself when its endpointer ends an utterance; the machine
        may still want the audio (server endpointing, a pause with push-to-talk held) or the
        endpointing (the session failed while the user talks: they are answered when they finish,
        with nothing streamed). The link sends audio only while the machine streams.
        """
        frontend = self.frontend
        wanted = self.ctx.gate_open or self.ctx.state is State.LISTENING
        if wanted and not frontend.gate_open:
            self._send_audio(frontend.open_gate("continue"))
        elif not wanted and frontend.gate_open:
            frontend.close_gate()

    def _fire_timers(self) -> None:
        for fired in self.timers.expired(self.clock()):
            self._step(fired, self.clock())

    def _maintain(self) -> None:
        """Between turns: renew a session about to expire, apply a reloaded config.
        Always: look for an unreachable service, warm the phrase cache while nobody talks."""
        between_turns = self.ctx.state in _BETWEEN_TURNS and self.ctx.playing is Playing.NOTHING
        self._retry_fixed_credentials()
        for event in self.offline.tick(idle=between_turns and not self.speaker.playing):
            self._step(event, self.clock())
        if self.offline.hold(self.clock()) != self.ctx.hold:  # a check began, a Retry-After ran out
            self._step(E.HoldChanged(self.offline.hold(self.clock())), self.clock())
        self.answers.upkeep(offline=bool(self.ctx.outage) or not self.offline.connectivity.online)
        for event in self.costs.tick():  # a new day: the budget starts again
            self._step(event, self.clock())
        if not between_turns:
            return
        if self.link.expires_soon(SESSION_RENEW_MARGIN_S):
            logger.info("Voice Live session expires soon; renewing it between turns")
            self.link.renew()
        if self.hooks.take_reload is not None:
            new = self.hooks.take_reload()
            if new is not None:
                try:
                    self.apply_config(new)
                except ConfigError as exc:  # e.g. a wake word model that does not load
                    logger.error("reload: cannot apply the new config, keeping the old one: %s", exc)
                    if self.hooks.on_status is not None:
                        self.hooks.on_status(f"reload failed: {exc}"[:200])
                    self.hooks.reloaded(False, str(exc))
                else:
                    self.hooks.reloaded(True, "the new config is in force")

    def _observe_credentials(self, event: E.Event) -> None:
        """A session failed on credentials: watch them (and say why in STATUS); one opened: stop."""
        if isinstance(event, E.SessionFailed) and event.kind is E.FailureKind.AUTH:
            self.credentials.failed()
        elif isinstance(event, E.SessionReady):
            self.credentials.stop()

    def _retry_fixed_credentials(self) -> None:
        """In the error state: once the credentials changed (a key file fixed), the retry is due now."""
        if self.ctx.state is not State.ERROR:
            return
        problem = self.credentials.problem
        if self.credentials.changed():
            self._step(E.CredentialsChanged(), self.clock())
        elif self.credentials.problem != problem:
            self._status(self._state_text())  # another problem with the file: say which

    def _state_text(self) -> str:
        """STATUS= for the current state; in the error state, what is wrong with the credential file."""
        if self.ctx.state is State.ERROR and self.credentials.problem:
            return f"error: {self.credentials.problem}"
        if self.ctx.state is State.OFFLINE and self.answers.enabled:
            return OFFLINE_ANSWERING
        if self.ctx.state is State.IDLE and machine.resting(self.ctx, self.settings):
            return RESTING
        return STATUS_TEXT[self.ctx.state]

    def _finished(self) -> bool:
        settled = (
            self.ctx.state in _SETTLED_STATES
            and self.ctx.playing is Playing.NOTHING
            and not self.speaker.playing
            and not self.frontend.gate_open
            or self.ctx.state is State.MUTED
        )
        if settled:
            return True
        assert self._input_over_at is not None
        if time.monotonic() - self._input_over_at > self.settle_timeout_s:
            logger.error("the conversation did not settle within %.0f s of the end of the input (state %s)",
                         self.settle_timeout_s, self.ctx.state.value)
            self.exit_code = 1
            return True
        return False

    # --- actions --------------------------------------------------------------------------------

    def _execute(self, actions: list[A.Action], at: float) -> list[E.Event]:
        """Carry out the machine's actions in order (edgevoice.daemon.execute); returns events they caused."""
        return execute(self, actions, at)

    # What the action handlers act on (edgevoice.daemon.execute.ActionTarget).

    def now(self) -> float:
        return self.clock()

    def open_gate(self, action: A.OpenGate, at: float) -> None:
        preroll = self.frontend.open_gate("wake" if action.pre_roll else "button")
        self.answers.begin()  # the pre-roll (the wake word) is not part of the question
        self.telemetry.mark("gate_open", at=at)
        if action.pre_roll:
            self._send_audio(preroll)

    def hold_for_words(self) -> None:
        self.frontend.hold_for_words()

    def close_gate(self) -> None:
        if self.ctx.state is not State.LISTENING:  # else: see _sync_gate
            self.frontend.close_gate()

    def run_tool(self, action: A.RunTool) -> None:
        self.tools.run(action)

    def reply_audio(self, pcm: bytes) -> None:
        self.answers.reply_audio(pcm)

    def cached_sound(self, key: str) -> Sound:
        return self.phrases.get(key)

    def recognise_question(self) -> None:
        self.answers.recognise()

    def answer_sound(self, answer: str) -> Sound:
        return self.answers.sound(answer)

    def text_sound(self, text: str) -> Sound:
        return self.phrases.say(text)

    def set_listening(self, on: bool) -> None:
        self.frontend.set_listening(on)

    def played_cached(self, at: float, **what: str) -> None:
        self.telemetry.mark("cached_reply", at=at, **what)  # the captions show its text

    def close_session(self, carry_summary: bool) -> None:
        self.link.close()
        if carry_summary:
            self.link.prime(self.last_exchange.summary())
        self.last_exchange.forget()

    def chime(self, name: A.Chime) -> Sound | None:
        return self.parts.chimes.get(name)

    def show_leds(self, action: A.SetLeds) -> None:
        self.leds.show(action.led)

    def mark(self, action: A.Telemetry, at: float) -> None:
        self._mark(action, at)

    def use_model(self, cheaper: bool) -> None:
        """Open sessions with cost.cheaper_model (or the configured model again) from the next one on."""
        model = self.costs.model_for(cheaper)
        try:
            factory = self._sessions(dataclasses.replace(self.config.voicelive, model=model))
        except ConfigError as exc:  # e.g. the credential went away since start: keep the sessions as they are
            logger.error("cannot switch sessions to %s: %s", model, exc)
            return
        self.link.use_factory(self.tools.sessions(factory))
        self.costs.use_cheaper(cheaper)

    def _mark(self, action: A.Telemetry, at: float) -> None:
        name = action.name.value
        detail = dict(action.detail)
        if action.name is A.Mark.PLAYBACK_END:
            self.answers.reply_played()  # a live reply heard to the end: offline.learn may keep it
        elif action.name is A.Mark.BARGE_IN:
            self.answers.forget_turn()  # its reply was cut off: nothing to learn
        if action.name is A.Mark.STATE:
            detail["led"] = self.leds.showing.value  # the pattern the LEDs show from now (the events file's record of it)
        # Stamped with when the event that caused it happened (in the audio, at the speaker, from the
        # server), not when a busy loop got round to it, so the milestones stay in order.
        self.telemetry.mark(name, at=at, **detail)
        if action.name is A.Mark.ERROR:
            logger.warning("turn %d: %s", self.telemetry.turn, detail.get("message") or detail.get("code"))

    def _status(self, text: str) -> None:
        logger.info("state: %s", text, extra={"EDGEVOICE_STATE": self.ctx.state.value})
        if self.hooks.on_status is not None:
            self.hooks.on_status(text)

    # --- reload and shutdown ---------------------------------------------------------------------

    def apply_config(self, config: Config) -> None:
        """Use a new config from the next turn on (called between turns).

        Raises ConfigError, with nothing changed, when the config cannot be used (a wake word
        model that does not load, no credential for the new endpoint).
        """
        # What a config can fail on is built first, so a failure leaves the old one in place.
        frontend = listening_frontend(config)
        try:
            factory = self._sessions(config.voicelive)
        except BaseException:
            frontend.close()
            raise
        if config.audio != self.config.audio:
            logger.warning("[audio] changes take effect after a restart; the rest is applied now")
        frontend.frames = self.frontend.frames  # the stream's clock goes on (an output WAV stays aligned)
        self.parts.close()  # GPIO pins are free again for the new buttons and LEDs
        self.parts = self._build(config, factory, frontend)  # new phrases or voice: the cache is warmed again
        self.costs = CostTracker(config, self.telemetry, previous=self.costs)  # the day's count goes on
        self.speaker.volume = config.assistant.volume
        self._start_over()
        logger.info("configuration reloaded")
        self._status(self._state_text())  # replaces a "reload failed" STATUS from before

    def _start_over(self) -> None:
        """The machine from its start state, with no timer left from before."""
        self.timers.clear()
        self.ctx, actions = machine.start(self.settings, self.offline.hold(self.clock()))
        self._execute(actions, self.clock())
        for event in self.costs.start():  # the budget's level again, for the new machine
            self._step(event, self.clock())

    def _shutdown(self) -> None:
        self._stop.set()
        self.capture.stop()
        self.parts.close()
        if self.hooks.on_stopped is not None:
            self.hooks.on_stopped()
        try:
            self.speaker.stop()
        except Exception:
            logger.exception("speaker stop failed")
        self.source.close()
