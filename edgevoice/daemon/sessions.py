"""Make Voice Live sessions as the [voicelive] table describes them, and notice a credential being fixed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from edgevoice.config.secrets import PROBLEM, ConfiguredCredential, Credential
from edgevoice.config.voicelive import VoiceLiveConfig
from edgevoice.daemon.link import SessionFactory
from edgevoice.voicelive.session import VoiceLiveSession

logger = logging.getLogger(__name__)

CREDENTIAL_POLL_S = 2.0  # while the credentials are the problem, look at them this often (a file read)


def session_factory(cfg: VoiceLiveConfig, credential: Credential | None = None) -> Sessions:
    """A factory of unconnected sessions for ``cfg``; credentials are read anew for each (token refresh).

    Without ``credential`` the configured one is used, looked up afresh for every session: having
    none configured at all fails now; a key file that cannot be read fails each session (the
    link reports it as a credential error) until it is fixed.
    """
    return Sessions(cfg, credential if credential is not None else ConfiguredCredential(cfg))


class Sessions:
    """Makes unconnected Voice Live sessions for one [voicelive] config (a ``SessionFactory``)."""

    def __init__(self, cfg: VoiceLiveConfig, credential: Credential) -> None:
        self.dialect = cfg.dialect
        self.url = self.dialect.realtime_url(cfg)
        self.credential = credential
        self._payload = self.dialect.session_payload(cfg)
        self._connect_timeout_s = cfg.connect_timeout_s

    def __repr__(self) -> str:
        return f"<Sessions {self.url} with {self.credential!r}>"

    def __call__(self, **callbacks: Any) -> VoiceLiveSession:
        """A new session (raises ConfigError when the credential cannot be read now)."""
        return VoiceLiveSession(self.url, self.dialect.handshake_headers(self.credential.headers()), self._payload,
                                connect_timeout=self._connect_timeout_s, dialect=self.dialect, **callbacks)


class CredentialWatch:
    """While the assistant is in its error state for credentials, looks at them every few seconds.

    ``failed()`` when a session failed on credentials (a key file that cannot be read, or a key the
    service refused) remembers what the credential was; ``changed(now)`` says when it is different
    and usable: the file was fixed, the key rotated, the token refreshed. Then the daemon tries
    again at once instead of after ``error_retry_s``; an unchanged refused key is not retried (no
    retry storm). Reads a small file at most every ``every_s``; never touches the network.
    """

    def __init__(self, factory: SessionFactory | None, *, every_s: float = CREDENTIAL_POLL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        credential = getattr(factory, "credential", None)
        self._credential = credential if isinstance(credential, ConfiguredCredential) else None
        self._every_s = every_s
        self._clock = clock
        self._failed_with: str | None = None  # the fingerprint when the credentials failed
        self._next_look = 0.0
        self.problem: str | None = None  # the local problem with the credential, if that is what failed

    @property
    def watching(self) -> bool:
        return self._failed_with is not None

    def failed(self) -> str | None:
        """A session failed on credentials: start watching. Returns the local problem (unreadable
        file ...), or None when the credential itself could be read (the service refused it)."""
        if self._credential is None:
            return None
        self._failed_with = self._credential.fingerprint()
        self.problem = _problem_of(self._failed_with)
        self._next_look = self._clock() + self._every_s
        return self.problem

    def stop(self) -> None:
        """The credentials work (a session opened): stop watching."""
        self._failed_with = None
        self.problem = None

    def changed(self) -> bool:
        """True once (then it stops watching) when the credential differs from the one that failed and
        can be used; a new problem with it (still unreadable, now world-readable) updates ``problem``."""
        if self._credential is None or self._failed_with is None:
            return False
        now = self._clock()
        if now < self._next_look:
            return False
        self._next_look = now + self._every_s
        fingerprint = self._credential.fingerprint()
        if fingerprint == self._failed_with:
            return False
        self._failed_with = fingerprint
        problem = _problem_of(fingerprint)
        if problem is not None:
            if problem != self.problem:
                logger.error("the Voice Live credential still cannot be used: %s", problem)
            self.problem = problem
            return False
        logger.info("the Voice Live credential (%s) changed and can be read: trying again now", self._credential.describe())
        self.stop()
        return True


def _problem_of(fingerprint: str) -> str | None:
    return fingerprint.removeprefix(PROBLEM) if fingerprint.startswith(PROBLEM) else None
