"""The daemon's control socket, wired: status from small providers, say/mute on the assistant's loop.

``status`` is built on the socket's thread from immutable snapshots (the machine's context is
replaced, never changed), so it answers even while the loop is busy. ``say``, ``mute`` and
``unmute`` become machine events stepped on the loop (:meth:`Daemon.call_soon`); the reply says
what the machine made of them. ``reload`` asks for a reload as SIGHUP does and answers once the
daemon has applied the new config, or refused it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from edgevoice import __version__
from edgevoice.assistant import events as E
from edgevoice.assistant.state import State
from edgevoice.control import protocol as P
from edgevoice.control.server import CommandRefused, ControlServer, ControlSocketError
from edgevoice.control.status import StatusBoard, TurnHistory, redacted

if TYPE_CHECKING:
    from edgevoice.daemon.daemon import Daemon, DaemonHooks

logger = logging.getLogger(__name__)


class DaemonControl:
    """The control socket of one running daemon (``close()`` removes it)."""

    def __init__(self, daemon: Daemon, *, request_reload: Callable[[], None],
                 device_faults: Callable[[], dict[str, str]] = dict) -> None:
        self.daemon = daemon
        self.request_reload = request_reload
        self.device_faults = device_faults
        self.history = TurnHistory(daemon.config.control.recent_turns)
        daemon.telemetry.add_listener(self.history)
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.board = StatusBoard()
        self.board.add("assistant", self._assistant)
        self.board.add("connectivity", self._connectivity)
        self.board.add("uptime", self._uptime)
        self.board.add("turns", self._turns)
        self.board.add("wake_words", self.history.wake_rate)
        self.board.add("devices", self._devices)
        self.board.add("cost", self._cost)
        self.board.add("config", lambda: redacted(self.daemon.config))
        self._reloads: list[Future[dict[str, Any]]] = []
        self._lock = threading.Lock()
        cfg = daemon.config.control
        self.server = ControlServer(cfg.socket_path(), self.handle, group=cfg.group).start()

    def _cost(self) -> dict[str, Any]:
        snapshot = self.daemon.costs.snapshot()  # read off the loop: a few numbers may be a reply apart
        return {**snapshot.as_dict(), "line": snapshot.status_line()}

    def close(self) -> None:
        self.server.close()
        with self._lock:
            waiting, self._reloads = self._reloads, []
        for future in waiting:
            future.set_exception(CommandRefused("stopping", "the daemon is stopping"))

    # --- requests (on the socket's thread) ---------------------------------------------------

    def handle(self, request: P.Request) -> dict[str, Any] | Future[dict[str, Any]]:
        if request.cmd == "status":
            return self.board.snapshot()
        if request.cmd == "reload":
            future: Future[dict[str, Any]] = Future()
            with self._lock:
                self._reloads.append(future)
            self.request_reload()
            return future
        if request.cmd == "say":
            return self._on_loop(lambda: self._say(request.text, request.interrupt))
        return self._on_loop(lambda: self._mute(request.cmd == "mute"))

    def _on_loop(self, fn: Callable[[], dict[str, Any]]) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self.daemon.call_soon(run)
        return future

    # --- on the loop ---------------------------------------------------------------------------

    def _say(self, text: str, interrupt: bool) -> dict[str, Any]:
        daemon = self.daemon
        daemon.feed(E.Announce(text, interrupt))
        ctx = daemon.ctx
        if ctx.announcing == text:
            via = "session" if ctx.turn.trigger == "announce" else "local"
            return {"said": "now", "via": via, "state": ctx.state.value}
        if text in ctx.announcements:
            return {"said": "queued", "position": ctx.announcements.index(text) + 1, "state": ctx.state.value}
        if ctx.state is State.MUTED:
            raise CommandRefused("muted", "the assistant is muted: unmute it first")
        raise CommandRefused("busy", f"{daemon.settings.max_announcements} announcements are already waiting")

    def _mute(self, muted: bool) -> dict[str, Any]:
        daemon = self.daemon
        daemon.feed(E.MuteRequested(muted))
        ctx = daemon.ctx
        if not muted and ctx.switch_muted:
            raise CommandRefused("switch_on", "the hardware mute switch is on, and it wins: switch it off")
        return {"muted": ctx.state is State.MUTED, "switch": ctx.switch_muted, "state": ctx.state.value}

    def reloaded(self, applied: bool, message: str) -> None:
        """The daemon's verdict on a reload (from SIGHUP or the socket): answers who asked."""
        with self._lock:
            waiting, self._reloads = self._reloads, []
        for future in waiting:
            if applied:
                future.set_result({"applied": True, "message": message})
            else:
                future.set_exception(CommandRefused("not_applied", f"the new config was not applied: {message}"))

    # --- status sections (any thread) --------------------------------------------------------------

    def _assistant(self) -> dict[str, Any]:
        ctx = self.daemon.ctx
        return {
            "version": __version__,
            "state": ctx.state.value,
            "status": self.daemon.state_text(),
            "playing": ctx.playing.value,
            "muted": ctx.state is State.MUTED,
            "mute_switch": ctx.switch_muted,
            "announcing": ctx.announcing,
            "announcements_waiting": len(ctx.announcements),
            "presence": {"sensor": self.daemon.config.presence.sensor, "present": ctx.present, "visitor": ctx.visitor,
                         "problem": self.daemon.presence.problem or None},
        }

    def _connectivity(self) -> dict[str, Any]:
        daemon = self.daemon
        ctx = daemon.ctx
        return {
            "online": not ctx.outage and daemon.offline.connectivity.online,
            "outage": ctx.outage or None,
            "session": ctx.session.value,
            "session_open": daemon.link.is_open,
            "endpoint": daemon.config.voicelive.endpoint,
        }

    def _uptime(self) -> dict[str, Any]:
        return {"seconds": round(time.monotonic() - self.started, 1),
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_wall))}

    def _turns(self) -> dict[str, Any]:
        return {"started": self.daemon.telemetry.turn, "answered": self.history.answered,
                "recent": self.history.recent()}

    def _devices(self) -> dict[str, Any]:
        faults = self.device_faults()
        return {name: {"ok": name not in faults, "problem": faults.get(name)} for name in ("microphone", "speaker")}


def start_control(daemon: Daemon, hooks: DaemonHooks, request_reload: Callable[[], None],
                  device_faults: Callable[[], dict[str, str]]) -> DaemonControl | None:
    """The control socket ([control]), closed when the daemon stops; one that cannot be made is logged
    and the daemon runs without it."""
    if not daemon.config.control.enabled:
        return None
    try:
        control = DaemonControl(daemon, request_reload=request_reload, device_faults=device_faults)
    except ControlSocketError as exc:
        logger.warning("%s; running without the control socket", exc)
        return None
    hooks.on_reloaded = control.reloaded
    hooks.on_stopped = control.close
    return control
