"""The daemon's offline shell: connectivity from session outcomes, background checks, and warming the cache.

The daemon's loop thread drives it: ``observe(event)`` for every machine event (session outcomes
update the :class:`~edgevoice.offline.connectivity.Connectivity` value), ``hold()``, which the
loop hands to the machine when it changes (the machine refuses connects while the server's
Retry-After runs, and automatic ones while a backoff runs), and ``tick()`` once per loop round, which starts a check when one is due, turns finished checks
into ``ServiceBack`` events for the machine, and starts warming the phrase cache while nobody is
talking. The checks and the warm-up run on worker threads that only hand results back through an
inbox, so the connectivity value is only ever touched by the loop thread.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edgevoice.assistant import events as E
from edgevoice.assistant.state import ConnectHold
from edgevoice.config.schema import Config
from edgevoice.offline.cache import PhraseCache, VoiceKey
from edgevoice.offline.connectivity import Connectivity, ProbePolicy, Reach
from edgevoice.offline.phrases import PhraseBook
from edgevoice.offline.probe import ProbeResult, probe
from edgevoice.offline.render import SessionFactory, WarmReport, warm

logger = logging.getLogger(__name__)

WARM_RETRY_S = 300.0  # after a warm-up that could not finish, wait this long before the next one


@dataclass(frozen=True, slots=True)
class _Probed:
    result: ProbeResult


@dataclass(frozen=True, slots=True)
class _Warmed:
    report: WarmReport


class OfflineSupport:
    """Cached replies and finding the service again, for one daemon and one config."""

    def __init__(
        self,
        config: Config,
        *,
        post: Callable[[object], None],
        factory: SessionFactory | None,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] | None = None,
        check: Callable[[str, float], ProbeResult] = probe,
    ) -> None:
        self.config = config.offline
        self.voicelive = config.voicelive
        self.voice = VoiceKey.from_config(config.voicelive)
        self.cache = PhraseCache(config.offline.cache_dir)
        # The phrases and the [[offline.answers]] texts: rendered, cached and played alike.
        self.phrases = PhraseBook(config.offline.spoken_texts(), cache=self.cache, voice=self.voice)
        self.connectivity = Connectivity(ProbePolicy(config.offline.probe_min_s, config.offline.probe_max_s))
        self.probes = 0  # checks started
        self._post = post
        self._factory = factory
        self._clock = clock
        self._jitter = jitter if jitter is not None else random.Random().random  # a private generator
        self._check = check
        self._url = config.voicelive.dialect.realtime_url(config.voicelive)
        self._inbox: queue.SimpleQueue[_Probed | _Warmed] = queue.SimpleQueue()
        self._idle = threading.Event()  # set while nobody is talking to the assistant (warm-up may run)
        self._closed = threading.Event()
        self._session_seen = False
        self._warm_thread: threading.Thread | None = None
        self._warm_done = not config.offline.warm
        self._warm_not_before = 0.0
        if config.offline.warm and not self.cache.writable:
            logger.warning(
                "phrase cache %s does not exist or is not writable: offline phrases use the local voice "
                "(the service's CacheDirectory= creates it; or run `edgevoice cache warm`)", self.cache.directory,
            )
            self._warm_done = True

    # --- the loop thread ---------------------------------------------------------------------

    def observe(self, event: E.Event) -> None:
        """Learn from a machine event before the machine sees it (session outcomes)."""
        if isinstance(event, E.SessionReady):
            if not self.connectivity.online:
                logger.info("Voice Live is reachable again (a session opened)")
            self.connectivity = self.connectivity.session_opened()
            self._session_seen = True
        elif isinstance(event, E.SessionFailed):
            if event.held:
                return  # the machine refused a connect while held off: no new failure
            now = self._clock()
            before = self.connectivity
            self.connectivity = before.session_failed(
                now, event.kind.value, jitter=self._jitter(), lost=event.lost, retry_after=event.retry_after,
                detail=event.detail,
            )
            if self.connectivity.status is not Reach.ONLINE:
                logger.warning("Voice Live %s", self.connectivity.describe(now))

    def hold(self, now: float) -> ConnectHold | None:
        """Whether connecting is held off now (the machine decides from it, see HoldChanged).

        Nothing connects before the server's Retry-After has passed; a spare session (nobody is
        waiting for it) also waits while a backoff runs, until the next check finds the service.
        """
        c = self.connectivity
        if c.hold_off(now) > 0:
            return ConnectHold(E.FailureKind.THROTTLED.value, "Voice Live asked to wait (Retry-After)")
        if not c.may_connect_by_itself(now):
            kind = c.kind if c.kind in {k.value for k in E.FailureKind} else E.FailureKind.OFFLINE.value
            return ConnectHold(kind, "waiting for the next check before connecting again", spare_only=True)
        return None

    def tick(self, *, idle: bool) -> list[E.Event]:
        """Once per loop round: results of finished work, a check when due, a warm-up when idle.
        Returns events for the machine (``ServiceBack``)."""
        now = self._clock()
        events: list[E.Event] = []
        if idle:
            self._idle.set()
        else:
            self._idle.clear()
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Probed):
                events.extend(self._probed(item.result, now))
            else:
                self._warmed(item.report, now)
        if self.connectivity.probe_due(now):
            self._start_probe()
        if idle and self._warm_due(now):
            self._start_warm()
        return events

    def _probed(self, result: ProbeResult, now: float) -> list[E.Event]:
        if self.connectivity.online:
            return []  # a session opened while the check ran: that says more
        if result.ok:
            logger.info("Voice Live endpoint answers again (%s in %.0f ms)", result.detail, result.ms)
            self.connectivity = self.connectivity.probe_succeeded()
            return [E.ServiceBack()]
        self.connectivity = self.connectivity.probe_failed(now, jitter=self._jitter(), detail=result.detail)
        logger.info("Voice Live still unreachable: %s", self.connectivity.describe(now))
        return [E.ServiceUnreachable(E.FailureKind.OFFLINE, result.detail)]

    def _start_probe(self) -> None:
        self.connectivity = self.connectivity.probe_started()
        self.probes += 1
        timeout = self.voicelive.connect_timeout_s

        def run() -> None:
            result = self._check(self._url, timeout)
            self._inbox.put(_Probed(result))
            self._post(None)  # wake the loop

        threading.Thread(target=run, name="voicelive-check", daemon=True).start()

    # --- warming the cache ---------------------------------------------------------------------

    def _warm_due(self, now: float) -> bool:
        return (
            not self._warm_done
            and self._warm_thread is None
            and self._factory is not None
            and self._session_seen
            and self.connectivity.online
            and self.connectivity.may_connect_by_itself(now)
            and now >= self._warm_not_before
            and bool(self.phrases.missing())
        )

    def _start_warm(self) -> None:
        missing = self.phrases.missing()
        logger.info("rendering %d phrase(s) in the assistant's voice in the background", len(missing))
        assert self._factory is not None
        factory = self._factory

        def run() -> None:
            try:
                report = warm(
                    self.cache, self.phrases.texts, self.voice, factory, rate=self.voicelive.output_sample_rate,
                    should_continue=lambda: self._idle.is_set() and not self._closed.is_set(),
                    on_rendered=self.phrases.put,
                )
            except Exception as exc:  # a bug must not leave the warm-up marked as running
                logger.exception("warming the phrase cache failed")
                report = WarmReport(error=f"unexpected error: {type(exc).__name__}")
            self._inbox.put(_Warmed(report))
            self._post(None)

        self._warm_thread = threading.Thread(target=run, name="phrase-warm", daemon=True)
        self._warm_thread.start()

    def _warmed(self, report: WarmReport, now: float) -> None:
        self._warm_thread = None
        self.phrases.reload()
        if report.complete:
            self._warm_done = True
            logger.info("phrase cache warm: %s", report)
        elif report.stopped and not report.failed and not report.error:
            logger.info("phrase cache warm-up paused for a turn: %s", report)
        else:
            self._warm_not_before = now + WARM_RETRY_S
            logger.warning("phrase cache warm-up incomplete (%s); trying again in %.0f s", report, WARM_RETRY_S)

    @property
    def warming(self) -> bool:
        return self._warm_thread is not None

    def close(self) -> None:
        """Stop: a warm-up in progress ends after the phrase it is rendering; checks are abandoned."""
        self._closed.set()
        self._idle.clear()
