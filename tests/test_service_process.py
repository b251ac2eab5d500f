"""The pieces together in a real process under a real notify socket, wired the way the daemon will.

A child process opens its "audio" (a thread that beats a Heartbeat), sends READY=1, reports its
state, feeds the watchdog only while the capture thread beats, reloads on SIGHUP and stops on
SIGTERM with exit status 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from service_helpers import NotifySocket, fields

CHILD = textwrap.dedent(
    """
    import logging, signal, sys, threading
    from edgevoice.service.journal import setup_logging, state_fields
    from edgevoice.service.notify import Notifier
    from edgevoice.service.signals import SignalRequests
    from edgevoice.service.watchdog import Heartbeat, Watchdog

    redactor = setup_logging(logging.INFO)
    log = logging.getLogger("edgevoice.child")
    notifier = Notifier()
    capture = Heartbeat(max_age=0.5)
    stalled = threading.Event()
    quit = threading.Event()

    def capture_loop():                      # stands in for the PyAudio read loop
        while not quit.wait(0.01):
            if not stalled.is_set():
                capture.beat()

    with SignalRequests() as requests:
        signal.signal(signal.SIGUSR1, lambda *_: stalled.set())   # the test's way to stall capture
        threading.Thread(target=capture_loop, daemon=True).start()
        watchdog = Watchdog(notifier)
        watchdog.add_check("capture", capture)
        watchdog.start()
        notifier.ready(status="listening")
        log.info("listening", extra=state_fields("listening"))
        while not requests.stop_requested:
            requests.wait(1.0)
            if requests.take_reload():
                notifier.reloading()
                notifier.ready(status="listening (config reloaded)")
        notifier.stopping(status="stopping")
        watchdog.stop()
        quit.set()
    sys.exit(0)
    """
)


def test_ready_status_watchdog_reload_and_clean_stop(tmp_path):
    sock = NotifySocket(tmp_path / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": sock.path, "WATCHDOG_USEC": "200000"}
    env.pop("JOURNAL_STREAM", None)
    env.pop("INVOCATION_ID", None)
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stderr=subprocess.PIPE, text=True)
    try:
        ready, before = sock.wait_for(lambda m: "READY=1" in m)
        assert fields(ready) == {"READY": "1", "STATUS": "listening"}
        assert all(m == "WATCHDOG=1" for m in before)
        sock.wait_for(lambda m: m == "WATCHDOG=1")

        child.send_signal(signal.SIGHUP)
        reloading, _ = sock.wait_for(lambda m: "RELOADING=1" in m)
        assert int(fields(reloading)["MONOTONIC_USEC"]) > 0
        again, _ = sock.wait_for(lambda m: "READY=1" in m)
        assert fields(again)["STATUS"] == "listening (config reloaded)"

        child.send_signal(signal.SIGUSR1)  # capture stalls: pings must stop
        # Until the heartbeat is 0.5 s old a few more pings (one per 0.1 s) are legitimate; then
        # silence. Two seconds without a ping is twenty watchdog intervals.
        late = []
        while (message := sock.receive(timeout=2.0)) is not None:
            late.append(message)
            assert len(late) < 30 and message == "WATCHDOG=1", late

        child.send_signal(signal.SIGTERM)
        stopping, _ = sock.wait_for(lambda m: "STOPPING=1" in m)
        assert fields(stopping)["STATUS"] == "stopping"
        assert child.wait(timeout=30) == 0
        assert child.stderr is not None
        stderr = child.stderr.read()
        assert "not pinging systemd while checks fail (capture: no sign of life for" in stderr
        assert "listening [state=listening]" in stderr
    finally:
        child.kill()
        child.wait()
        sock.close()
