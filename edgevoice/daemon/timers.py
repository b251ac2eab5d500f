"""The machine's timers, run by the shell's loop: start, cancel, and hand back the ones that ran out."""

from __future__ import annotations

from edgevoice.assistant.events import TimerFired
from edgevoice.assistant.state import Timer


class Timers:
    """Timers keyed by (name, id) with deadlines on the monotonic clock; no threads."""

    def __init__(self) -> None:
        self._due: dict[tuple[Timer, int], float] = {}

    def start(self, name: Timer, timer_id: int, seconds: float, now: float) -> None:
        """Start (or restart) a timer that fires ``seconds`` after ``now``."""
        self._due = {key: t for key, t in self._due.items() if key[0] is not name}
        self._due[(name, timer_id)] = now + seconds

    def cancel(self, name: Timer, timer_id: int) -> None:
        self._due.pop((name, timer_id), None)

    def clear(self) -> None:
        self._due.clear()

    def next_deadline(self) -> float | None:
        """When the next timer runs out, or None when none runs."""
        return min(self._due.values(), default=None)

    def expired(self, now: float) -> list[TimerFired]:
        """Remove and return the timers that ran out by ``now``, earliest first."""
        fired = sorted((t, key) for key, t in self._due.items() if t <= now)
        for _, key in fired:
            del self._due[key]
        return [TimerFired(name, timer_id) for _, (name, timer_id) in fired]
