"""Suite-wide test settings: mock GPIO pins, a deterministic hypothesis profile, no real key leaks."""

from __future__ import annotations

import os

import pytest

# gpiozero's own mock pin factory: buttons are driven and LEDs read without GPIO hardware.
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")

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
