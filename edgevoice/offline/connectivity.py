"""What the device knows about reaching Voice Live, and when to look for it again: pure policy, no I/O.

:class:`Connectivity` is an immutable value; each outcome (a session opened, a connect failed, an
open session was lost, a background check answered or not) gives a new one. From it the shell
reads three things: the status (online, degraded, offline), when the next background check is due,
and whether a connection may be tried now at all.

Waits are exponential backoff with full jitter: after the n-th failure in a row the next check
comes a uniformly random time between 0 and ``min(cap, base * 2**n)`` later, so a fleet of kiosks
that lost the network together does not come back in the same second (Voice Live allows about 30
new connections per minute per resource). A server's Retry-After is a floor: nothing connects
before it has passed, and the check after it is jittered too. The random fraction is passed in,
which keeps every method a pure function of its arguments.

A refused key (HTTP 401/403) is not a connectivity problem: the service answered. It leaves the
status online and schedules no checks; the assistant shows an error state instead.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum


class Reach(StrEnum):
    """How well the service can be reached."""

    ONLINE = "online"  # the last session opened (or nothing has failed yet)
    DEGRADED = "degraded"  # it answers but fails (throttled, 5xx), or an open session was lost
    OFFLINE = "offline"  # it cannot be reached: no DNS, refused, no answer in time, TLS failed


#: Failure kinds (the assistant's FailureKind values) that mean "reachable, but not working".
DEGRADED_KINDS = frozenset({"throttled", "service"})
AUTH_KIND = "auth"


@dataclass(frozen=True, slots=True)
class ProbePolicy:
    """How long to wait between checks while the service cannot be reached."""

    base_s: float = 2.0  # the first wait's ceiling
    cap_s: float = 120.0  # the largest wait's ceiling
    max_retry_after_s: float = 600.0  # a server asking for longer than this is not believed

    def __post_init__(self) -> None:
        if not (self.base_s > 0 and math.isfinite(self.base_s)):
            raise ValueError(f"base_s must be a positive number of seconds, not {self.base_s!r}")
        if not (self.cap_s >= self.base_s and math.isfinite(self.cap_s)):
            raise ValueError(f"cap_s must be a number of seconds >= base_s, not {self.cap_s!r}")

    def ceiling(self, failures: int) -> float:
        """The largest wait after ``failures`` failures in a row (the first failure: ``base_s``)."""
        exponent = min(max(failures - 1, 0), 64)  # 2**n overflows long after the cap is reached
        return min(self.cap_s, self.base_s * 2.0**exponent)

    def wait(self, failures: int, jitter: float, retry_after: float | None = None) -> float:
        """Seconds until the next check after ``failures`` failures; ``jitter`` is uniform in [0, 1]."""
        delay = min(max(float(jitter), 0.0), 1.0) * self.ceiling(failures)
        return delay + self.retry_after(retry_after)

    def retry_after(self, retry_after: float | None) -> float:
        """The part of a Retry-After that is honoured (0 when there is none or it is nonsense)."""
        if retry_after is None or not math.isfinite(retry_after) or retry_after <= 0:
            return 0.0
        return min(float(retry_after), self.max_retry_after_s)


@dataclass(frozen=True, slots=True)
class Connectivity:
    """The device's knowledge of the service; every method returns a new value (times: monotonic s)."""

    policy: ProbePolicy = ProbePolicy()
    status: Reach = Reach.ONLINE
    failures: int = 0  # failed connects and checks since a session last opened
    not_before: float = 0.0  # no connection at all before this (the server's Retry-After)
    next_probe: float | None = None  # when to check next; None: no check scheduled
    probing: bool = False  # a check is under way
    kind: str = ""  # the last failure's kind (a FailureKind value: offline, throttled, service)
    detail: str = ""  # the last failure, for logs and `edgevoice` status lines

    # --- outcomes ------------------------------------------------------------------------------

    def session_opened(self) -> Connectivity:
        """A session opened: online, and the backoff starts again from the beginning."""
        return Connectivity(self.policy)

    def session_failed(
        self, now: float, kind: str, *, jitter: float, lost: bool = False, retry_after: float | None = None, detail: str = ""
    ) -> Connectivity:
        """A connect failed (``lost``: an open session ended); ``kind`` is a FailureKind value."""
        if kind == AUTH_KIND:
            # The service answered and refused the key: reachable, an error for the user to fix.
            return dataclasses.replace(self, status=Reach.ONLINE, next_probe=None, probing=False, detail=detail)
        if lost or kind in DEGRADED_KINDS:
            status = Reach.DEGRADED
        else:
            status = Reach.OFFLINE
        return dataclasses.replace(self._failed(now, status, jitter, retry_after, detail), kind=kind)

    def probe_started(self) -> Connectivity:
        """A background check is under way (none is started twice)."""
        return dataclasses.replace(self, probing=True, next_probe=None)

    def probe_succeeded(self) -> Connectivity:
        """The endpoint answered: worth trying a session again (only a session proves it works, so
        the backoff is kept: if that fails too, the next wait is longer)."""
        if self.status is Reach.ONLINE:
            return dataclasses.replace(self, probing=False)
        return dataclasses.replace(self, status=Reach.DEGRADED, probing=False, next_probe=None)

    def probe_failed(self, now: float, *, jitter: float, detail: str = "") -> Connectivity:
        """The endpoint did not answer: still offline; wait longer before the next check."""
        return dataclasses.replace(self._failed(now, Reach.OFFLINE, jitter, None, detail), kind="offline")

    def _failed(self, now: float, status: Reach, jitter: float, retry_after: float | None, detail: str) -> Connectivity:
        failures = self.failures + 1
        floor = self.policy.retry_after(retry_after)
        not_before = max(self.not_before, now + floor)
        next_probe = now + self.policy.wait(failures, jitter, retry_after)
        return dataclasses.replace(
            self, status=status, failures=failures, not_before=not_before, next_probe=next_probe,
            probing=False, detail=detail,
        )

    # --- questions -----------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self.status is Reach.ONLINE

    def probe_due(self, now: float) -> bool:
        """A background check should start now."""
        return not self.probing and self.next_probe is not None and now >= self.next_probe

    def hold_off(self, now: float) -> float:
        """Seconds before any connection may be tried (the server's Retry-After); 0: go ahead."""
        return max(0.0, self.not_before - now)

    def may_connect_by_itself(self, now: float) -> bool:
        """Whether an automatic connection (a spare session, not a person waiting) may be tried now:
        not before Retry-After, and not while waiting out a backoff for the next check."""
        return self.hold_off(now) == 0.0 and (self.online or (self.next_probe is None and not self.probing))

    def describe(self, now: float) -> str:
        """One line for the log, e.g. ``offline (3 failures; next check in 7.2 s): cannot resolve ...``."""
        if self.online:
            return "online"
        parts = [f"{self.failures} failure{'s' if self.failures != 1 else ''}"]
        if self.hold_off(now):
            parts.append(f"the service asked to wait {self.hold_off(now):.1f} s")
        if self.next_probe is not None:
            parts.append(f"next check in {max(0.0, self.next_probe - now):.1f} s")
        elif self.probing:
            parts.append("checking now")
        text = f"{self.status.value} ({'; '.join(parts)})"
        return f"{text}: {self.detail}" if self.detail else text
