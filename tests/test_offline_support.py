"""The daemon's offline shell on its own: hold-offs, background checks, and warming only between turns.

Driven the way the daemon's loop drives it (``observe``, ``hold``, ``tick``), against the real
emulator and a closed port.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgevoice.assistant import events as E
from edgevoice.assistant.state import ConnectHold
from edgevoice.config.load import parse_config
from edgevoice.config.secrets import ApiKey
from edgevoice.daemon.sessions import session_factory
from edgevoice.offline.connectivity import Reach
from edgevoice.offline.shell import OfflineSupport
from edgevoice.voicelive.emulator import Emulator
from offline_helpers import PHRASES, closed_port_url, config_text

KEY = "support-test-key"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=KEY) as emulator:
        yield emulator


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def support(endpoint: str, cache_dir: Path, *, warm: bool = False, jitter: float = 0.0, clock=None) -> tuple[OfflineSupport, list]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    config = parse_config(config_text(endpoint, cache_dir, tables={"offline": {"warm": warm}}), "<support>")
    posted: list = []
    sup = OfflineSupport(config, post=posted.append, factory=session_factory(config.voicelive, ApiKey(KEY)),
                         jitter=lambda: jitter, clock=clock or time.monotonic)
    return sup, posted


def tick_until(sup: OfflineSupport, done, *, idle: bool = True, timeout: float = 10.0) -> list[E.Event]:
    """Tick like the daemon's loop until ``done(events so far)``; returns the events ticks gave."""
    deadline = time.monotonic() + timeout
    events: list[E.Event] = []
    while not done(events):
        assert time.monotonic() < deadline, f"not done within {timeout} s: {events}"
        events.extend(sup.tick(idle=idle))
        time.sleep(0.01)
    return events


def test_retry_after_holds_every_connection_and_a_backoff_holds_only_automatic_ones(tmp_path):
    clock = Clock()
    sup, _ = support(closed_port_url(), tmp_path / "c", clock=clock, jitter=1.0)
    assert sup.hold(clock.now) is None
    sup.observe(E.SessionFailed(E.FailureKind.THROTTLED, "429", retry_after=20.0))
    hold = sup.hold(clock.now + 5)
    assert hold == ConnectHold("throttled", "Voice Live asked to wait (Retry-After)", spare_only=False)
    # The machine refuses the connect and the refusal comes back through it: it is not another failure.
    sup.observe(E.SessionFailed(E.FailureKind.THROTTLED, hold.detail, held=True))
    assert sup.connectivity.failures == 1
    clock.now += 20.5  # past Retry-After, but the next check (with its jitter) has not come yet
    hold = sup.hold(clock.now)
    assert hold is not None and hold.spare_only and hold.kind == "throttled" and "next check" in hold.detail
    sup.observe(E.SessionReady())
    assert sup.connectivity.online and sup.hold(clock.now) is None


def test_checks_run_while_unreachable_and_tell_the_machine(tmp_path, emu):
    down, posted = support(closed_port_url(), tmp_path / "a")
    down.observe(E.SessionFailed(E.FailureKind.OFFLINE, "refused"))
    assert down.connectivity.status is Reach.OFFLINE
    events = tick_until(down, lambda ev: ev)
    assert events == [E.ServiceUnreachable(E.FailureKind.OFFLINE, events[0].detail)] and "refused" in events[0].detail
    assert down.probes >= 1 and None in posted  # the check woke the loop
    assert down.connectivity.failures >= 2 and down.connectivity.status is Reach.OFFLINE

    up, _ = support(emu.url, tmp_path / "b")
    up.observe(E.SessionFailed(E.FailureKind.SERVICE, "HTTP 503"))
    assert tick_until(up, lambda ev: ev) == [E.ServiceBack()]
    assert up.connectivity.status is Reach.DEGRADED and up.connectivity.next_probe is None
    assert up.hold(time.monotonic()) is None, "a spare may try the service now"
    time.sleep(0.1)
    assert up.tick(idle=True) == [] and up.probes == 1, "no more checks until a session fails again"
    assert emu.accepted == 0, "checks open no sessions"


def test_a_check_that_returns_after_a_session_opened_is_ignored(tmp_path):
    sup, _ = support(closed_port_url(), tmp_path / "c")
    sup.observe(E.SessionFailed(E.FailureKind.OFFLINE, "refused", lost=True))
    sup.tick(idle=True)  # starts the check
    sup.observe(E.SessionReady())
    time.sleep(0.2)
    assert sup.tick(idle=True) == [] and sup.connectivity.online


def test_warming_starts_after_a_session_opened_and_only_while_nobody_talks(tmp_path, emu):
    sup, _ = support(emu.url, tmp_path / "cache", warm=True)
    assert sup.phrases.wait_ready(30)
    sup.tick(idle=True)
    assert not sup.warming, "not before a session has proved the service works"
    sup.observe(E.SessionReady())
    sup.tick(idle=False)
    assert not sup.warming, "never during a turn"
    sup.tick(idle=True)
    assert sup.warming
    sup.tick(idle=False)  # a turn begins right away: the warm-up stops before its next phrase
    tick_until(sup, lambda _: not sup.warming, idle=False)
    left = sup.phrases.missing()
    assert left, "the warm-up paused for the turn"
    tick_until(sup, lambda _: not sup.warming and not sup.phrases.missing(), idle=True)
    assert all(sup.phrases.source_of(name) == "cache" for name in sup.phrases.texts)
    texts = [e["response"]["pre_generated_assistant_message"]["content"][0]["text"]
             for s in emu.sessions for e in s.events("response.create")]
    assert sorted(texts) == sorted(sup.phrases.texts.values()), "each phrase rendered once"
    assert set(PHRASES.values()) <= set(texts)
    sup.tick(idle=True)
    assert not sup.warming and len(emu.sessions) == 2
    sup.close()


def test_without_a_cache_directory_the_daemon_does_not_warm_or_create_one(tmp_path, emu, caplog):
    caplog.set_level(logging.WARNING)
    config = parse_config(config_text(emu.url, tmp_path / "absent", tables={"offline": {"warm": True}}), "<s>")
    sup = OfflineSupport(config, post=lambda _: None, factory=session_factory(config.voicelive, ApiKey(KEY)))
    sup.observe(E.SessionReady())
    sup.tick(idle=True)
    assert not sup.warming and emu.accepted == 0 and not (tmp_path / "absent").exists()
    assert "does not exist or is not writable" in caplog.text
