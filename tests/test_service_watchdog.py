"""Watchdog: WATCHDOG=1 reaches a real notify socket only while every liveness check passes."""

from __future__ import annotations

import logging
import os
import time

import pytest
from service_helpers import NotifySocket

from edgevoice.service.notify import Notifier
from edgevoice.service.watchdog import Heartbeat, Watchdog, watchdog_timeout


@pytest.fixture
def notify_socket(tmp_path):
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_timeout_comes_from_watchdog_usec():
    assert watchdog_timeout({"WATCHDOG_USEC": "20000000"}) == 20.0
    assert watchdog_timeout({}) is None
    assert watchdog_timeout({"WATCHDOG_USEC": "0"}) is None


def test_a_watchdog_for_another_pid_is_not_ours():
    env = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_timeout(env) == 1.0
    assert watchdog_timeout({**env, "WATCHDOG_PID": str(os.getpid() + 1)}) is None


def test_garbage_in_the_environment_is_ignored_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert watchdog_timeout({"WATCHDOG_USEC": "soon"}) is None
        assert watchdog_timeout({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "me"}) is None
    assert "WATCHDOG_USEC" in caplog.text and "WATCHDOG_PID" in caplog.text


def test_heartbeat_is_alive_only_within_max_age():
    clock = FakeClock()
    beat = Heartbeat(max_age=2.0, clock=clock)
    assert not beat() and beat.age == float("inf")
    beat.beat()
    clock.now += 1.5
    assert beat() and beat.age == pytest.approx(1.5)
    clock.now += 1.0
    assert not beat.alive
    beat.beat()
    assert beat.alive
    with pytest.raises(ValueError):
        Heartbeat(max_age=0)


def test_interval_is_half_the_timeout(notify_socket):
    watchdog = Watchdog(Notifier(notify_socket.path), environ={"WATCHDOG_USEC": "20000000"})
    assert watchdog.enabled and watchdog.timeout == 20.0 and watchdog.interval == 10.0


def test_without_watchdog_usec_nothing_starts(notify_socket):
    watchdog = Watchdog(Notifier(notify_socket.path), environ={})
    assert not watchdog.enabled
    assert watchdog.start() is False
    watchdog.stop()


def test_tick_pings_only_while_every_check_passes(notify_socket, caplog):
    clock = FakeClock()
    capture = Heartbeat(max_age=2.0, clock=clock)
    machine_alive = [True]
    watchdog = Watchdog(Notifier(notify_socket.path), timeout=10.0)
    watchdog.add_check("capture", capture)
    watchdog.add_check("state machine", lambda: machine_alive[0])

    capture.beat()
    assert watchdog.tick() is True
    assert notify_socket.drain() == ["WATCHDOG=1"]

    clock.now += 5.0  # the capture thread stalled
    with caplog.at_level(logging.INFO, logger="edgevoice.service.watchdog"):
        assert watchdog.tick() is False
        assert watchdog.tick() is False
        assert watchdog.failing == ("capture",)
        assert notify_socket.drain() == []

        capture.beat()  # capture is back
        assert watchdog.tick() is True
        assert notify_socket.drain() == ["WATCHDOG=1"]

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # logged once, with the reason
    assert "capture: no sign of life for 5.0 s" in warnings[0].getMessage()
    assert any("pinging systemd" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)

    machine_alive[0] = False
    assert watchdog.tick() is False
    assert watchdog.failing == ("state machine",)
    assert "state machine: not alive" in caplog.text
    watchdog.remove_check("state machine")
    assert watchdog.tick() is True


def test_a_check_that_raises_counts_as_dead(notify_socket, caplog):
    watchdog = Watchdog(Notifier(notify_socket.path), timeout=10.0)

    def broken() -> bool:
        raise RuntimeError("capture thread gone")

    watchdog.add_check("capture", broken)
    with caplog.at_level(logging.WARNING):
        assert watchdog.tick() is False
    assert notify_socket.drain() == []
    assert "capture thread gone" in caplog.text
    with pytest.raises(TypeError):
        watchdog.add_check("x", True)  # type: ignore[arg-type]


def _wait_for_ticks(watchdog: Watchdog, count: int, timeout: float = 20.0) -> None:
    target = watchdog.ticks + count
    deadline = time.monotonic() + timeout
    while watchdog.ticks < target:
        assert time.monotonic() < deadline, "the watchdog thread stopped ticking"
        time.sleep(0.005)


def test_the_thread_stops_pinging_while_a_check_fails_and_resumes(notify_socket, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.path)
    monkeypatch.setenv("WATCHDOG_USEC", "40000")  # 40 ms: a ping every 20 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    alive = [True]
    with Watchdog() as watchdog:
        watchdog.add_check("capture", lambda: alive[0])
        assert watchdog.interval == pytest.approx(0.02)
        assert notify_socket.receive() == "WATCHDOG=1"

        alive[0] = False
        _wait_for_ticks(watchdog, 2)  # at least one whole tick has seen the failure
        notify_socket.drain()
        _wait_for_ticks(watchdog, 3)
        assert notify_socket.drain() == []

        alive[0] = True
        message, _ = notify_socket.wait_for(lambda m: m == "WATCHDOG=1")
    assert watchdog._thread is None
