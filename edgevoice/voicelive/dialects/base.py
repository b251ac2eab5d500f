"""What every service dialect answers: where to connect, how to authenticate, what to send (sans-I/O).

A dialect is a pure object: config in, URL, headers and JSON-ready dicts out. The session and the
emulator use it; nothing here touches a socket. edgevoice builds its client events in the Voice
Live shape (:mod:`edgevoice.voicelive.protocol.client_events`); a dialect that speaks another shape
rewrites them in :meth:`Dialect.client_event`. The server event parser already reads the event
names of every dialect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from edgevoice.config.errors import ConfigError
from edgevoice.config.voicelive import INPUT_SAMPLE_RATE, VoiceLiveConfig, is_loopback_host


class Dialect(ABC):
    """One realtime service: its URL, handshake, session shape, events and the options it honours."""

    name: str  # the value of [voicelive] service
    title: str  # how users call the service, for messages
    path: str  # the realtime WebSocket path appended to the endpoint
    input_rate: int = INPUT_SAMPLE_RATE  # sample rate of input audio on the wire (the device captures 16 kHz)
    pre_generated_messages: bool = False  # speaks a given text verbatim (response.create pre_generated_assistant_message)
    echo_cancellation: bool = False  # server-side echo cancellation (input_audio_echo_cancellation)
    default_output_audio_format: str = "pcm16"  # when voicelive.output_audio_format is unset
    default_noise_reduction: str = "none"  # when voicelive.noise_reduction is unset
    event_names: Mapping[str, str] = {}  # the Voice Live server event names this service spells otherwise

    @abstractmethod
    def query(self, cfg: VoiceLiveConfig) -> dict[str, str]:
        """The query string of the realtime URL."""

    @abstractmethod
    def session_payload(self, cfg: VoiceLiveConfig) -> dict[str, Any]:
        """The ``session`` object of the ``session.update`` sent when connecting."""

    @abstractmethod
    def check(self, cfg: VoiceLiveConfig) -> None:
        """Raise ConfigError (key relative to [voicelive]) for an option this service cannot honour."""

    def handshake_headers(self, credential: Mapping[str, str]) -> dict[str, str]:
        """The upgrade request's headers: the credential's (``api-key`` or ``Authorization: Bearer``)."""
        return dict(credential)

    def client_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """A client event built in the Voice Live shape, as this service wants it (a new dict)."""
        return dict(event)

    def realtime_url(self, cfg: VoiceLiveConfig) -> str:
        """``wss://host[/prefix]<path>?<query>``: https becomes wss, http becomes ws (loopback hosts only).

        A path prefix on the endpoint (a gateway) is kept; an endpoint that already ends in the
        service's path is not extended twice.
        """
        url = urlsplit(cfg.endpoint)
        scheme = url.scheme.lower()
        if scheme in ("https", "wss"):
            ws_scheme = "wss"
        elif scheme in ("http", "ws") and is_loopback_host(url.hostname or ""):
            ws_scheme = "ws"
        else:
            raise ConfigError("voicelive.endpoint", f"{cfg.endpoint!r} must be https:// (http:// only for localhost/127.0.0.1)")
        path = quote(url.path.rstrip("/"), safe="/%:@!$&'()*+,;=-._~")
        if not path.endswith(self.path):
            path += self.path
        return urlunsplit((ws_scheme, url.netloc, path, urlencode(self.query(cfg)), ""))

    def __repr__(self) -> str:
        return f"<dialect {self.name}>"
