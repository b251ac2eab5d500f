"""The reconnect backoff policy: exponential ceiling, full jitter, Retry-After as a floor, reset."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgevoice.voicelive.backoff import Backoff, parse_retry_after


def test_ceiling_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=30, random=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.attempts == 9


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    values = iter([0.0, 0.25, 0.5])
    backoff = Backoff(base=1, cap=100, random=lambda: next(values))
    assert [backoff.next_delay() for _ in range(3)] == [0.0, 0.5, 2.0]


def test_reset_starts_again_from_base() -> None:
    backoff = Backoff(base=1, cap=100, random=lambda: 1.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0 and backoff.next_delay() == 1.0


def test_retry_after_is_a_floor_with_jitter_on_top() -> None:
    backoff = Backoff(base=1, cap=8, random=lambda: 0.5)
    assert backoff.next_delay(retry_after=20) == 20 + 0.5
    assert backoff.next_delay(retry_after=0) == 1.0  # no floor: jitter alone
    assert backoff.next_delay(retry_after=None) == 2.0


def test_retry_after_is_clamped() -> None:
    backoff = Backoff(base=1, cap=8, max_retry_after=60, random=lambda: 0.0)
    assert backoff.next_delay(retry_after=86400) == 60
    assert backoff.next_delay(retry_after=float("inf")) == 0.0  # nonsense is ignored


def test_default_random_gives_varied_delays_within_bounds() -> None:
    delays = [Backoff(base=1, cap=64).next_delay() for _ in range(50)]
    assert all(0 <= d <= 1 for d in delays)
    assert len(set(delays)) > 40  # independent generators: a fleet does not move in lockstep


@given(st.floats(0.01, 10), st.floats(10, 100), st.lists(st.floats(0, 1), min_size=1, max_size=40))
def test_delays_never_exceed_cap(base, cap, randoms) -> None:
    it = iter(randoms)
    backoff = Backoff(base=base, cap=cap, random=lambda: next(it))
    for _ in randoms:
        assert 0 <= backoff.next_delay() <= cap


def test_many_failures_do_not_overflow() -> None:
    backoff = Backoff(base=0.5, cap=30, random=lambda: 1.0)
    for _ in range(5000):
        delay = backoff.next_delay()
    assert delay == 30


@pytest.mark.parametrize(("base", "cap"), [(0, 1), (-1, 1), (2, 1), (1, float("inf")), (float("nan"), 1)])
def test_bad_parameters_are_refused(base, cap) -> None:
    with pytest.raises(ValueError):
        Backoff(base=base, cap=cap)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2026 07:28:30 -0000", 30.0),
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),  # in the past
        ("", None),
        (None, None),
        ("-5", None),
        ("soon", None),
        ("1e9", None),
        ("١٢", None),  # non-ASCII digits
        ("Wed, 99 Oct 2026 07:28:30 GMT", None),
    ],
)
def test_parse_retry_after(header, expected) -> None:
    now = 1792567680.0  # Wed, 21 Oct 2026 07:28:00 GMT
    assert parse_retry_after(header, now=lambda: now) == expected
