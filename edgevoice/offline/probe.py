"""A cheap check that the Voice Live endpoint answers: DNS, TCP, TLS and one HTTP status line.

No WebSocket session is opened and no credentials are sent, so a check costs none of the
resource's connection quota or tokens. It uses the same hard deadline as a real connect (DNS runs
in a helper thread that is abandoned at the deadline; every socket step gets only the time left),
so a black-holed network or a server that accepts TCP and then never answers fails the check in
``timeout_s``, not minutes. Any HTTP answer counts (the service answers a plain GET with 4xx).
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from edgevoice import __version__
from edgevoice.voicelive.dial import Deadline, open_tcp, resolve, wrap_tls  # the session's own bounded steps
from edgevoice.voicelive.errors import ConnectTimeout, NetworkError, SessionError

logger = logging.getLogger(__name__)

MAX_STATUS_LINE = 1024


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a check found: ``ok`` when the endpoint answered with an HTTP status in time."""

    ok: bool
    detail: str  # "HTTP 401" or what failed
    ms: float
    status: int | None = None
    error: SessionError | None = None  # the failure, classified like a connect failure


def probe(url: str, timeout_s: float = 1.5, *, ssl_context: ssl.SSLContext | None = None) -> ProbeResult:
    """Check that ``url`` (ws://, wss://, http:// or https://) answers within ``timeout_s``; never raises."""
    started = time.monotonic()
    try:
        status = _check(url, timeout_s, ssl_context)
    except SessionError as exc:
        return ProbeResult(False, str(exc), (time.monotonic() - started) * 1000, error=exc)
    except ValueError as exc:  # not a URL that can be checked: the config is wrong, not the network
        return ProbeResult(False, str(exc), (time.monotonic() - started) * 1000)
    return ProbeResult(True, f"HTTP {status}", (time.monotonic() - started) * 1000, status=status)


def _check(url: str, timeout_s: float, ssl_context: ssl.SSLContext | None) -> int:
    parts = urlsplit(url)
    secure = parts.scheme in ("wss", "https")
    host = parts.hostname
    if parts.scheme not in ("ws", "wss", "http", "https") or not host:
        raise ValueError(f"cannot check {url!r}: not a ws/wss/http/https URL with a host")
    port = parts.port or (443 if secure else 80)
    deadline = Deadline(timeout_s)
    addrs = resolve(host, port, deadline)
    sock = open_tcp(addrs, host, port, deadline)
    try:
        if secure:
            sock = wrap_tls(sock, host, deadline, ssl_context)
        authority = host if parts.port is None else f"{host}:{parts.port}"
        if ":" in host and not host.startswith("["):
            authority = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {authority}\r\n"
            f"User-Agent: edgevoice/{__version__} (reachability check)\r\nConnection: close\r\n\r\n"
        )
        sock.settimeout(deadline.left("HTTP request", host))
        sock.sendall(request.encode("ascii"))
        return _read_status(sock, deadline, host)
    except TimeoutError:
        raise ConnectTimeout(f"{host} did not answer within {timeout_s:g} s") from None
    except OSError as exc:
        raise NetworkError(f"checking {host}:{port} failed: {exc.strerror or exc}") from None
    finally:
        try:
            sock.close()
        except OSError:
            pass


def _read_status(sock: socket.socket, deadline: Deadline, host: str) -> int:
    data = b""
    while b"\r\n" not in data:
        sock.settimeout(deadline.left("waiting for an HTTP answer", host))
        chunk = sock.recv(256)
        if not chunk:
            raise NetworkError(f"{host} closed the connection without an answer")
        data += chunk
        if len(data) > MAX_STATUS_LINE:
            break
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    fields = line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise NetworkError(f"{host} answered something that is not HTTP ({line[:40]!r})")
    return int(fields[1])
