"""The [captions] and [metrics] tables: what a kiosk shows on its screen, and the fleet's figures.

``[captions]`` serves one page for a kiosk browser with the visitor's words, the reply and the
state, as they happen. It listens on loopback unless ``allow_remote`` says otherwise: the page
shows what visitors say, so anyone who can reach the port can read it.
``[metrics]`` writes Prometheus metrics for node_exporter's textfile collector.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from edgevoice.config.errors import ConfigError, shown
from edgevoice.config.fields import setting


def is_loopback(host: str) -> bool:
    """True for an address (or ``localhost``) that only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class CaptionsConfig:
    """The captions page: a local web page with what was heard, what is said, and the state."""

    enabled: bool = setting(False, "serve the captions page for a kiosk browser")
    host: str = setting("127.0.0.1", "address to listen on (loopback: only this machine's browser can read it)")
    port: int = setting(8080, "TCP port of the page", min=1, max=65535)
    allow_remote: bool = setting(False, "true: host may be an address other machines can reach (they can read what visitors say)")
    language: str = setting("English", "the language label shown on the page")
    font_size_px: int = setting(48, "size of the caption text, in CSS pixels", min=12, max=400)
    title: str = setting("", "a heading shown above the captions (empty: none)")
    linger_s: float = setting(3.0, "seconds the last captions stay once a conversation is over; then nothing is kept",
                              min=0.0, max=60.0)

    def check(self) -> None:
        if not self.host:
            raise ConfigError("host", "is empty: give an address to listen on, e.g. 127.0.0.1")
        if not is_loopback(self.host) and not self.allow_remote:
            raise ConfigError(
                "host", f"{shown(self.host)} is reachable from other machines, which could then read what visitors say: "
                "set captions.allow_remote = true to mean it, or use 127.0.0.1",
            )


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus metrics in a file, for node_exporter's textfile collector."""

    textfile: Path | None = setting(None, "the .prom file to write, e.g. /var/lib/node_exporter/textfile_collector/edgevoice.prom (unset: none)")
    interval_s: float = setting(15.0, "seconds between writes (the file is also written at each turn's end)", min=1.0, max=3600.0)

    def check(self) -> None:
        if self.textfile is not None and self.textfile.suffix != ".prom":
            raise ConfigError("textfile", f"{shown(str(self.textfile))} does not end in .prom: node_exporter reads only *.prom files")
