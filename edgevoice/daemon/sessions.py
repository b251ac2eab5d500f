"""Make Voice Live sessions as the [voicelive] table describes them."""

from __future__ import annotations

from typing import Any

from edgevoice.config.secrets import Credential, require_credential
from edgevoice.config.voicelive import VoiceLiveConfig
from edgevoice.daemon.link import SessionFactory
from edgevoice.voicelive.protocol.session_config import realtime_url, session_payload
from edgevoice.voicelive.session import VoiceLiveSession


def session_factory(cfg: VoiceLiveConfig, credential: Credential | None = None) -> SessionFactory:
    """A factory of unconnected sessions for ``cfg``; credentials are read anew for each (token refresh).

    Without ``credential`` the configured one is looked up now, so a missing key fails at start.
    """
    url = realtime_url(cfg)
    payload = session_payload(cfg)
    cred = credential if credential is not None else require_credential(cfg)

    def make(**callbacks: Any) -> VoiceLiveSession:
        return VoiceLiveSession(url, cred.headers(), payload, connect_timeout=cfg.connect_timeout_s, **callbacks)

    return make
