"""The assistant's fleet figures, counted from the daemon's own records (the events-file milestones).

:class:`FleetMetrics` is a telemetry listener: each record (``wake``, ``state``, ``turn_latency``,
``playback_start``, ``offline_reply``, ``error``, ``barge_in``, ``connection``, ``device``) updates
counters, gauges and histograms, and :meth:`FleetMetrics.families` gives them as Prometheus
families. A turn's result is known at its end: a reply played (answered), an offline answer
(cached), a cached apology (apology), or only an error (error). A turn that ended with nothing
(a wake word and then silence) is not a turn here; the wake detections count it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgevoice.assistant.state import State
from edgevoice.metrics.exposition import Family, Histogram

RESULTS = ("answered", "cached", "apology", "error")
CONNECTION_OUTCOMES = ("ok", "offline", "auth", "throttled", "service")
DEVICES = ("microphone", "speaker")
_SETTLED = frozenset({State.IDLE.value, State.FOLLOW_UP.value, State.OFFLINE.value, State.ERROR.value, State.MUTED.value})
#: A turn that settled with only an error waits this long for an offline answer or apology that
#: is still being worked out (the question is recognised on the device first).
RESULT_GRACE_S = 10.0

WAKE_TO_AUDIO_BOUNDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
VOICE_TO_VOICE_BOUNDS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0)
BARGE_IN_BOUNDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0)


@dataclass
class _Turn:
    number: int
    result: str | None = None
    settled_at: float | None = None

    def better(self, result: str) -> None:
        """Keep the result the visitor got most of: answered > cached > apology > error."""
        if self.result is None or RESULTS.index(result) < RESULTS.index(self.result):
            self.result = result


class FleetMetrics:
    """Counts turns, latencies, wake words, outages, connections and device faults from records."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, on_turn_end: Callable[[], None] | None = None) -> None:
        self.clock = clock
        self.on_turn_end = on_turn_end  # the textfile is written at each turn's end
        self._lock = threading.Lock()
        self.turns = dict.fromkeys(RESULTS, 0)
        self.wakes = 0
        self.connections = dict.fromkeys(CONNECTION_OUTCOMES, 0)
        self.device_errors = dict.fromkeys(DEVICES, 0)
        self._device_ok = dict.fromkeys(DEVICES, True)
        self.wake_to_audio = Histogram(WAKE_TO_AUDIO_BOUNDS)
        self.voice_to_voice = Histogram(VOICE_TO_VOICE_BOUNDS)
        self.barge_in = Histogram(BARGE_IN_BOUNDS)
        self.state = State.IDLE.value
        self._offline_s = 0.0
        self._offline_since: float | None = None
        self._offline_shown = 0.0
        self._turn: _Turn | None = None
        self._barge_speech_at: float | None = None

    # --- records in -----------------------------------------------------------------------

    def record(self, record: Mapping[str, Any]) -> None:
        """A telemetry listener: take one milestone record."""
        ended = False
        with self._lock:
            event, t = record.get("event"), record.get("t")
            t = float(t) if isinstance(t, (int, float)) and math.isfinite(t) else self.clock()
            turn = record.get("turn")
            if isinstance(turn, int) and turn > 0 and (self._turn is None or turn > self._turn.number):
                ended = self._end_turn()  # a new turn began before the last one settled (barge-in)
                self._turn = _Turn(turn)
            handler = getattr(self, f"_on_{event}", None)
            if handler is not None:
                ended = bool(handler(record, t)) or ended
        if ended and self.on_turn_end is not None:
            self.on_turn_end()

    def _result(self, result: str) -> None:
        if self._turn is not None:
            self._turn.better(result)

    def _on_wake(self, _record: Mapping[str, Any], _t: float) -> None:
        self.wakes += 1

    def _on_playback_start(self, _record: Mapping[str, Any], _t: float) -> None:
        self._result("answered")

    def _on_offline_reply(self, record: Mapping[str, Any], _t: float) -> None:
        self._result("cached" if record.get("kind") == "answer" else "apology")

    def _on_error(self, _record: Mapping[str, Any], _t: float) -> None:
        self._result("error")

    def _on_turn_latency(self, record: Mapping[str, Any], _t: float) -> None:
        for key, histogram in (("wake_to_audio_ms", self.wake_to_audio), ("voice_to_voice_ms", self.voice_to_voice)):
            value = record.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
                histogram.observe(value / 1000)

    def _on_barge_in_speech(self, _record: Mapping[str, Any], t: float) -> None:
        self._barge_speech_at = t

    def _on_barge_in(self, _record: Mapping[str, Any], t: float) -> None:
        if self._barge_speech_at is not None and t >= self._barge_speech_at:
            self.barge_in.observe(t - self._barge_speech_at)
        self._barge_speech_at = None

    def _on_connection(self, record: Mapping[str, Any], _t: float) -> None:
        outcome = str(record.get("outcome", ""))
        if outcome in self.connections:
            self.connections[outcome] += 1

    def _on_device(self, record: Mapping[str, Any], _t: float) -> None:
        device = str(record.get("device", ""))
        if device not in self._device_ok:
            return
        ok = bool(record.get("ok"))
        if self._device_ok[device] and not ok:
            self.device_errors[device] += 1  # a fault, counted once until the device works again
        self._device_ok[device] = ok

    def _on_state(self, record: Mapping[str, Any], t: float) -> bool:
        new = str(record.get("state", ""))
        if new == State.OFFLINE.value and self._offline_since is None:
            self._offline_since = t
        elif new != State.OFFLINE.value and self._offline_since is not None:
            self._offline_s += max(0.0, t - self._offline_since)
            self._offline_since = None
        self.state = new
        turn = self._turn
        if new in _SETTLED and turn is not None and turn.settled_at is None:
            turn.settled_at = t
            if turn.result not in (None, "error"):
                return self._end_turn()
        return False

    def _end_turn(self) -> bool:
        """Count the current turn (once); True if it had a result."""
        turn, self._turn = self._turn, None
        if turn is None or turn.result is None:
            return False
        self.turns[turn.result] += 1
        return True

    # --- metrics out -----------------------------------------------------------------------

    def families(self) -> list[Family]:
        """The figures as Prometheus families, as of now."""
        with self._lock:
            now = self.clock()
            turn = self._turn
            if turn is not None and turn.settled_at is not None and now - turn.settled_at >= RESULT_GRACE_S:
                self._end_turn()  # settled with an error and nothing came after it
            offline = self._offline_s + (max(0.0, now - self._offline_since) if self._offline_since is not None else 0.0)
            # A counter never goes down (Prometheus would take it for a restart): a state record stamped a
            # little before a write that already counted that time must not take it back.
            offline = self._offline_shown = max(self._offline_shown, offline)
            fams = [
                _by_label(Family("edgevoice_turns_total", "counter", "Conversation turns by how they ended"), "result", self.turns),
                self.wake_to_audio.samples_into(Family("edgevoice_wake_to_audio_seconds", "histogram",
                                                       "Wake word (or button, follow-up, barge-in) to the first audio sent to the service")),
                self.voice_to_voice.samples_into(Family("edgevoice_voice_to_voice_seconds", "histogram",
                                                        "End of the visitor's speech to the reply's first sound")),
                self.barge_in.samples_into(Family("edgevoice_barge_in_seconds", "histogram",
                                                  "Start of the interrupting speech to the reply being stopped (device barge-in)")),
                Family("edgevoice_wake_detections_total", "counter", "Wake words detected").add(self.wakes),
                Family("edgevoice_offline_seconds_total", "counter", "Seconds spent offline (service unreachable)").add(offline),
                _by_label(Family("edgevoice_connection_attempts_total", "counter", "Voice Live connection attempts by outcome"),
                          "outcome", self.connections),
                _by_label(Family("edgevoice_state", "gauge", "The assistant's state (1 for the current one)"), "state",
                          {s.value: int(s.value == self.state) for s in State}),
                _by_label(Family("edgevoice_device_errors_total", "counter", "Microphone and speaker faults"), "device",
                          self.device_errors),
                _by_label(Family("edgevoice_device_ok", "gauge", "1 while the device works, 0 while it is failing"), "device",
                          {d: int(ok) for d, ok in self._device_ok.items()}),
            ]
        return fams


def _by_label(family: Family, label: str, values: Mapping[str, float]) -> Family:
    for value, n in values.items():
        family.add(n, {label: value})
    return family
