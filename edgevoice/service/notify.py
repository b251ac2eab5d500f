"""Tell systemd how the daemon is doing (sd_notify): ready, status, reloading, stopping, watchdog;
and :class:`StatusLine`, the STATUS= text that puts a failing audio device before the state.

Uses systemd-python's ``systemd.daemon.notify`` when it is installed and falls back to sending the
datagram itself; does nothing when ``$NOTIFY_SOCKET`` is unset (not started by systemd).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


def _systemd_python_notify() -> Callable[[str], bool] | None:
    try:
        from systemd.daemon import notify
    except ImportError:
        return None
    return notify  # type: ignore[no-any-return]


def send_datagram(socket_path: str, message: str) -> None:
    """Send one sd_notify message to ``socket_path`` (``@name`` is an abstract socket)."""
    address = "\0" + socket_path[1:] if socket_path.startswith("@") else socket_path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(message.encode("utf-8"))


def _one_line(text: str) -> str:
    """sd_notify assignments end at a newline, so a status text must not contain one."""
    return " ".join(str(text).split())


class Notifier:
    """Sends readiness, status and watchdog messages to systemd; a no-op outside systemd.

    ``Notifier()`` reads ``$NOTIFY_SOCKET`` once; ``Notifier("/path")`` talks to that socket.
    Sending never raises: a failure is logged once and the call returns ``False``.
    """

    def __init__(self, socket_path: str | None = None, *, environ: Mapping[str, str] | None = None) -> None:
        from_environment = socket_path is None
        if from_environment:
            socket_path = (os.environ if environ is None else environ).get("NOTIFY_SOCKET") or None
        self.socket_path: str | None = socket_path
        # systemd-python reads $NOTIFY_SOCKET itself, so it can only serve the environment's socket.
        sd_notify = _systemd_python_notify() if from_environment and environ is None else None
        self.backend = "systemd-python" if sd_notify else "datagram"
        self._sd_notify = sd_notify
        self._failed = False

    def __repr__(self) -> str:
        return f"Notifier(socket_path={self.socket_path!r}, backend={self.backend!r})"

    @property
    def enabled(self) -> bool:
        """True when there is a systemd notify socket to talk to."""
        return self.socket_path is not None

    def send(self, message: str) -> bool:
        """Send raw ``KEY=value`` lines; True if systemd got them, False if not (or not under systemd)."""
        if self.socket_path is None:
            return False
        try:
            if self._sd_notify is not None:
                sent = bool(self._sd_notify(message))
                if not sent:
                    raise OSError(f"sd_notify could not reach {self.socket_path}")
            else:
                send_datagram(self.socket_path, message)
        except OSError as exc:
            if not self._failed:
                logger.warning("cannot notify systemd at %s: %s", self.socket_path, exc)
                self._failed = True
            return False
        if self._failed:
            logger.info("notifying systemd works again")
            self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup (or a reload) is finished: audio is open and the front-end listens."""
        return self.send("READY=1" if status is None else f"READY=1\nSTATUS={_one_line(status)}")

    def status(self, text: str) -> bool:
        """A one-line state shown by ``systemctl status`` ("listening", "offline: cached replies" ...)."""
        return self.send(f"STATUS={_one_line(text)}")

    def reloading(self) -> bool:
        """A reload has begun; call :meth:`ready` when the new config is applied (or rejected).

        ``MONOTONIC_USEC`` is what systemd >= 253 wants for ``Type=notify-reload``; older
        versions ignore it.
        """
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(f"RELOADING=1\nMONOTONIC_USEC={now_usec}")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun."""
        return self.send("STOPPING=1" if status is None else f"STOPPING=1\nSTATUS={_one_line(status)}")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time to start, reload or stop (a slow Pi Zero loading its models)."""
        return self.send(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")

    def watchdog(self) -> bool:
        """One watchdog keep-alive ping; :class:`edgevoice.service.watchdog.Watchdog` decides when."""
        return self.send("WATCHDOG=1")


class StatusLine:
    """systemd's STATUS= text: the assistant's state, after what is wrong with an audio device.

    ``show_state("listening for the wake word")`` from the loop; ``fault("microphone", "missing (...)")``
    and ``fault("microphone", None)`` from the devices' threads. Sends only when the text changes.
    """

    MAX_CHARS = 200

    def __init__(self, send: Callable[[str], object]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._state = ""
        self._faults: dict[str, str] = {}  # device -> what is wrong with it
        self._sent = ""

    @property
    def text(self) -> str:
        parts = [f"error: {device} {problem}" for device, problem in self._faults.items()]
        return "; ".join([*parts, self._state] if self._state else parts)[: self.MAX_CHARS]

    def faults(self) -> dict[str, str]:
        """What is wrong with each failing device now (device -> problem)."""
        with self._lock:
            return dict(self._faults)

    def show_state(self, text: str) -> None:
        """The assistant's state (or a message that stands in for it, such as a failed reload)."""
        with self._lock:
            self._state = text
            self._update(force=True)  # the state is re-sent even unchanged: it replaces other messages

    def fault(self, device: str, problem: str | None) -> bool:
        """``device`` has ``problem`` (None: works); returns True if that is news."""
        with self._lock:
            if self._faults.get(device) == problem:
                return False
            if problem is None:
                del self._faults[device]
            else:
                self._faults[device] = problem
            self._update()
            return True

    def _update(self, force: bool = False) -> None:
        text = self.text
        if text and (force or text != self._sent):
            self._sent = text
            self._send(text)
