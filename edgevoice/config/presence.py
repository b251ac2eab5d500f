"""The [presence] table: a sensor that tells the kiosk someone is standing in front of it.

One of three sensors (or none): a PIR motion sensor on one pin (gpiozero ``MotionSensor``), an
ultrasonic distance sensor on a trigger and an echo pin (``DistanceSensor``, someone is there
when nearer than ``distance_m``), or any plain digital input (a pressure mat, a light barrier).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgevoice.config.errors import ConfigError
from edgevoice.config.fields import setting
from edgevoice.config.listening import parse_pin

SENSORS = ("none", "motion", "distance", "input")
MAX_GREETING_CHARS = 500


@dataclass(frozen=True)
class PresenceConfig:
    """Who is in front of the kiosk: greet them, listen without the wake word, reset when they leave."""

    sensor: str = setting("none", "the presence sensor: none, motion (PIR), distance (ultrasonic) or input",
                          choices=SENSORS)
    pin: int | str | None = setting(None, "GPIO pin of a motion sensor or a plain input", parse=parse_pin)
    trigger_pin: int | str | None = setting(None, "distance sensor: GPIO pin of its trigger", parse=parse_pin)
    echo_pin: int | str | None = setting(None, "distance sensor: GPIO pin of its echo", parse=parse_pin)
    distance_m: float = setting(1.0, "distance sensor: someone nearer than this (metres) is present",
                                min=0.05, max=4.0)
    active_high: bool = setting(True, "input: the pin reads high while someone is there (false: low)")
    greeting: str = setting("", "said once to each visitor who arrives (\"\" = no greeting); add the same "
                            "text to [offline] phrases to have it cached for when the service cannot be reached")
    listen_without_wake: bool = setting(False, "while someone is there, speech starts a turn without the wake word")
    leave_s: float = setting(20.0, "nobody seen this long and the visitor has left: the conversation is reset",
                             min=1, max=3600)

    def check(self) -> None:
        if self.sensor in ("motion", "input") and self.pin is None:
            raise ConfigError("pin", f"sensor = {self.sensor!r} needs the GPIO pin it is wired to")
        if self.sensor == "distance":
            if self.trigger_pin is None or self.echo_pin is None:
                raise ConfigError("trigger_pin" if self.trigger_pin is None else "echo_pin",
                                  "sensor = 'distance' needs both trigger_pin and echo_pin")
            if self.trigger_pin == self.echo_pin:
                raise ConfigError("echo_pin", f"{self.echo_pin!r} is also trigger_pin: use two different pins")
        if len(self.greeting) > MAX_GREETING_CHARS:
            raise ConfigError("greeting", f"is {len(self.greeting)} characters long; at most {MAX_GREETING_CHARS}")

    @property
    def enabled(self) -> bool:
        return self.sensor != "none"

    def machine_settings(self) -> dict[str, Any]:
        """The keys of :class:`edgevoice.assistant.settings.AssistantSettings` this table sets."""
        if not self.enabled:
            return {}
        return {"greeting": self.greeting.strip(), "listen_without_wake": self.listen_without_wake,
                "leave_s": self.leave_s}
