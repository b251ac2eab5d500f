"""Each turn's milestones: the events file (one JSON object a line) and the latency breakdown in the log.

Times are ``time.monotonic()`` seconds, the clock every process on the machine shares, so a
test or a benchmark can line the events file up with its own measurements.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from edgevoice.service.journal import turn_fields

logger = logging.getLogger(__name__)

#: The latency breakdown of a turn: name -> (from milestone, to milestone).
LATENCIES: Mapping[str, tuple[str, str]] = {
    "wake_to_audio": ("wake", "audio_sent"),
    "speech_end_to_commit": ("speech_end", "commit"),
    "commit_to_reply": ("commit", "reply_audio_first"),
    "reply_to_playback": ("reply_audio_first", "playback_start"),
    "voice_to_voice": ("speech_end", "playback_start"),
}

#: Milestones whose last occurrence in a turn counts (the user may pause mid-sentence).
_LAST_WINS = frozenset({"speech_end"})

Listener = Callable[[dict[str, Any]], None]


class Telemetry:
    """Write milestones to the events file (when given) and log each turn's latency breakdown."""

    def __init__(self, path: str | Path | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.turn = 0
        self._times: dict[str, float] = {}
        self._tool_ms = 0.0  # time the turn's tool calls took (part of commit_to_reply)
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if path is not None:
            self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(record)`` for every milestone (the demo and tests watch turns this way)."""
        self._listeners.append(listener)

    def begin_turn(self) -> int:
        """A new turn starts (the gate opens); later milestones carry its number."""
        with self._lock:
            self.turn += 1
            self._times = {}
            self._tool_ms = 0.0
            return self.turn

    def mark(self, event: str, at: float | None = None, **detail: Any) -> dict[str, Any]:
        """Record milestone ``event`` of the current turn at monotonic time ``at`` (default: now)."""
        t = self.clock() if at is None else at
        record: dict[str, Any] = {"t": round(t, 6), "event": event, "turn": self.turn}
        record.update({k: v for k, v in detail.items() if k not in record})
        with self._lock:
            if event in _LAST_WINS:
                self._times[event] = t
            else:
                self._times.setdefault(event, t)
            if event == "tool_call" and isinstance(detail.get("ms"), (int, float)):
                self._tool_ms += float(detail["ms"])
            if self._file is not None:
                self._file.write(json.dumps(record, default=str) + "\n")
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # a broken listener must not break the daemon
                logger.exception("telemetry listener failed")
        if event == "playback_start":
            self.log_breakdown()
        return record

    def latencies(self) -> dict[str, float | None]:
        """The current turn's latency breakdown in milliseconds (None where a milestone is missing)."""
        with self._lock:
            times = dict(self._times)
        out: dict[str, float | None] = {}
        for name, (start, end) in LATENCIES.items():
            if start == "wake" and "wake" not in times:
                start = "gate_open"  # push-to-talk and follow-up turns have no wake word
            a, b = times.get(start), times.get(end)
            out[name] = round((b - a) * 1000, 1) if a is not None and b is not None and b >= a else None
        if "tool_call" in times:
            out["tools"] = round(self._tool_ms, 1)  # the tools the model called, within commit_to_reply
        return out

    def log_breakdown(self) -> None:
        """Log the turn's latencies (structured fields go to the journal under systemd) and record
        them as a ``turn_latency`` milestone."""
        latency = self.latencies()
        shown = ", ".join(f"{k} {v:.0f} ms" for k, v in latency.items() if v is not None)
        logger.info("turn %d: %s", self.turn, shown or "no latency figures", extra=turn_fields(self.turn, latency_ms=latency))
        self.mark("turn_latency", **{f"{k}_ms": v for k, v in latency.items()})

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
