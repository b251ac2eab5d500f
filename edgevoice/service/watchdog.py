"""systemd's watchdog, fed only while the daemon is really alive.

A :class:`Watchdog` pings systemd (``WATCHDOG=1``) from its own thread at half of
``$WATCHDOG_USEC``, but only while every registered liveness check passes. When the capture
thread stalls, its check fails, the pings stop and systemd restarts the service::

    capture_alive = Heartbeat(max_age=2.0)      # the capture loop calls capture_alive.beat()
    watchdog = Watchdog(notifier)
    watchdog.add_check("capture", capture_alive)
    watchdog.start()
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from edgevoice.service.notify import Notifier

if TYPE_CHECKING:
    from edgevoice.audio.frames import FrameSource

logger = logging.getLogger(__name__)

Check = Callable[[], object]


def watchdog_timeout(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog timeout systemd asks this process for, in seconds, or None when there is none.

    Reads ``$WATCHDOG_USEC``; a ``$WATCHDOG_PID`` naming another process means the watchdog is
    not ours (a child that inherited the environment).
    """
    env = os.environ if environ is None else environ
    raw_usec = env.get("WATCHDOG_USEC", "").strip()
    if not raw_usec:
        return None
    try:
        usec = int(raw_usec)
    except ValueError:
        logger.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", raw_usec)
        return None
    if usec <= 0:
        return None
    raw_pid = env.get("WATCHDOG_PID", "").strip()
    if raw_pid:
        try:
            for_pid = int(raw_pid)
        except ValueError:
            logger.warning("ignoring WATCHDOG_PID=%r: not a process id", raw_pid)
            return None
        if for_pid != (os.getpid() if pid is None else pid):
            return None
    return usec / 1_000_000


class Heartbeat:
    """When a loop last showed a sign of life; calling it says whether that was recent enough.

    The loop calls :meth:`beat` (cheap: one clock read); the watchdog calls the heartbeat itself.
    """

    def __init__(self, max_age: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_age <= 0:
            raise ValueError(f"max_age must be positive, not {max_age!r}")
        self.max_age = max_age
        self._clock = clock
        self._last: float | None = None

    def beat(self) -> None:
        """The loop is alive now."""
        self._last = self._clock()

    @property
    def age(self) -> float:
        """Seconds since the last beat (infinite before the first one)."""
        last = self._last
        return float("inf") if last is None else self._clock() - last

    @property
    def alive(self) -> bool:
        """True if the last beat is at most ``max_age`` seconds old."""
        return self.age <= self.max_age

    def __call__(self) -> bool:
        return self.alive

    def __repr__(self) -> str:
        return f"Heartbeat(max_age={self.max_age}, age={self.age:.3f})"


class Watchdog:
    """Pings systemd's watchdog from its own thread while every liveness check passes.

    Does nothing when systemd set no watchdog (``$WATCHDOG_USEC`` unset). When a check fails
    (returns something false or raises) the pings stop and the reason is logged once; when all
    checks pass again the pings resume.
    """

    def __init__(
        self,
        notifier: Notifier | None = None,
        *,
        timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.notifier = notifier if notifier is not None else Notifier(environ=environ)
        #: systemd's watchdog timeout in seconds (None: no watchdog asked for).
        self.timeout = timeout if timeout is not None else watchdog_timeout(environ)
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()
        self._failing: tuple[str, ...] = ()
        self._ticks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Watchdog(timeout={self.timeout}, checks={list(self._checks)}, failing={list(self._failing)})"

    @property
    def enabled(self) -> bool:
        """True when systemd expects pings and there is a socket to send them to."""
        return self.timeout is not None and self.notifier.enabled

    @property
    def interval(self) -> float | None:
        """Seconds between pings: half the timeout, as systemd recommends."""
        return None if self.timeout is None else self.timeout / 2

    @property
    def failing(self) -> tuple[str, ...]:
        """Names of the checks that failed at the last tick."""
        return self._failing

    @property
    def ticks(self) -> int:
        """How many times the checks have been evaluated."""
        return self._ticks

    def add_check(self, name: str, check: Check) -> None:
        """Ping only while ``check()`` returns something true, e.g. ``lambda: frame_age() < 2.0``."""
        if not callable(check):
            raise TypeError(f"watchdog check {name!r} must be callable, not {type(check).__name__}")
        with self._lock:
            self._checks[name] = check

    def remove_check(self, name: str) -> None:
        """Stop considering ``name`` (e.g. while the microphone is deliberately closed)."""
        with self._lock:
            self._checks.pop(name, None)

    def run_checks(self) -> dict[str, str]:
        """Evaluate every check; returns ``{name: why}`` for those that failed (empty: all alive)."""
        with self._lock:
            checks = list(self._checks.items())
        failures: dict[str, str] = {}
        for name, check in checks:
            try:
                if not check():
                    age = getattr(check, "age", None)  # a Heartbeat says how long it has been quiet
                    failures[name] = f"no sign of life for {age:.1f} s" if isinstance(age, float) else "not alive"
            except Exception as exc:  # a broken check means we cannot vouch for liveness
                failures[name] = f"check raised {type(exc).__name__}: {exc}"
        return failures

    def tick(self) -> bool:
        """Evaluate the checks once and ping if they all pass; returns True if a ping was sent."""
        failures = self.run_checks()
        failing = tuple(failures)
        if failing != self._failing:
            if failing:
                reasons = "; ".join(f"{name}: {why}" for name, why in failures.items())
                logger.warning("watchdog: not pinging systemd while checks fail (%s)", reasons)
            else:
                logger.info("watchdog: all checks pass again, pinging systemd")
            self._failing = failing
        pinged = not failing and self.notifier.watchdog()
        self._ticks += 1
        return pinged

    def start(self) -> bool:
        """Start the pinging thread; returns False (and does nothing) when there is no watchdog."""
        if not self.enabled:
            logger.debug("watchdog: systemd asked for none, not starting")
            return False
        if self._thread is not None and self._thread.is_alive():
            return True
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="edgevoice-watchdog", daemon=True)
        self._thread.start()
        logger.debug("watchdog: pinging every %.3f s while %s pass", self.interval, list(self._checks) or "no checks")
        return True

    def stop(self, timeout: float | None = None) -> None:
        """Stop pinging and wait for the thread to end."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        interval = self.interval
        assert interval is not None
        while True:
            self.tick()
            if self._stop.wait(interval):
                return

    def __enter__(self) -> Watchdog:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class CaptureAlive:
    """The watchdog's capture check: frames flow, or the source knows they do not and is reopening it
    (a restart would not bring back an unplugged microphone), or it just changed state (a reopen
    under way). A source stuck for longer than the heartbeat's max_age with no word fails it."""

    def __init__(self, heartbeat: Heartbeat, source: FrameSource) -> None:
        self._heartbeat = heartbeat
        self._source = source
        self._changed_at = float("-inf")

    def source_changed(self) -> None:
        """The source reported a new state (from its thread)."""
        self._changed_at = time.monotonic()

    @property
    def age(self) -> float:
        """Seconds since the last frame (for the watchdog's message)."""
        return self._heartbeat.age

    def __call__(self) -> bool:
        heartbeat = self._heartbeat
        recent_news = time.monotonic() - self._changed_at <= heartbeat.max_age
        return heartbeat.alive or not self._source.status.ok or recent_news
