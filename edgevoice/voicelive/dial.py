"""Dialling a host within one hard deadline: DNS, TCP and TLS, each given only the time left.

Used by the WebSocket session (:mod:`edgevoice.voicelive.session`) and the reachability probe
(:mod:`edgevoice.offline.probe`). ``getaddrinfo`` cannot be interrupted, so :func:`resolve` runs it
in a helper thread that is abandoned at the deadline; :func:`open_tcp` shares the time left between
the addresses; :func:`wrap_tls` verifies the certificate against the system's CA bundle; a
:class:`Watchdog` shuts the socket down at the deadline, which unblocks whatever step is waiting.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from edgevoice.voicelive.errors import ConnectTimeout, NetworkError, TlsError

__all__ = ["Deadline", "Watchdog", "describe", "open_tcp", "resolve", "shutdown", "wrap_tls"]


class Deadline:
    """A fixed point in monotonic time."""

    __slots__ = ("_end", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def left(self, stage: str, host: str) -> float:
        """Seconds left, or ConnectTimeout when none are."""
        left = self.remaining()
        if left <= 0:
            raise ConnectTimeout(f"connecting to {host} took longer than {self.seconds:g} s (during {stage})")
        return left


def shutdown(sock: socket.socket | None) -> None:
    """Shut the socket down for both directions: wakes threads blocked in recv/send on it."""
    if sock is None:
        return
    try:
        # The plain socket method, also for an SSLSocket: acts on the file descriptor without
        # touching the TLS state another thread may be using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass


class Watchdog:
    """Shuts the socket down when the connect deadline passes, whatever step is blocked."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.name = "edgevoice-connect-deadline"

    def start(self) -> None:
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self._fired:
                shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            shutdown(self._sock)

    @property
    def fired(self) -> bool:
        with self._lock:
            return self._fired

    def cancel(self) -> bool:
        """Stop watching; True if the deadline had already passed (the socket is then shut)."""
        self._timer.cancel()
        with self._lock:
            self._sock = None
            return self._fired


def describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def resolve(host: str, port: int, deadline: Deadline) -> list[tuple[Any, ...]]:
    """getaddrinfo bounded by the deadline (it cannot be interrupted, so it runs in a thread)."""
    try:  # an IP literal needs no lookup
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        pass
    result: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            result["addrs"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:  # gaierror is an OSError
            result["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="edgevoice-dns", daemon=True).start()
    if not done.wait(max(deadline.remaining(), 0.0)):
        raise ConnectTimeout(f"looking up {host} took longer than {deadline.seconds:g} s")
    if "error" in result:
        raise NetworkError(f"cannot resolve {host}: {describe(result['error'])}") from None
    if not result["addrs"]:
        raise NetworkError(f"cannot resolve {host}: no addresses")
    return result["addrs"]


def open_tcp(addrs: list[tuple[Any, ...]], host: str, port: int, deadline: Deadline) -> socket.socket:
    """Connect to the first address that answers, sharing the time left between addresses."""
    last: BaseException | None = None
    timed_out = False
    for index, (family, kind, proto, _name, sockaddr) in enumerate(addrs):
        left = deadline.remaining()
        if left <= 0:
            break
        share = left / (len(addrs) - index)
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(share)
            sock.connect(sockaddr)
        except TimeoutError as exc:
            sock.close()
            timed_out, last = True, exc
            continue
        except OSError as exc:
            sock.close()
            last = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    if timed_out or last is None:
        raise ConnectTimeout(f"TCP connection to {host}:{port} took longer than {deadline.seconds:g} s")
    raise NetworkError(f"cannot connect to {host}:{port}: {describe(last)}")


def wrap_tls(
    sock: socket.socket, host: str, deadline: Deadline, context: ssl.SSLContext | None = None,
    *, on_wrapped: Callable[[ssl.SSLSocket], None] | None = None,
) -> ssl.SSLSocket:
    """TLS over ``sock`` with a verified certificate, the handshake bounded by ``deadline``; TlsError when it fails.

    ``on_wrapped`` sees the TLS socket before the handshake (a :class:`Watchdog` must watch it:
    wrapping takes the file descriptor over from ``sock``). A timeout or a socket error is raised
    as is, for the caller to classify.
    """
    context = context or ssl.create_default_context()
    tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    if on_wrapped is not None:
        on_wrapped(tls)
    tls.settimeout(deadline.left("TLS handshake", host))
    try:
        tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        raise TlsError(
            f"the TLS certificate of {host} is not trusted ({exc.verify_message}); "
            "if the system clock is wrong (no RTC before NTP sync) this resolves once it is set"
        ) from None
    except ssl.SSLError as exc:
        raise TlsError(f"TLS handshake with {host} failed: {describe(exc)}") from None
    return tls
