"""Signals: SIGHUP becomes a reload request and SIGTERM/SIGINT a stop request, in a real process."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from edgevoice.service.signals import SignalRequests

CHILD = textwrap.dedent(
    """
    import sys
    from edgevoice.service.signals import SignalRequests

    with SignalRequests() as requests:
        print("ready", flush=True)
        while not requests.stop_requested:
            requests.wait()          # no timeout: only a signal can wake this
            if requests.take_reload():
                print("reload", flush=True)
        print("stop", requests.stop_signal, flush=True)
    sys.exit(0)
    """
)


def _start() -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    return child


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_process_reloads_on_sighup_and_stops_cleanly(stop):
    child = _start()
    try:
        assert child.stdout is not None
        child.send_signal(signal.SIGHUP)
        assert child.stdout.readline() == "reload\n"
        child.send_signal(signal.SIGHUP)
        assert child.stdout.readline() == "reload\n"
        child.send_signal(stop)
        assert child.stdout.readline() == f"stop {stop.name}\n"
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
        child.wait()


def test_flags_and_wait_in_process():
    with SignalRequests() as requests:
        assert requests.wait(0) is False
        signal.raise_signal(signal.SIGHUP)
        assert requests.reload_requested
        assert requests.wait(0) is True
        assert requests.take_reload() is True
        assert requests.take_reload() is False
        signal.raise_signal(signal.SIGHUP)
        signal.raise_signal(signal.SIGHUP)
        assert requests.take_reload() is True and requests.take_reload() is False  # a burst is one reload
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        assert requests.stop_requested and requests.stop_signal == "SIGTERM"
    assert signal.getsignal(signal.SIGHUP) != requests._on_reload


def test_previous_handlers_come_back():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    with SignalRequests():
        pass
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_a_worker_thread_can_request_a_stop_and_wake_the_main_loop():
    requests = SignalRequests()
    try:
        worker = threading.Thread(target=requests.request_stop)
        worker.start()
        assert requests.wait(30) is True
        worker.join()
        assert requests.stop_requested and requests.stop_signal == "SIGTERM"
    finally:
        requests.close()


def test_install_refuses_other_threads():
    errors: list[BaseException] = []
    requests = SignalRequests()

    def install() -> None:
        try:
            requests.install()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=install)
    thread.start()
    thread.join()
    requests.close()
    assert errors and "main thread" in str(errors[0])
