"""A presence sensor on GPIO (gpiozero): tells the assistant when someone stands in front of the kiosk.

A PIR ``MotionSensor``, an ultrasonic ``DistanceSensor`` (someone is present while nearer than the
configured distance) or a plain ``DigitalInputDevice`` (a pressure mat, a light barrier). gpiozero
calls back on its own thread; the sensor only posts ``PresenceChanged`` to the daemon's queue, and
the machine decides what an arrival or a departure means. No sensor configured: nothing happens and
gpiozero is not imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgevoice.assistant.events import PresenceChanged
from edgevoice.listening.buttons import GpioError

if TYPE_CHECKING:
    from edgevoice.config.presence import PresenceConfig

logger = logging.getLogger(__name__)


def _device(config: PresenceConfig, pin_factory: Any) -> Any:
    try:
        from gpiozero import DigitalInputDevice, DistanceSensor, MotionSensor
        from gpiozero.exc import GPIOZeroError
    except ImportError as exc:  # pragma: no cover - gpiozero is a dependency
        raise GpioError("presence sensor: gpiozero is not installed") from exc
    try:
        if config.sensor == "motion":
            return MotionSensor(config.pin, pin_factory=pin_factory)
        if config.sensor == "distance":
            return DistanceSensor(echo=config.echo_pin, trigger=config.trigger_pin,
                                  threshold_distance=config.distance_m,
                                  max_distance=max(1.0, config.distance_m * 2), pin_factory=pin_factory)
        return DigitalInputDevice(config.pin, pull_up=None, active_state=config.active_high, pin_factory=pin_factory)
    except (GPIOZeroError, ValueError, OSError) as exc:
        pins = f"pins {config.trigger_pin!r}/{config.echo_pin!r}" if config.sensor == "distance" else f"pin {config.pin!r}"
        raise GpioError(f"presence sensor ({config.sensor}) on {pins}: {exc} "
                        "(no GPIO here? GPIOZERO_PIN_FACTORY=mock simulates it)") from exc


class PresenceSensor:
    """Someone in front of the kiosk, or not: ``post(PresenceChanged(...))`` on every change (and once
    at start with what the sensor sees then)."""

    def __init__(self, device: Any | None = None, *, kind: str = "none", problem: str = "") -> None:
        self.device = device
        self.kind = kind
        self.problem = problem  # why a configured sensor is not in use ("" = it is, or none is configured)

    @classmethod
    def from_config(cls, config: PresenceConfig, post: Callable[[PresenceChanged], None], *,
                    pin_factory: Any = None) -> PresenceSensor:
        if not config.enabled:
            return cls()
        try:
            device = _device(config, pin_factory)
        except GpioError as exc:  # a missing or miswired sensor: the kiosk still works with the wake word
            logger.error("%s; running without the presence sensor", exc)
            return cls(kind=config.sensor, problem=str(exc))
        on, off = ("when_in_range", "when_out_of_range") if config.sensor == "distance" else \
            ("when_activated", "when_deactivated")
        setattr(device, on, lambda *_: post(PresenceChanged(True)))
        setattr(device, off, lambda *_: post(PresenceChanged(False)))
        logger.info("presence sensor: %s", config.sensor)
        # Someone already there at start counts. Not asked of a distance sensor: its first reading takes
        # a dozen echoes (seconds without one), and start-up does not wait for it; its first change counts.
        if config.sensor != "distance" and device.is_active:
            post(PresenceChanged(True))
        return cls(device, kind=config.sensor)

    @property
    def present(self) -> bool:
        return self.device is not None and bool(self.device.is_active)

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
            self.device = None
