"""The emulator's thin I/O shell: a ``websockets`` asyncio server running in one background thread.

Each connection gets a :class:`~edgevoice.voicelive.emulator.conversation.Conversation`; a
reader task feeds it client messages, a writer task sends what it produces, renders reply audio
in a worker thread, and applies pacing and the connection's :class:`FaultPlan`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from edgevoice.voicelive.emulator import vocabulary, formats
from edgevoice.voicelive.emulator.conversation import Conversation, SpeechRequest
from edgevoice.voicelive.emulator.ga import GaWire
from edgevoice.voicelive.emulator.faults import PACINGS, FaultPlan, Scenario
from edgevoice.voicelive.emulator.tool_calls import ToolCall
from edgevoice.voicelive.emulator.handshake import Accepted, Rejection, bearer_tokens, check_request, fault_rejection
from edgevoice.voicelive.emulator.session_settings import input_channels
from edgevoice.audio.speech import Speech

logger = logging.getLogger(__name__)


class _NoHandshakeDebug(logging.Filter):
    """websockets logs the raw request headers (the api-key among them) at DEBUG: never let those out."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_AUDIO_DELTAS = ("response.audio.delta", "response.output_audio.delta")  # Voice Live and GA names
_WEBSOCKETS_LOGGER = logging.getLogger(__name__ + ".websockets")
_WEBSOCKETS_LOGGER.addFilter(_NoHandshakeDebug())

MAX_RECORDED_EVENTS = 50_000  # per session, so a long-running emulator stays bounded
MAX_RECORDED_SESSIONS = 1_000
MAX_MESSAGE_BYTES = 16 * 2**20


@dataclass
class SessionRecord:
    """What one WebSocket session did, for assertions: events in and out, responses, how it ended."""

    id: str
    connection: int  # index of the connection (0 = first since the emulator started)
    model: str
    api_version: str
    faults: FaultPlan
    client_events: list[dict[str, Any]] = field(default_factory=list)  # appends keep "audio_bytes", not audio
    server_events: list[str] = field(default_factory=list)  # types, in order sent
    audio_bytes: int = 0  # microphone audio received (of a stereo stream with a client echo reference: channel 0)
    responses: list[dict[str, Any]] = field(default_factory=list)  # {"id", "status", "reason"}
    dropped: bool = False  # the emulator cut the TCP connection (fault)
    closed: bool = False
    close_code: int | None = None

    def events(self, kind: str) -> list[dict[str, Any]]:
        """Client events of one type, in order."""
        return [e for e in self.client_events if e.get("type") == kind]

    @property
    def truncates(self) -> list[dict[str, Any]]:
        return self.events("conversation.item.truncate")

    @property
    def responses_cancelled(self) -> int:
        return sum(r["status"] == "cancelled" for r in self.responses)


@dataclass
class _Link:
    """Per-connection state shared by the reader, writer and expiry tasks."""

    ws: ServerConnection
    conv: Conversation
    record: SessionRecord
    plan: FaultPlan
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    expired: bool = False
    appends: int = 0


class _Dropped(Exception):
    """The writer cut the connection on purpose."""


class Emulator:
    """A local stand-in for Azure Voice Live (like Azurite for storage), for tests and demos.

    ``Emulator(api_key="k").start()`` listens on ``.url`` (``http://127.0.0.1:PORT``, the form the
    SDK's ``endpoint`` takes). With ``api_key=None`` any key is accepted, but one is still required.
    ``transcripts``/``replies`` script the n-th user audio transcript and the n-th reply of each
    session; ``pacing="realtime"`` sends reply audio at its real-time rate.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        *,
        faults: FaultPlan | None = None,
        transcripts: Sequence[str] = (),
        replies: Sequence[str] = (),
        pacing: str = "fast",
        speech: Speech | None = None,
        chunk_ms: int = 100,
        keep_sessions: int = MAX_RECORDED_SESSIONS,
        tool_calls: Sequence[ToolCall] = (),
    ) -> None:
        if pacing not in PACINGS:
            raise ValueError(f"pacing must be one of {PACINGS}, not {pacing!r}")
        if keep_sessions < 1:
            raise ValueError(f"keep_sessions must be at least 1, not {keep_sessions}")
        self.host = host
        self.port = port
        self._api_key = api_key
        self.transcripts = tuple(transcripts)
        self.replies = tuple(replies)
        self.tool_calls = tuple(tool_calls)  # the model's next responses in each session call these
        self.pacing = pacing
        self.speech = speech or Speech()
        self.chunk_ms = chunk_ms
        self.keep_sessions = keep_sessions  # session records kept (a long-running emulator keeps few)
        self._cond = threading.Condition()
        self._faults = FaultPlan()
        self._faulted_left: int | None = None
        self.set_faults(faults or FaultPlan())
        # records (guarded by _cond)
        self.connections = 0  # HTTP upgrade requests seen
        self.accepted = 0  # WebSocket sessions opened
        self.rejected: list[int] = []  # HTTP statuses of refused upgrades
        self.hung = 0  # upgrades left unanswered (hang_on_connect)
        self.sessions: list[SessionRecord] = []  # the latest keep_sessions
        # runtime
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        # upgrades that passed the checks, until their session starts (weak: websockets may still refuse them)
        self._opening: weakref.WeakKeyDictionary[ServerConnection, tuple[FaultPlan, Accepted, int]] = weakref.WeakKeyDictionary()

    @classmethod
    def from_scenario(cls, scenario: Scenario, **kwargs: Any) -> Emulator:
        """An emulator set up by a scenario (faults, transcripts, replies, pacing)."""
        return cls(faults=scenario.faults, transcripts=scenario.transcripts, replies=scenario.replies, pacing=scenario.pacing,
                   tool_calls=scenario.tool_calls, **kwargs)

    def __repr__(self) -> str:
        key = "required" if self._api_key else "any"
        return f"<Emulator {self.url} key={key} pacing={self.pacing} faults={self._faults.describe()!r}>"

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The endpoint to give a client: ``http://HOST:PORT`` (the client switches to ws://)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL: ``ws://HOST:PORT/voice-live/realtime``."""
        return self.url.replace("http://", "ws://", 1) + vocabulary.PATH

    def start(self) -> Emulator:
        """Start serving in a background thread; returns once listening (raises OSError if it cannot)."""
        if self._thread is not None:
            return self
        self._started.clear()
        self._start_error = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="voicelive-emulator", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error
        logger.info("Voice Live emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Close every connection (code 1001) and stop the server thread."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None or loop is None or stop_event is None:
            return
        loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout=15)
        if thread.is_alive():
            logger.warning("emulator thread did not stop within 15 s")
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults and records --------------------------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        return self._faults

    def set_faults(self, plan: FaultPlan) -> None:
        """Use ``plan`` for the next ``plan.connections`` connections (all if unset); open sessions keep theirs."""
        with self._cond:
            self._faults = plan
            self._faulted_left = plan.connections

    def _next_plan(self) -> tuple[FaultPlan, int]:
        """The fault plan for a new connection, and the connection's index."""
        with self._changing():
            index = self.connections
            self.connections += 1
            if self._faulted_left is None:
                return self._faults, index
            if self._faulted_left > 0:
                self._faulted_left -= 1
                return self._faults, index
            return FaultPlan(), index

    def wait_until(self, predicate: Callable[[Emulator], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate(emulator)`` holds (checked whenever records change); TimeoutError if not."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                raise TimeoutError(f"emulator condition not met within {timeout} s")

    @property
    def responses_cancelled(self) -> int:
        with self._cond:
            return sum(s.responses_cancelled for s in self.sessions)

    def session(self, index: int = -1) -> SessionRecord:
        """A session record (default: the latest)."""
        with self._cond:
            return self.sessions[index]

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the records lock for a change, then wake wait_until()."""
        with self._cond:
            yield
            self._cond.notify_all()

    # --- server --------------------------------------------------------------------------------

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        try:
            server = await serve(
                self._serve,
                self.host,
                self.port,
                process_request=self._process_request,
                compression=None,
                max_size=MAX_MESSAGE_BYTES,
                open_timeout=None,  # so hang_on_connect can hang as long as the client waits
                logger=_WEBSOCKETS_LOGGER,
            )
        except OSError as exc:
            self._start_error = exc
            self._started.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        await self._stop_event.wait()
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=5)
        except TimeoutError:
            logger.warning("some emulator connections did not close within 5 s")

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        plan, index = self._next_plan()
        if plan.hang_on_connect:
            with self._changing():
                self.hung += 1
            logger.info("connection %d: hanging after TCP accept (fault)", index)
            assert self._stop_event is not None
            closed = asyncio.ensure_future(connection.wait_closed())
            stopping = asyncio.ensure_future(self._stop_event.wait())
            await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            stopping.cancel()
            connection.transport.abort()
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "")
        headers = request.headers
        verdict = check_request(
            request.path, headers.get_all("api-key"), bearer_tokens(headers.get_all("Authorization")), self._api_key
        )
        if isinstance(verdict, Accepted) and plan.reject_status is not None:
            verdict = fault_rejection(plan.reject_status, plan.retry_after_s)
        if isinstance(verdict, Rejection):
            logger.info("connection %d: refused with HTTP %d: %s", index, verdict.status, verdict.message)
            with self._changing():
                self.rejected.append(verdict.status)
            return _http_response(connection, verdict)
        self._opening[connection] = (plan, verdict, index)
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        plan, accepted, index = self._opening.pop(ws)
        lifetime = plan.expire_after_s if plan.expire_after_s is not None else vocabulary.SESSION_LIFETIME_S
        conv = Conversation(
            model=accepted.model, now=time.time(), lifetime_s=lifetime, transcripts=self.transcripts, replies=self.replies, chunk_ms=self.chunk_ms,
            tool_calls=self.tool_calls, wire=GaWire() if accepted.dialect == "azure-openai" else None,
        )
        record = SessionRecord(conv.session["id"], index, accepted.model, accepted.api_version, plan)
        with self._changing():
            self.accepted += 1
            self.sessions.append(record)
            del self.sessions[:-self.keep_sessions]
        logger.info("connection %d: session %s opened (model %s, faults: %s)", index, record.id, accepted.model, plan.describe())
        link = _Link(ws, conv, record, plan)
        tasks = [asyncio.create_task(self._read(link)), asyncio.create_task(self._write(link))]
        if plan.expire_after_s is not None:
            tasks.append(asyncio.create_task(self._expire(link, plan.expire_after_s)))
        failed = False
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, (ConnectionClosed, _Dropped)):
                    logger.error("session %s failed: %r", record.id, result, exc_info=result)
                    failed = True
        if not link.record.dropped:
            await (ws.close(1011, "emulator error") if failed else ws.close())
        with self._changing():
            record.closed = True
            record.close_code = ws.close_code
        logger.info("session %s closed (code %s)", record.id, ws.close_code)

    async def _read(self, link: _Link) -> None:
        async for message in link.ws:
            event = link.conv.receive(message)
            if event is not None:
                summary = _summarize(event)
                if "audio_bytes" in summary:  # of the microphone: a stereo stream's channel 0
                    summary["audio_bytes"] //= input_channels(link.conv.session)
                with self._changing():
                    _record_client_event(link.record, summary)
                if event.get("type") == "input_audio_buffer.append":
                    link.appends += 1
                    if link.plan.drop_after_appends is not None and link.appends >= link.plan.drop_after_appends:
                        self._drop(link, f"after {link.appends} appends")
                        return
            link.wake.set()

    async def _write(self, link: _Link) -> None:
        ws, conv, plan = link.ws, link.conv, link.plan
        deltas = 0
        audio_format = "pcm16"
        pace_start: float | None = None
        paced_ms = 0.0
        while True:
            if link.expired and not conv.control_pending:
                await ws.close(1000, "session expired")
                return
            out = conv.next_event()
            if out is None:
                link.wake.clear()
                await link.wake.wait()
                continue
            if isinstance(out, SpeechRequest):
                pcm = await asyncio.to_thread(self.speech.render, out.text, out.sample_rate, out.voice)
                conv.provide_speech(out, pcm)
                continue
            kind = out["type"]
            if plan.event_delay_ms:
                await asyncio.sleep(plan.event_delay_ms / 1000)
            if kind == "response.created":
                deltas, pace_start, paced_ms = 0, None, 0.0
                audio_format = out["response"].get("output_audio_format", "pcm16")  # GA: always 24 kHz pcm16
                if plan.response_delay_ms:
                    await asyncio.sleep(plan.response_delay_ms / 1000)
            elif kind in _AUDIO_DELTAS and self.pacing == "realtime":
                now = asyncio.get_running_loop().time()
                pace_start = now if pace_start is None else pace_start
                if pace_start + paced_ms / 1000 > now:
                    await asyncio.sleep(pace_start + paced_ms / 1000 - now)
                paced_ms += _delta_ms(out["delta"], audio_format)
            await ws.send(json.dumps(out))
            with self._changing():
                _record_server_event(link.record, out)
            if kind == "response.created":
                await self._mid_response_faults(link, 0)
            elif kind in _AUDIO_DELTAS:
                deltas += 1
                await self._mid_response_faults(link, deltas)

    async def _mid_response_faults(self, link: _Link, deltas: int) -> None:
        """Fire the faults whose "after N audio deltas" count is ``deltas``."""
        plan, ws = link.plan, link.ws
        if plan.malformed_json_after_audio_deltas == deltas:
            await ws.send('{"type": "response.audio.delta", "delta": "AAAA')  # cut short on purpose
        if plan.unknown_event_after_audio_deltas == deltas:
            await ws.send(json.dumps({"type": "emulator.unknown_event", "event_id": f"event_unknown_{deltas}", "note": "emulated fault"}))
        if plan.error_after_audio_deltas == deltas:
            link.conv.fail_response("server_error", "The server had an error while processing your request (emulated fault).")
        if plan.stall_s and plan.stall_after_audio_deltas == deltas:
            logger.info("session %s: stalling for %.1f s (fault)", link.record.id, plan.stall_s)
            await asyncio.sleep(plan.stall_s)
        if plan.drop_after_audio_deltas == deltas:
            self._drop(link, f"after {deltas} audio deltas")

    def _drop(self, link: _Link, why: str) -> None:
        logger.info("session %s: dropping the connection %s (fault)", link.record.id, why)
        with self._changing():
            link.record.dropped = True
        link.ws.transport.abort()
        raise _Dropped(why)

    async def _expire(self, link: _Link, after_s: float) -> None:
        await asyncio.sleep(after_s)
        logger.info("session %s: expired after %.1f s (fault)", link.record.id, after_s)
        link.conv.expire()
        link.expired = True
        link.wake.set()
        await asyncio.Event().wait()  # the writer closes the connection; this task just waits to be cancelled


def _http_response(connection: ServerConnection, rejection: Rejection) -> Response:
    response = connection.respond(rejection.status, json.dumps(rejection.body) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    for name, value in rejection.headers:
        response.headers[name] = value
    return response


def _delta_ms(delta: str, audio_format: str) -> float:
    size = len(delta) * 3 // 4 - delta[-2:].count("=")
    return size / formats.bytes_per_sample(audio_format) * 1000 / formats.output_rate(audio_format)


def _summarize(event: dict[str, Any]) -> dict[str, Any]:
    """The event as recorded: an append keeps the size of its audio, not the audio."""
    if event.get("type") == "input_audio_buffer.append" and isinstance(event.get("audio"), str):
        audio = event["audio"]
        summary = {k: v for k, v in event.items() if k != "audio"}
        summary["audio_bytes"] = len(audio) * 3 // 4 - audio[-2:].count("=")
        return summary
    return event


def _record_client_event(record: SessionRecord, summary: dict[str, Any]) -> None:
    if len(record.client_events) < MAX_RECORDED_EVENTS:
        record.client_events.append(summary)
    record.audio_bytes += summary.get("audio_bytes", 0)


def _record_server_event(record: SessionRecord, event: dict[str, Any]) -> None:
    if len(record.server_events) < MAX_RECORDED_EVENTS:
        record.server_events.append(event["type"])
    if event["type"] == "response.done":
        response = event["response"]
        details = response.get("status_details") or {}
        record.responses.append({"id": response["id"], "status": response["status"], "reason": details.get("reason")})
