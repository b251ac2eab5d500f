"""A TCP relay on loopback that can silently stop delivering: a network that dies without a word.

Put it between the daemon and the Voice Live emulator to reproduce the worst failure a kiosk
sees: Wi-Fi that stays associated while the uplink is gone, a NAT that forgot the flow, a
firewall that drops packets. After :meth:`BlackholeRelay.cut`, bytes in both directions of the
open connections are swallowed (no RST, no FIN: TCP would take minutes to notice), and new
connections are accepted and never answered. :meth:`restore` lets new connections through again
(connections that went dark stay dark, as they do on a real network). Used by
:mod:`edgevoice.bench.offline_latency` and the tests.
"""

from __future__ import annotations

import logging
import socket
import threading

logger = logging.getLogger(__name__)


class BlackholeRelay:
    """``BlackholeRelay(port_of_server).start()`` listens on ``.port`` and relays to the server."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", *, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.connections = 0  # connections accepted
        self.swallowed = 0  # of them, accepted while cut (never answered)
        self._cut = threading.Event()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint to configure instead of the server's: ``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> BlackholeRelay:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(64)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name="blackhole-relay", daemon=True)
        self._thread.start()
        return self

    def cut(self) -> None:
        """From now on nothing gets through, silently."""
        logger.info("relay %s: the network goes dark", self.url)
        self._cut.set()

    def restore(self) -> None:
        """New connections get through again."""
        logger.info("relay %s: the network is back for new connections", self.url)
        self._cut.clear()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)
        if self._listener is not None:
            _close(self._listener)

    def __enter__(self) -> BlackholeRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- relaying ----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            self._track(client)
            if self._cut.is_set():
                self.swallowed += 1
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                _close(client)  # the server itself is down: refuse the way it would
                continue
            upstream.settimeout(None)
            self._track(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                if not self._cut.is_set():
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                return
            if self._cut.is_set():
                continue  # dropped on the floor
            try:
                dst.sendall(data)
            except OSError:
                break

    def _swallow(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                if not sock.recv(65536):
                    return
            except OSError:
                return

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv on it
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
