"""When to try again after a failed connection: exponential backoff with full jitter, pure policy.

Full jitter (a uniform delay between 0 and the exponential ceiling) spreads a fleet of kiosks that
lost the network together, so they do not all reconnect in the same second (Voice Live allows
about 30 new connections per minute per resource). A server's ``Retry-After`` is a floor: the
next try is never earlier than it says, plus jitter so that throttled devices spread out too.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from datetime import timezone
from email.utils import parsedate_to_datetime

__all__ = ["Backoff", "parse_retry_after"]


class Backoff:
    """Delays for successive retries: ``next_delay()`` after each failure, ``reset()`` on success.

    The n-th delay (n from 0) is uniform in ``[0, min(cap, base * 2**n)]``; with a ``retry_after``
    it is that many seconds (at most ``max_retry_after``) plus the same jitter.
    """

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 30.0,
        *,
        max_retry_after: float = 600.0,
        random: Callable[[], float] | None = None,  # noqa: A002 - reads naturally: random=rng.random
    ) -> None:
        if not (base > 0 and math.isfinite(base)):
            raise ValueError(f"base must be a positive number of seconds, not {base!r}")
        if not (cap >= base and math.isfinite(cap)):
            raise ValueError(f"cap must be a number of seconds >= base, not {cap!r}")
        if not max_retry_after >= 0:
            raise ValueError(f"max_retry_after must be >= 0, not {max_retry_after!r}")
        self.base = float(base)
        self.cap = float(cap)
        self.max_retry_after = float(max_retry_after)
        self._random = random if random is not None else _default_random()
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Failures since the last ``reset()``."""
        return self._attempts

    def ceiling(self) -> float:
        """The largest jitter the next ``next_delay()`` can return (before any Retry-After)."""
        # 2**n overflows a float near n=1024; the cap is reached long before that.
        exponent = min(self._attempts, 64)
        return min(self.cap, self.base * (2.0**exponent))

    def next_delay(self, retry_after: float | None = None) -> float:
        """Seconds to wait before the next try; counts one more failure."""
        fraction = min(max(float(self._random()), 0.0), 1.0)
        delay = fraction * self.ceiling()
        self._attempts += 1
        if retry_after is not None and retry_after > 0 and math.isfinite(retry_after):
            delay += min(float(retry_after), self.max_retry_after)
        return delay

    def reset(self) -> None:
        """A try succeeded: the next failure starts again from ``base``."""
        self._attempts = 0

    def __repr__(self) -> str:
        return f"Backoff(base={self.base}, cap={self.cap}, attempts={self._attempts})"


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), else ``None``.

    Dates in the past give 0. Garbage gives ``None`` (the caller falls back to plain backoff).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.replace(".", "", 1).isdigit():
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": UTC with no local zone
        when = when.replace(tzinfo=timezone.utc)
    try:
        return max(0.0, when.timestamp() - now())
    except (OverflowError, OSError, ValueError):
        return None


def _default_random() -> Callable[[], float]:
    """A private generator per policy: no shared global state between sessions."""
    return random.Random().random
