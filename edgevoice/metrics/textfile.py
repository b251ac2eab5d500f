"""Write the metrics file for node_exporter's textfile collector: every interval and when asked.

Providers are functions that return Prometheus families (the fleet figures, the process's
footprint; a cost or token provider is one more). The file is replaced atomically, so the
collector never reads half of it. A write that fails (a full disk, a missing directory) is
logged once and retried at the next interval; the daemon goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from edgevoice.metrics.exposition import Family, render
from edgevoice.files import atomic_write

logger = logging.getLogger(__name__)

Provider = Callable[[], Iterable[Family]]


class MetricsTextfile:
    """A .prom file kept up to date by a background thread."""

    def __init__(self, path: Path, *, interval_s: float = 15.0) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self._providers: list[Provider] = []
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self.writes = 0
        self.last_write_s = 0.0  # how long the last write took (render and replace)

    def add_provider(self, provider: Provider) -> None:
        self._providers.append(provider)

    def text(self) -> str:
        families: list[Family] = []
        for provider in self._providers:
            families.extend(provider())
        return render(families)

    def write_now(self) -> bool:
        """Render and replace the file; False (logged) if it could not be written."""
        started = time.perf_counter()
        try:
            atomic_write(self.path, self.text().encode("utf-8"))
        except OSError as exc:
            if not self._failing:
                logger.error("cannot write the metrics file %s: %s (retrying every %.0f s)", self.path, exc.strerror or exc,
                             self.interval_s)
            self._failing = True
            return False
        if self._failing:
            logger.info("metrics file %s written again", self.path)
        self._failing = False
        self.writes += 1
        self.last_write_s = time.perf_counter() - started
        return True

    def request(self) -> None:
        """Write soon, on the writer's thread (at a turn's end: never on the caller's)."""
        self._due.set()

    def start(self) -> MetricsTextfile:
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.write_now()
            except Exception:  # a provider's bug must not end the daemon's metrics for good
                logger.exception("metrics provider failed")
            self._due.wait(self.interval_s)
            self._due.clear()

    def close(self) -> None:
        """Stop the thread after a last write (the final figures of the run)."""
        self._stop.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            try:
                self.write_now()
            except Exception:
                logger.exception("metrics provider failed")
