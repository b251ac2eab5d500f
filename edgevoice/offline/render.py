"""Render the phrases in the assistant's own voice through a real Voice Live session, and warm the cache.

For each phrase the renderer sends ``response.create`` with ``pre_generated_assistant_message`` (the
service speaks exactly that text without running the model) and collects the reply's audio deltas
until ``response.done``. A service that refuses the pre-generated message gets a response with
strict instructions instead, and the reply's transcript must then match the text (a model that
improvises is not cached). One session renders all phrases, one after the other; it is the
session the assistant itself would open (same voice, model and output format), closed afterwards.
"""

from __future__ import annotations

import logging
import queue
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgevoice.config.errors import ConfigError
from edgevoice.offline.cache import CacheError, PhraseCache, Status, VoiceKey
from edgevoice.playback.convert import whole_samples
from edgevoice.playback.sound import Sound
from edgevoice.voicelive.protocol import server_events as V
from edgevoice.voicelive.errors import SessionClosed, SessionError
from edgevoice.voicelive.session import VoiceLiveSession

logger = logging.getLogger(__name__)

SessionFactory = Callable[..., VoiceLiveSession]

RENDER_TIMEOUT_S = 30.0  # one phrase, from response.create to response.done
STRICT_INSTRUCTIONS = (
    "Say exactly the following text, word for word, in your usual voice, and nothing else: no greeting, "
    "no comment, no quotation marks.\n\n{text}"
)


class RenderError(Exception):
    """A phrase could not be rendered (the session failed, the response failed or said something else)."""


@dataclass(frozen=True, slots=True)
class _Closed:
    code: int
    reason: str


class PhraseRenderer:
    """Renders texts into audio in the assistant's voice over one Voice Live session.

    ``with PhraseRenderer(factory, rate=16000) as renderer: sound = renderer.render("Hello.")``.
    ``factory(on_event=..., on_close=...)`` makes the unconnected session (the daemon's own factory).
    """

    def __init__(self, factory: SessionFactory, *, rate: int, timeout_s: float = RENDER_TIMEOUT_S) -> None:
        self.rate = rate
        self.timeout_s = timeout_s
        self._factory = factory
        self._events: queue.SimpleQueue[V.ServerEvent | _Closed] = queue.SimpleQueue()
        self._session: VoiceLiveSession | None = None
        self._pre_generated = True  # until the service refuses it

    def open(self) -> PhraseRenderer:
        """Connect (raises a SessionError subclass when the service cannot be had)."""
        session = self._factory(on_event=self._events.put, on_close=lambda code, reason: self._events.put(_Closed(code, reason)))
        session.connect()
        self._session = session
        # A service without pre-generated messages (Azure OpenAI) is asked with strict instructions at once.
        self._pre_generated = session.dialect.pre_generated_messages
        return self

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> PhraseRenderer:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self, text: str) -> Sound:
        """The audio of ``text`` spoken by the service; raises RenderError."""
        if self._session is None:
            raise RenderError("the renderer is not connected")
        if self._pre_generated:
            try:
                return self._render(text, strict=False)
            except _Refused as exc:
                logger.warning("Voice Live refused a pre-generated message (%s); rendering with instructions", exc)
                self._pre_generated = False
        return self._render(text, strict=True)

    def _render(self, text: str, *, strict: bool) -> Sound:
        session = self._session
        assert session is not None
        self._drain()
        try:
            if strict:
                event_id = session.create_response(STRICT_INSTRUCTIONS.format(text=text))
            else:
                event_id = session.create_response(pre_generated_text=text)
        except SessionError as exc:
            raise RenderError(f"cannot ask for the phrase: {exc}") from None
        deadline = time.monotonic() + self.timeout_s
        response_id: str | None = None
        pcm: list[bytes] = []
        transcript: str | None = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._cancel(response_id)
                raise RenderError(f"no complete reply within {self.timeout_s:g} s")
            try:
                event = self._events.get(timeout=left)
            except queue.Empty:
                continue
            if isinstance(event, _Closed):
                raise RenderError(f"the session ended (close code {event.code}{': ' + event.reason if event.reason else ''})")
            if isinstance(event, V.Error):
                if event.client_event_id == event_id or (response_id is None and event.param and "response" in event.param):
                    if not strict:
                        raise _Refused(event.message or event.code or "error")
                    raise RenderError(f"Voice Live refused the request: {event.message or event.code}")
                logger.debug("Voice Live reported an error while rendering: %s", event.message)
            elif isinstance(event, V.ResponseCreated) and response_id is None:
                response_id = event.response_id
            elif isinstance(event, V.AudioDelta) and event.response_id == response_id:
                pcm.append(event.pcm)
            elif isinstance(event, V.TranscriptDone) and event.response_id == response_id:
                transcript = event.transcript
            elif isinstance(event, V.ResponseDone) and event.response_id == response_id:
                if event.status != "completed":
                    raise RenderError(f"the reply ended {event.status}{': ' + event.reason if event.reason else ''}")
                break
        audio = whole_samples(b"".join(pcm))
        if not audio:
            raise RenderError("the reply had no audio")
        if strict and (transcript is None or _words(transcript) != _words(text)):
            raise RenderError(f"the service said {transcript!r} instead of the text")
        return Sound(audio, self.rate)

    def _cancel(self, response_id: str | None) -> None:
        if self._session is not None and response_id is not None:
            try:
                self._session.cancel_response(response_id)
            except SessionClosed:
                pass

    def _drain(self) -> None:
        """Forget what is left of an earlier phrase (late events of a cancelled reply)."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, _Closed):
                self._events.put(event)  # keep it: the session is gone
                return


class _Refused(Exception):
    """The service refused a pre_generated_assistant_message."""


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


@dataclass
class WarmReport:
    """What a warm-up did: phrases rendered, already cached, failed (name -> reason), and whether it
    stopped early (a turn began, or the service went away)."""

    rendered: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stopped: bool = False
    error: str = ""  # why it could not start or stopped (the session could not be opened, ...)

    @property
    def complete(self) -> bool:
        return not self.failed and not self.stopped and not self.error

    def __str__(self) -> str:
        parts = [f"{len(self.rendered)} rendered", f"{len(self.cached)} already cached"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed ({', '.join(f'{k}: {v}' for k, v in self.failed.items())})")
        if self.stopped:
            parts.append("stopped early")
        if self.error:
            parts.append(self.error)
        return ", ".join(parts)


def warm(
    cache: PhraseCache,
    phrases: Mapping[str, str],
    voice: VoiceKey,
    factory: SessionFactory,
    *,
    rate: int,
    force: bool = False,
    should_continue: Callable[[], bool] | None = None,
    on_rendered: Callable[[str, Sound], Any] | None = None,
    timeout_s: float = RENDER_TIMEOUT_S,
) -> WarmReport:
    """Render every phrase not cached for ``voice`` (all with ``force``) and store it.

    ``should_continue()`` is asked before each phrase (the daemon stops when a turn begins); after
    a complete warm-up, entries for other voices or old texts are pruned. Never raises for service
    or cache trouble: the report says what happened.
    """
    report = WarmReport()
    try:
        states = {s.name: s for s in cache.states(phrases, voice)}
    except CacheError as exc:
        report.error = str(exc)
        return report
    todo = [name for name in phrases if force or states[name].status is not Status.CACHED]
    report.cached = [name for name in phrases if name not in todo]
    if todo:
        renderer = PhraseRenderer(factory, rate=rate, timeout_s=timeout_s)
        try:
            renderer.open()
        except (SessionError, ConfigError) as exc:  # ConfigError: the key file cannot be read now
            report.error = f"cannot open a Voice Live session: {exc}"
            return report
        try:
            for name in todo:
                if should_continue is not None and not should_continue():
                    report.stopped = True
                    break
                try:
                    sound = renderer.render(phrases[name])
                    cache.store(name, phrases[name], voice, sound)
                except RenderError as exc:
                    report.failed[name] = str(exc)
                    logger.warning("could not render phrase %r: %s", name, exc)
                    continue
                except CacheError as exc:
                    report.error = str(exc)
                    break
                report.rendered.append(name)
                if on_rendered is not None:
                    on_rendered(name, sound)
        finally:
            renderer.close()
    if report.complete:
        try:
            cache.prune({voice.key(text) for text in phrases.values()})
        except CacheError as exc:
            logger.warning("could not prune the phrase cache: %s", exc)
    return report
