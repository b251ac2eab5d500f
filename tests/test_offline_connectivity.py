"""The pure connectivity value: status from outcomes, full-jitter backoff, Retry-After, no probes for a bad key."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgevoice.offline.connectivity import Connectivity, ProbePolicy, Reach

POLICY = ProbePolicy(base_s=2.0, cap_s=60.0)


def test_a_fresh_device_is_online_and_checks_nothing():
    c = Connectivity(POLICY)
    assert c.online and c.next_probe is None and not c.probe_due(1e9)
    assert c.hold_off(0.0) == 0.0 and c.may_connect_by_itself(0.0)
    assert c.describe(0.0) == "online"


@pytest.mark.parametrize(
    "kind, lost, status",
    [
        ("offline", False, Reach.OFFLINE),  # DNS, refused, no answer in time
        ("throttled", False, Reach.DEGRADED),  # it answers, but not now
        ("service", False, Reach.DEGRADED),  # 5xx
        ("offline", True, Reach.DEGRADED),  # an open session ended: unknown yet
    ],
)
def test_failures_set_the_status_and_schedule_a_check(kind, lost, status):
    c = Connectivity(POLICY).session_failed(100.0, kind, jitter=0.5, lost=lost, detail="boom")
    assert c.status is status and c.failures == 1 and c.kind == kind
    assert c.next_probe == pytest.approx(100.0 + 0.5 * 2.0)
    assert not c.probe_due(100.5) and c.probe_due(101.0)
    assert not c.may_connect_by_itself(100.5), "no automatic connection while the backoff runs"
    assert c.hold_off(100.5) == 0.0, "a person waiting may still try"
    assert "boom" in c.describe(100.0) and "next check in 1.0 s" in c.describe(100.0)


def test_rejected_credentials_are_not_a_connectivity_problem():
    c = Connectivity(POLICY).session_failed(5.0, "auth", jitter=0.9, detail="HTTP 401")
    assert c.status is Reach.ONLINE and c.next_probe is None and c.failures == 0
    assert not c.probe_due(1e9)


def test_the_ceiling_doubles_up_to_the_cap_and_each_wait_is_jittered_below_it():
    c = Connectivity(POLICY)
    now = 0.0
    ceilings = []
    for _ in range(8):
        c = c.probe_started().probe_failed(now, jitter=1.0)  # jitter 1.0: the ceiling itself
        ceilings.append(c.next_probe - now)
        now = c.next_probe
    assert ceilings == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    low = Connectivity(POLICY).session_failed(0.0, "offline", jitter=0.0)
    assert low.next_probe == 0.0  # full jitter: anywhere from 0


def test_retry_after_is_a_floor_for_everything_and_the_check_after_it_is_jittered():
    c = Connectivity(POLICY).session_failed(10.0, "throttled", jitter=0.25, retry_after=30.0)
    assert c.hold_off(10.0) == 30.0 and c.hold_off(39.0) == pytest.approx(1.0) and c.hold_off(40.0) == 0.0
    assert c.next_probe == pytest.approx(10.0 + 30.0 + 0.25 * 2.0)
    assert not c.may_connect_by_itself(39.9)
    assert "asked to wait" in c.describe(10.0)
    # A server asking for hours is not believed beyond the policy's limit; nonsense is ignored.
    assert Connectivity(POLICY).session_failed(0, "throttled", jitter=0, retry_after=1e9).hold_off(0) == 600.0
    for junk in (float("nan"), float("inf"), -5.0, None):
        assert Connectivity(POLICY).session_failed(0, "throttled", jitter=0, retry_after=junk).hold_off(0) == 0.0


def test_a_successful_check_allows_a_session_but_keeps_the_backoff_until_one_opens():
    c = Connectivity(POLICY).session_failed(0.0, "offline", jitter=0.5)
    c = c.probe_started()
    assert c.probing and not c.probe_due(1e9) and not c.may_connect_by_itself(1.0)
    c = c.probe_succeeded()
    assert c.status is Reach.DEGRADED and c.next_probe is None and c.may_connect_by_itself(1.0)
    # The session that follows fails too: the next wait is longer than the first.
    c = c.session_failed(10.0, "throttled", jitter=1.0)
    assert c.failures == 2 and c.next_probe == pytest.approx(14.0)
    c = c.session_opened()
    assert c == Connectivity(POLICY)


def test_a_failed_check_means_offline():
    c = Connectivity(POLICY).session_failed(0.0, "offline", jitter=0.0, lost=True).probe_started()
    c = c.probe_failed(1.0, jitter=1.0, detail="no answer")
    assert c.status is Reach.OFFLINE and c.failures == 2 and c.next_probe == pytest.approx(5.0) and c.kind == "offline"


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        ProbePolicy(base_s=0)
    with pytest.raises(ValueError):
        ProbePolicy(base_s=5, cap_s=1)


@given(st.lists(st.tuples(st.sampled_from(["offline", "throttled", "service", "auth", "probe_ok", "probe_fail", "opened"]),
                          st.floats(0, 1), st.one_of(st.none(), st.floats(0, 100))), max_size=30))
def test_any_history_keeps_the_waits_within_the_policy(history):
    c = Connectivity(POLICY)
    now = 0.0
    for what, jitter, retry_after in history:
        now += 1.0
        if what == "opened":
            c = c.session_opened()
        elif what == "probe_ok":
            c = c.probe_started().probe_succeeded()
        elif what == "probe_fail":
            c = c.probe_started().probe_failed(now, jitter=jitter)
        else:
            c = c.session_failed(now, what, jitter=jitter, retry_after=retry_after)
        if c.next_probe is not None:
            assert now <= c.next_probe <= now + POLICY.cap_s + POLICY.max_retry_after_s
        assert c.hold_off(now) <= POLICY.max_retry_after_s
        assert c.online == (c.status is Reach.ONLINE)


def test_a_fleet_spreads_out_after_an_outage():
    """Thirty kiosks that lost the network together do not all check again in the same second."""
    rng = random.Random(7)
    policy = ProbePolicy(base_s=2.0, cap_s=120.0)
    checks = []
    for _ in range(30):
        c = Connectivity(policy)
        for attempt in range(5):  # five failed checks in a row during a long outage
            c = c.session_failed(0.0, "offline", jitter=rng.random()) if attempt == 0 else c.probe_failed(0.0, jitter=rng.random())
        checks.append(c.next_probe)
    # Without jitter all thirty would come in the same second; with it they spread over the whole
    # ceiling (32 s after five failures) and no second sees more than a fifth of the fleet.
    assert max(checks) - min(checks) > 25
    busiest = max(sum(1 for t in checks if s <= t < s + 1) for s in range(0, 40))
    assert busiest <= 6, sorted(checks)
