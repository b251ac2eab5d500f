"""What can go wrong with a realtime session, as exceptions that say whether a retry can help.

Raised by the dialler (:mod:`edgevoice.voicelive.dial`), the session
(:mod:`edgevoice.voicelive.session`) and the reachability probe (:mod:`edgevoice.offline.probe`).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthRejected",
    "ConnectTimeout",
    "NetworkError",
    "ProtocolFailure",
    "ServiceError",
    "SessionClosed",
    "SessionError",
    "SessionRejected",
    "Throttled",
    "TlsError",
]

class SessionError(Exception):
    """Base of every Voice Live session failure; ``retryable`` says whether a retry can help."""

    retryable: ClassVar[bool] = True


class AuthRejected(SessionError):
    """The service refused the credentials (HTTP 401/403): retrying will not help."""

    retryable: ClassVar[bool] = False

    def __init__(self, status: int, host: str) -> None:
        self.status = status
        super().__init__(
            f"Voice Live at {host} rejected the credentials (HTTP {status}): "
            "check the API key or token and that it belongs to this resource"
        )


class Throttled(SessionError):
    """The service is rate limiting new connections (HTTP 429); wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float | None, host: str) -> None:
        self.status = 429
        self.retry_after = retry_after
        wait = f"; it asks to retry after {retry_after:g} s" if retry_after is not None else ""
        super().__init__(f"Voice Live at {host} is throttling connections (HTTP 429){wait}")


class ServiceError(SessionError):
    """The service failed on its side (HTTP 5xx); transient, retry with backoff."""

    def __init__(self, status: int, host: str, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"Voice Live at {host} answered with a server error (HTTP {status})")


class ConnectTimeout(SessionError):
    """Connecting did not finish within the deadline (DNS, TCP, TLS, upgrade or session setup)."""


class NetworkError(SessionError):
    """The network failed: name not resolved, connection refused, reset or unreachable."""


class TlsError(NetworkError):
    """The TLS handshake failed, typically an untrusted certificate or a wrong system clock."""


class ProtocolFailure(SessionError):
    """The server did not speak the expected protocol (bad upgrade, no session.created, redirect)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        self.status = status
        self._retryable = retryable
        super().__init__(message)

    @property  # type: ignore[override]
    def retryable(self) -> bool:  # a 4xx answer or a redirect means the configuration is wrong
        return self._retryable


class SessionRejected(SessionError):
    """The service answered the session setup with an ``error`` event (e.g. an unknown voice)."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        self.code = code
        self.param = param
        super().__init__(message)


class SessionClosed(SessionError):
    """The session is not open (not connected yet, closed, or the connection dropped)."""

    retryable: ClassVar[bool] = False
