"""``edgevoice status``: the reply is a dict of sections, each built by a small provider.

A provider is any callable returning a JSON-ready dict; :class:`StatusBoard` calls them all and
one that fails shows its error in its own section instead of failing the whole reply. Other
parts add their sections with ``board.add("cost", provider)``.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

logger = logging.getLogger(__name__)

Provider = Callable[[], dict[str, Any]]

REDACTED = "<redacted>"
_SECRET_WORDS = ("key", "token", "secret", "password")


class StatusBoard:
    """Named sections, in the order they were added; ``snapshot()`` builds them all (any thread)."""

    def __init__(self) -> None:
        self._providers: dict[str, Provider] = {}

    def add(self, name: str, provider: Provider) -> None:
        self._providers[name] = provider

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, provider in list(self._providers.items()):
            try:
                out[name] = provider()
            except Exception as exc:  # one broken section does not hide the others
                logger.exception("status section %s failed", name)
                out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return out


class TurnHistory:
    """A telemetry listener: the last turns' latency breakdowns and the wake words of the last hour."""

    def __init__(self, keep: int = 5, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._latencies: deque[dict[str, Any]] = deque(maxlen=max(keep, 0))
        self._wakes: deque[float] = deque()
        self.answered = 0  # turns whose reply started playing
        self.wakes = 0
        self.started = clock()

    def __call__(self, record: dict[str, Any]) -> None:
        event = record.get("event")
        with self._lock:
            if event == "turn_latency":
                entry = {"turn": record.get("turn"), **{k: v for k, v in record.items() if k.endswith("_ms")}}
                if self._latencies and self._latencies[-1]["turn"] == entry["turn"]:
                    self._latencies[-1] = entry  # the reply went on after a tool call: the later figures
                else:
                    self.answered += 1
                    self._latencies.append(entry)
            elif event == "wake":
                self.wakes += 1
                self._wakes.append(self.clock())

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._latencies)

    def wake_rate(self) -> dict[str, Any]:
        """Wake word detections in the last hour and per hour since the start."""
        now = self.clock()
        with self._lock:
            while self._wakes and self._wakes[0] < now - 3600.0:
                self._wakes.popleft()
            last_hour = len(self._wakes)
            total = self.wakes
        hours = max(now - self.started, 3600.0) / 3600.0  # in the first hour: the count so far
        return {"last_hour": last_hour, "total": total, "per_hour": round(total / hours, 2)}


def redacted(value: Any, name: str = "") -> Any:
    """A config (dataclasses) as plain JSON data, with anything named like a secret replaced."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: redacted(getattr(value, f.name), f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted(v, name) for v in value]
    lowered = name.lower()
    secret_name = any(word in lowered for word in _SECRET_WORDS) and "tokens" not in lowered  # max_..._tokens: a number
    if value and secret_name and not lowered.endswith(("_file", "_env", "_pin")):
        return REDACTED
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
