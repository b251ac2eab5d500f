"""Notifier: real sd_notify datagrams to a real AF_UNIX socket, through both backends."""

from __future__ import annotations

import logging
import sys
import time

import pytest
from service_helpers import NotifySocket, fields

from edgevoice.service.notify import Notifier


@pytest.fixture
def notify_socket(tmp_path):
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


@pytest.fixture(params=["systemd-python", "datagram"])
def notifier(request, notify_socket, monkeypatch) -> Notifier:
    """A Notifier for $NOTIFY_SOCKET, once through systemd-python and once without it."""
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.path)
    if request.param == "datagram":
        monkeypatch.setitem(sys.modules, "systemd.daemon", None)  # as if systemd-python were missing
    notifier = Notifier()
    assert notifier.backend == request.param
    return notifier


def test_ready_status_and_stopping_reach_the_socket(notifier, notify_socket):
    assert notifier.enabled
    assert notifier.ready()
    assert notify_socket.receive() == "READY=1"
    assert notifier.status("offline: cached replies")
    assert notify_socket.receive() == "STATUS=offline: cached replies"
    assert notifier.ready(status="listening")
    assert fields(notify_socket.receive()) == {"READY": "1", "STATUS": "listening"}
    assert notifier.stopping()
    assert notify_socket.receive() == "STOPPING=1"
    assert notifier.watchdog()
    assert notify_socket.receive() == "WATCHDOG=1"


def test_reloading_carries_the_monotonic_clock(notifier, notify_socket):
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    got = fields(notify_socket.receive())
    assert got["RELOADING"] == "1"
    assert before <= int(got["MONOTONIC_USEC"]) <= after


def test_a_status_text_stays_on_one_line(notifier, notify_socket):
    notifier.status("error: credentials rejected\nREADY=1")
    message = notify_socket.receive()
    assert message == "STATUS=error: credentials rejected READY=1"
    assert "READY" not in fields(message)


def test_extend_timeout_is_in_microseconds(notifier, notify_socket):
    notifier.extend_timeout(2.5)
    assert notify_socket.receive() == "EXTEND_TIMEOUT_USEC=2500000"


def test_without_notify_socket_nothing_is_sent():
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.status("listening") is False


def test_an_explicit_socket_path_is_used_directly(notify_socket):
    notifier = Notifier(notify_socket.path)
    assert notifier.backend == "datagram"
    notifier.status("muted")
    assert notify_socket.receive() == "STATUS=muted"


def test_abstract_socket_names_work(tmp_path):
    import os
    import socket

    name = f"edgevoice-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        Notifier(environ={"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(100) == b"READY=1"


def test_a_vanished_socket_is_logged_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "gone"))
    with caplog.at_level(logging.WARNING, logger="edgevoice.service.notify"):
        assert notifier.status("listening") is False
        assert notifier.status("listening") is False
    assert len([r for r in caplog.records if "cannot notify systemd" in r.getMessage()]) == 1


def test_repr_names_the_socket(notify_socket):
    assert notify_socket.path in repr(Notifier(notify_socket.path))
