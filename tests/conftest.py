"""Suite-wide test settings: mock GPIO pins, a deterministic hypothesis profile, no real key leaks."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

# gpiozero's own mock pin factory: buttons are driven and LEDs read without GPIO hardware.
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
# A fresh machine's shell has no PYTHONUNBUFFERED: run every child process the way it would there,
# so a helper that loses buffered output fails here too, not only on a new machine.
os.environ.pop("PYTHONUNBUFFERED", None)

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "edgevoice",
        max_examples=200,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "edgevoice"))
except ImportError:  # hypothesis is a test extra; the profile is only needed when it is there
    pass


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a real key or config from the developer's environment."""
    for name in ("AZURE_VOICELIVE_API_KEY", "CREDENTIALS_DIRECTORY", "EDGEVOICE_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True, scope="session")
def _invalid_names_fail_without_the_network() -> Iterator[None]:
    """Names under ``.invalid`` fail at once, as RFC 6761 asks of every resolver, without asking this machine's.

    The DNS-failure tests (probe, session, offline daemon) then depend on no network and on no
    resolver's timeout; every other name still goes through the real ``getaddrinfo``.
    """
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        if isinstance(name, str) and (name.rstrip(".").lower() + ".").endswith(".invalid."):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield
