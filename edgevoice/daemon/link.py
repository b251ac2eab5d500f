"""The assistant's line to Voice Live: one session at a time, opened in the background, fed in order.

The machine says *what* (open a session, stream, commit, ask for the reply, cancel, truncate);
the link does it over a :class:`~edgevoice.voicelive.session.VoiceLiveSession`:

- connecting runs on a worker thread; whatever the machine sends meanwhile waits in an outbox
  and goes out, in order, the moment the session is ready, so nothing said during a cold
  connect is lost;
- microphone audio is sent in small batches (Voice Live wants audio every 20-50 ms); the first
  audio of a turn and anything sent after audio flush the batch first, so order is kept;
- each session has a generation number: events and close notices from a session that has
  since been replaced never reach the machine;
- server events become machine events (posted to the shell's queue); an ``error`` event fails
  the turn only when it answers the commit or response request of this turn, or is a server
  error while a reply is awaited; other errors (a late truncate, say) are logged;
- a session that says nothing within ``answer_timeout_s`` of a commit or response request, or
  stops sending for ``stall_timeout_s`` while a reply is under way (response.created until
  response.done), is taken for dead (a connection that went silent without closing: TCP may take minutes to
  notice), dropped and reported as lost, so the machine answers from the cache instead of waiting.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgevoice.assistant import events as E
from edgevoice.config.errors import ConfigError
from edgevoice.daemon.translate import from_server
from edgevoice.voicelive.protocol import client_events
from edgevoice.voicelive.protocol import server_events as V
from edgevoice.voicelive.errors import (
    AuthRejected,
    ProtocolFailure,
    ServiceError,
    SessionClosed,
    SessionError,
    SessionRejected,
    Throttled,
)
from edgevoice.voicelive.session import VoiceLiveSession

logger = logging.getLogger(__name__)

# Errors that are part of normal life: a cancel that crossed the reply's own end (barge-in just as
# it finished), and the notice before the service closes a session that reached its time limit
# (the close that follows is what the link acts on).
_BENIGN_ERRORS = frozenset({"response_cancel_not_active", "session_expired"})

Post = Callable[[object], None]
SessionFactory = Callable[..., VoiceLiveSession]

BATCH_BYTES = 40 * 32  # 40 ms of 16 kHz int16: Voice Live wants audio every 20-50 ms
OUTBOX_LIMIT_BYTES = 60 * 32000  # a minute of audio waiting for a slow connect, at most


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the user said (input transcription) or what the assistant said (reply transcript)."""

    role: str  # "user" or "assistant"
    text: str
    item_id: str = ""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of streamed text: the visitor's words (input transcription) or the reply's."""

    role: str  # "user" or "assistant"
    text: str
    item_id: str = ""
    response_id: str = ""
    audio_ms: float = 0.0  # a reply's: the response's audio received before this text (where it is spoken)


@dataclass(slots=True)
class _Outbox:
    """What the machine sent while the session was still opening, in order."""

    events: list[Mapping[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    report_audio_sent: bool = False  # the turn's first audio is in here
    expects_answer: bool = False  # a commit or response request is in here


def failure_kind(exc: BaseException) -> E.FailureKind:
    """How the machine should treat a session failure."""
    if isinstance(exc, AuthRejected):
        return E.FailureKind.AUTH
    if isinstance(exc, Throttled):
        return E.FailureKind.THROTTLED
    if isinstance(exc, (ServiceError, SessionRejected, ProtocolFailure)):
        return E.FailureKind.SERVICE  # it answered, but not with a working session
    return E.FailureKind.OFFLINE


def session_failed(exc: SessionError) -> E.SessionFailed:
    """The machine event for a connect that failed with ``exc`` (with the server's Retry-After, if any)."""
    retry_after = getattr(exc, "retry_after", None)
    return E.SessionFailed(failure_kind(exc), str(exc), retry_after=retry_after)


class SessionLink:
    """One Voice Live session for the assistant at a time; see the module docstring."""

    def __init__(
        self,
        factory: SessionFactory,
        post: Post,
        *,
        output_rate: int,
        on_audio_sent: Callable[[], None] | None = None,
        on_transcript: Callable[[Transcript], None] | None = None,
        on_connect: Callable[[str], None] | None = None,
        on_text_delta: Callable[[TextDelta], None] | None = None,
        answer_timeout_s: float | None = None,
        stall_timeout_s: float | None = None,
    ) -> None:
        self._factory = factory
        self._post = post
        self._output_rate = output_rate
        self._on_audio_sent = on_audio_sent
        self._on_transcript = on_transcript
        self._on_connect = on_connect  # each connect's outcome: "ok" or a FailureKind value (metrics)
        self._on_text_delta = on_text_delta  # the visitor's words and the reply's text as they stream (captions)
        self._reply_audio_ms = 0.0  # reply audio of the current response received so far
        self._answer_timeout_s = answer_timeout_s
        # While a reply streams, the model may think between events: a longer wait than for the first answer.
        self._stall_timeout_s = stall_timeout_s if stall_timeout_s is not None else answer_timeout_s
        self._waited_s = 0.0  # the wait the running deadline allows (for the log)
        self._answer_timer: threading.Timer | None = None  # running while a request or a reply awaits an event
        self._answer_by = 0.0  # monotonic deadline for the next server event while the timer runs
        self._lock = threading.RLock()
        self._generation = 0
        self._session: VoiceLiveSession | None = None
        self._ready = False
        self._outbox = _Outbox()
        self._batch = bytearray()
        self._streaming = False
        self._first_audio_pending = False
        self._turn_requests: set[str] = set()  # event ids of this turn's commit / response.create
        self._awaiting_reply = False
        self._lifetime_s = math.inf  # how long the service granted the ready session, as of when it was ready
        self._primer: list[Mapping[str, Any]] = []  # sent first on the next session (see prime)
        self.connects = 0
        self.failures = 0
        self.last_connect_ms: float | None = None

    # --- state ---------------------------------------------------------------------------

    @property
    def output_rate(self) -> int:
        """The sample rate of the reply audio the session sends."""
        return self._output_rate

    @property
    def is_open(self) -> bool:
        """A session exists and is ready (not merely opening)."""
        with self._lock:
            return self._ready

    @property
    def is_opening(self) -> bool:
        with self._lock:
            return self._session is not None and not self._ready

    def expires_soon(self, margin_s: float) -> bool:
        """The ready session ends within ``margin_s`` (renew it between turns). A session granted less
        than twice that is renewed in the second half of its life, not at once: a service handing out
        short sessions must not get a reconnect loop."""
        with self._lock:
            if not self._ready or self._session is None:
                return False
            return self._session.expires_soon(min(margin_s, self._lifetime_s / 2))

    # --- opening and closing ------------------------------------------------------------

    def open(self) -> None:
        """Make sure a session is open or opening."""
        with self._lock:
            if self._session is not None:
                return
            self._start_connect()

    def renew(self) -> None:
        """Replace the session with a fresh one (it is about to expire); the machine is not told."""
        with self._lock:
            self._drop_session()
            self._start_connect()

    def close(self) -> None:
        """Close the session; its conversation is gone, and nothing it still sends reaches the machine."""
        with self._lock:
            self._drop_session()

    def prime(self, text: str) -> None:
        """Start the next session's conversation with ``text`` (a user text item; "" = nothing)."""
        with self._lock:
            self._primer = [client_events.item_create_user_text(text)] if text else []

    def use_factory(self, factory: SessionFactory) -> None:
        """Open sessions with ``factory`` from the next one on (another model); an open session goes on."""
        with self._lock:
            self._factory = factory

    def _start_connect(self) -> None:
        self._generation += 1
        generation = self._generation
        try:
            session = self._factory(
                on_event=lambda event: self._on_event(generation, event),
                on_close=lambda code, reason: self._on_close(generation, code, reason),
            )
        except ConfigError as exc:  # e.g. the token file vanished: the credentials are the problem
            logger.error("cannot open a Voice Live session: %s", exc)
            self._connected(E.FailureKind.AUTH.value)
            self._post(E.SessionFailed(E.FailureKind.AUTH, str(exc)))
            return
        self._session = session
        self._ready = False
        self._awaiting_reply = False  # a reply the last session owed died with it
        threading.Thread(target=self._connect, args=(generation, session), name="voicelive-connect", daemon=True).start()

    def _drop_session(self) -> None:
        self._generation += 1
        self._cancel_answer_timer()
        session, self._session = self._session, None
        self._ready = False
        self._outbox = _Outbox()
        self._batch.clear()
        self._turn_requests.clear()
        self._awaiting_reply = False
        if session is not None:
            threading.Thread(target=session.close, name="voicelive-close", daemon=True).start()

    def _connect(self, generation: int, session: VoiceLiveSession) -> None:
        started = time.monotonic()
        try:
            session.connect()
        except SessionError as exc:
            with self._lock:
                if generation != self._generation:
                    return
                self._session = None
                self._outbox = _Outbox()
                self._batch.clear()
                self.failures += 1
            logger.warning("Voice Live session failed to open: %s", exc)
            self._connected(failure_kind(exc).value)
            self._post(session_failed(exc))
            return
        except Exception as exc:  # a bug must not leave the machine waiting forever
            logger.exception("Voice Live session failed to open")
            with self._lock:
                if generation == self._generation:
                    self._session = None
                    self._outbox = _Outbox()
            self._connected(E.FailureKind.OFFLINE.value)
            self._post(E.SessionFailed(E.FailureKind.OFFLINE, f"unexpected error: {type(exc).__name__}"))
            return
        with self._lock:
            if generation != self._generation:
                threading.Thread(target=session.close, daemon=True).start()
                return
            self.connects += 1
            self.last_connect_ms = (time.monotonic() - started) * 1000
            expires_at = session.expires_at
            self._lifetime_s = math.inf if expires_at is None else max(0.0, expires_at - time.time())
            outbox, self._outbox = self._outbox, _Outbox()
            primer, self._primer = self._primer, []
            self._ready = True
            try:
                for event in [*primer, *outbox.events]:
                    self._write(event)
                if outbox.report_audio_sent:
                    self._audio_sent()
                if outbox.expects_answer:
                    self._expect_answer()
            except SessionClosed:
                pass  # on_close reports the drop
        logger.info("Voice Live session ready in %.0f ms (%d events were waiting)", self.last_connect_ms, len(outbox.events))
        self._connected("ok")
        self._post(E.SessionReady())

    # --- sending ---------------------------------------------------------------------------

    def start_streaming(self) -> None:
        """Audio from the gate goes to the session from now on (first audio sent is reported)."""
        with self._lock:
            self._streaming = True
            self._first_audio_pending = True
            self._turn_requests.clear()

    def stop_streaming(self) -> None:
        with self._lock:
            self._flush_batch()
            self._streaming = False

    def send_audio(self, pcm: bytes) -> None:
        """Stream microphone audio (ignored unless streaming); the first chunk of a turn goes at once."""
        if not pcm:
            return
        with self._lock:
            if not self._streaming or self._session is None:
                return
            self._batch += pcm
            if self._first_audio_pending or len(self._batch) >= BATCH_BYTES:
                self._flush_batch()

    def commit(self) -> None:
        self._send_request(client_events.input_audio_commit())

    def request_response(self) -> None:
        with self._lock:
            self._awaiting_reply = True
        self._send_request(client_events.response_create())

    def speak_text(self, text: str) -> None:
        """Have the service say ``text`` as it is (an announcement: pre_generated_assistant_message)."""
        with self._lock:
            self._awaiting_reply = True
        self._send_request(client_events.response_create(pre_generated_text=text))

    def clear_input(self) -> None:
        self._send(client_events.input_audio_clear())

    def cancel_response(self, response_id: str | None) -> None:
        with self._lock:
            if self._awaiting_reply:
                self._awaiting_reply = False
                self._cancel_answer_timer()  # the reply is not wanted any more, however slowly it ends
        self._send(client_events.response_cancel(response_id))

    def send_tool_output(self, call_id: str, output: str) -> None:
        """Answer a function call (a function_call_output item; the reply is asked for separately)."""
        self._send(client_events.item_create_function_output(call_id, output))

    def truncate(self, item_id: str, audio_end_ms: int) -> None:
        self._send(client_events.item_truncate(item_id, max(0, int(audio_end_ms))))

    def _send_request(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._turn_requests.add(str(event.get("event_id", "")))
            self._send(event)
            if self._session is None:
                return
            if self._ready:
                self._expect_answer()
            else:
                self._outbox.expects_answer = True  # the deadline starts when the outbox goes out

    # --- a session that went silent --------------------------------------------------------

    def _expect_answer(self, seconds: float | None = None) -> None:
        """The server must say something (anything) within ``seconds`` (default: the answer timeout;
        call with the lock held).

        A running timer is not restarted (one thread per event would cost too much on a Pi Zero):
        the deadline moves and the timer, when it fires early, waits out the rest.
        """
        seconds = self._answer_timeout_s if seconds is None else seconds
        if seconds is None:
            return
        self._waited_s = seconds
        self._answer_by = time.monotonic() + seconds
        if self._answer_timer is None:
            self._start_answer_timer(seconds)

    def _start_answer_timer(self, seconds: float) -> None:
        token: list[threading.Timer] = []
        timer = threading.Timer(seconds, lambda: self._no_answer(token[0]))
        token.append(timer)
        timer.daemon = True
        timer.name = "voicelive-answer-deadline"
        self._answer_timer = timer
        timer.start()

    def _cancel_answer_timer(self) -> None:
        timer, self._answer_timer = self._answer_timer, None
        if timer is not None:
            timer.cancel()

    def _no_answer(self, timer: threading.Timer) -> None:
        with self._lock:
            if self._answer_timer is not timer:
                return  # answered (or the session replaced) while this timer was firing
            left = self._answer_by - time.monotonic()
            if left > 0:  # the deadline moved (the server is still talking): wait out the rest
                self._start_answer_timer(left)
                return
            self._answer_timer = None
            self._drop_session()
            self.failures += 1
            waited = self._waited_s
        detail = f"Voice Live did not answer within {waited:g} s; the connection seems dead"
        logger.warning("%s: dropping the session", detail)
        self._post(E.SessionFailed(E.FailureKind.OFFLINE, detail, lost=True))

    def _send(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            if self._session is None:
                logger.debug("no session: dropped %s", event.get("type"))
                return
            self._flush_batch()
            self._deliver(event)

    def _flush_batch(self) -> None:
        if not self._batch or self._session is None:
            self._batch.clear()
            return
        pcm = bytes(self._batch)
        self._batch.clear()
        self._deliver(client_events.input_audio_append(pcm), audio_bytes=len(pcm))
        if self._first_audio_pending:
            self._first_audio_pending = False
            if self._ready:
                self._audio_sent()
            else:
                self._outbox.report_audio_sent = True  # reported when the outbox goes out

    def _deliver(self, event: Mapping[str, Any], audio_bytes: int = 0) -> None:
        if not self._ready:
            outbox = self._outbox
            if outbox.audio_bytes + audio_bytes > OUTBOX_LIMIT_BYTES:
                logger.warning("session still opening: outbox full, dropping %s", event.get("type"))
                return
            outbox.events.append(event)
            outbox.audio_bytes += audio_bytes
            return
        try:
            self._write(event)
        except SessionClosed:
            logger.debug("session closed: %s not sent", event.get("type"))

    def _write(self, event: Mapping[str, Any]) -> None:
        assert self._session is not None
        self._session.send(event)

    def _audio_sent(self) -> None:
        if self._on_audio_sent is not None:
            try:
                self._on_audio_sent()
            except Exception:
                logger.exception("audio-sent callback failed")

    # --- receiving -------------------------------------------------------------------------

    def _on_event(self, generation: int, event: V.ServerEvent) -> None:
        with self._lock:
            if generation != self._generation:
                return
            if isinstance(event, V.ResponseCreated):
                self._awaiting_reply = True  # also a reply the server started by itself (server turn detection)
            elif isinstance(event, V.ResponseDone):
                self._awaiting_reply = False
            if self._awaiting_reply:
                self._expect_answer(self._stall_timeout_s)  # alive; a reply is under way: its next event must come in time too
            else:
                self._cancel_answer_timer()  # it is alive
        if isinstance(event, V.Error):
            self._on_error(event)
            return
        self._text_delta(event)
        if isinstance(event, V.InputTranscriptionCompleted):
            self._transcript(Transcript("user", event.transcript, event.item_id))
            return
        if isinstance(event, V.TranscriptDone):
            self._transcript(Transcript("assistant", event.transcript, event.item_id))
            return
        translated = from_server(event, self._output_rate)
        if translated is not None:
            self._post(translated)

    def _transcript(self, transcript: Transcript) -> None:
        if self._on_transcript is not None:
            self._on_transcript(transcript)

    def _connected(self, outcome: str) -> None:
        if self._on_connect is not None:
            self._on_connect(outcome)

    def _text_delta(self, event: V.ServerEvent) -> None:
        """Streamed text, placed in the reply's audio: a reply delta says how much audio came before it."""
        if isinstance(event, V.ResponseCreated):
            self._reply_audio_ms = 0.0
        elif isinstance(event, V.AudioDelta):
            self._reply_audio_ms += len(event.pcm) / 2 / self._output_rate * 1000
        if self._on_text_delta is None:
            return
        if isinstance(event, V.InputTranscriptionDelta) and event.delta:
            self._on_text_delta(TextDelta("user", event.delta, event.item_id))
        elif isinstance(event, V.TranscriptDelta) and event.delta:
            self._on_text_delta(TextDelta("assistant", event.delta, event.item_id, event.response_id,
                                          round(self._reply_audio_ms, 1)))

    def _on_error(self, event: V.Error) -> None:
        with self._lock:
            ours = event.client_event_id is not None and event.client_event_id in self._turn_requests
            fatal = ours or (self._awaiting_reply and event.type == "server_error")
            if fatal:
                self._awaiting_reply = False
                self._cancel_answer_timer()
        code = event.code or event.type or "error"
        if fatal:
            logger.warning("Voice Live failed the turn: %s: %s", code, event.message)
            self._post(E.ServiceError(code, event.message))
        elif code in _BENIGN_ERRORS:
            logger.info("Voice Live: %s: %s", code, event.message)
        else:
            logger.warning("Voice Live reported an error (the turn goes on): %s: %s", code, event.message)

    def _on_close(self, generation: int, code: int, reason: str) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._generation += 1
            self._cancel_answer_timer()
            self._session = None
            self._ready = False
            self._outbox = _Outbox()
            self._batch.clear()
            self.failures += 1
        logger.warning("Voice Live connection lost (close code %s%s)", code, f": {reason}" if reason else "")
        self._post(E.SessionFailed(E.FailureKind.OFFLINE, f"connection lost (close code {code})", lost=True))
