"""SIGTERM/SIGINT become a stop request and SIGHUP a reload request, for the daemon to act on.

The handlers only set a flag and wake a pipe, so a signal never runs daemon code at an
arbitrary point; the main loop sleeps in :meth:`SignalRequests.wait` and acts between turns::

    with SignalRequests() as requests:
        while not requests.stop_requested:
            requests.wait(1.0)
            if requests.take_reload():
                reload_config()
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
from types import FrameType

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RELOAD_SIGNALS = (signal.SIGHUP,)


class SignalRequests:
    """Stop and reload requests delivered by signals, as flags the daemon polls or waits for.

    ``install()`` (or ``with``) must run on the main thread; the flags may be read anywhere.
    """

    def __init__(self) -> None:
        self._stop_signal: signal.Signals | None = None
        self._reload = False
        self._previous: dict[signal.Signals, object] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def __repr__(self) -> str:
        return f"SignalRequests(stop_requested={self.stop_requested}, reload_requested={self._reload})"

    @property
    def stop_requested(self) -> bool:
        """True once SIGTERM or SIGINT arrived (or :meth:`request_stop` was called)."""
        return self._stop_signal is not None

    @property
    def stop_signal(self) -> str | None:
        """The name of the signal that asked to stop ("SIGTERM"), for the log."""
        return None if self._stop_signal is None else self._stop_signal.name

    @property
    def reload_requested(self) -> bool:
        """True while a SIGHUP has not been taken by :meth:`take_reload`."""
        return self._reload

    def take_reload(self) -> bool:
        """True once per burst of SIGHUPs: several before the daemon looks count as one reload."""
        requested, self._reload = self._reload, False
        return requested

    def request_stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Ask for a stop as if ``sig`` had arrived (e.g. from a fatal error in a worker thread)."""
        self._stop_signal = self._stop_signal or sig
        self._wake()

    def request_reload(self) -> None:
        """Ask for a reload as if SIGHUP had arrived."""
        self._reload = True
        self._wake()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until a request arrives or ``timeout`` passes; True if a stop or reload is pending."""
        if not (self.stop_requested or self._reload):
            try:
                select.select([self._wake_r], [], [], timeout)
            except InterruptedError:
                pass
        self._drain()
        return self.stop_requested or self._reload

    def fileno(self) -> int:
        """A descriptor that becomes readable when a request arrives (for a selector)."""
        return self._wake_r

    def install(self) -> SignalRequests:
        """Take over SIGTERM, SIGINT and SIGHUP (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be installed from the main thread")
        for sig in STOP_SIGNALS:
            self._previous.setdefault(sig, signal.signal(sig, self._on_stop))
        for sig in RELOAD_SIGNALS:
            self._previous.setdefault(sig, signal.signal(sig, self._on_reload))
        return self

    def uninstall(self) -> None:
        """Give the signals back to the handlers they had before :meth:`install`."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def close(self) -> None:
        """Uninstall the handlers and close the wake-up pipe."""
        self.uninstall()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> SignalRequests:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # The handlers: set a flag, poke the pipe, nothing else.
    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_signal is None:
            self._stop_signal = signal.Signals(signum)
        self._wake()

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self._reload = True
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (already woken) or closed

    def _drain(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except (BlockingIOError, OSError):
            pass
