"""Status LEDs: one gpiozero LED per state in the [leds] table; with none configured, nothing happens."""

from __future__ import annotations

import logging
from typing import Any

from edgevoice.assistant.state import Led
from edgevoice.config.assistant import LedsConfig

logger = logging.getLogger(__name__)


class StatusLeds:
    """Light the LED of the current state and put out the others (several states may share a pin)."""

    def __init__(self, config: LedsConfig, *, pin_factory: Any = None) -> None:
        self._by_state: dict[str, Any] = {}
        self.showing = Led.OFF  #: the pattern shown (or that would be, with no LEDs configured)
        pins = config.pins()
        if not pins:
            return
        from gpiozero import LED  # imported only when LEDs are configured

        by_pin: dict[str, Any] = {}
        try:
            for state, pin in pins.items():
                key = str(pin)
                if key not in by_pin:
                    by_pin[key] = LED(pin, active_high=config.active_high, pin_factory=pin_factory)
                self._by_state[state] = by_pin[key]
        except Exception:
            for led in by_pin.values():
                led.close()
            raise
        self._leds = list(by_pin.values())
        logger.info("status LEDs: %s", ", ".join(f"{s} on {p}" for s, p in pins.items()))

    @property
    def configured(self) -> bool:
        return bool(self._by_state)

    def show(self, led: Led) -> None:
        """Light ``led``'s pin (Led.OFF: all off)."""
        self.showing = led
        if not self._by_state:
            return
        lit = self._by_state.get(led.value)
        for device in self._leds:
            if device is lit:
                device.on()
            else:
                device.off()

    def close(self) -> None:
        for device in getattr(self, "_leds", []):
            device.close()
        self._by_state = {}
