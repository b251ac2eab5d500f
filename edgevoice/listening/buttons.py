"""A push-to-talk button and a mute switch on GPIO (gpiozero), wired into the front-end.

gpiozero calls back on its own thread; these classes only forward to thread-safe calls
(``ListeningFrontend.press_button`` / ``set_muted``), so the events come out of
``process()`` in audio-stream order like everything else. No pins configured: nothing happens
and gpiozero is not even imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgevoice.config.listening import ButtonsConfig
    from edgevoice.listening.frontend import ListeningFrontend

logger = logging.getLogger(__name__)


class GpioError(RuntimeError):
    """GPIO is not available or a pin cannot be used; the message says which and why."""


def _button(pin: int | str, pull_up: bool, bounce_time_s: float, pin_factory: Any, what: str):
    try:
        from gpiozero import Button
        from gpiozero.exc import GPIOZeroError
    except ImportError as exc:  # pragma: no cover - gpiozero is a dependency
        raise GpioError(f"{what}: gpiozero is not installed") from exc
    try:
        return Button(pin, pull_up=pull_up, bounce_time=bounce_time_s or None, pin_factory=pin_factory)
    except (GPIOZeroError, ValueError, OSError) as exc:
        raise GpioError(
            f"{what} on pin {pin!r}: {exc} (no GPIO here? GPIOZERO_PIN_FACTORY=mock simulates it)"
        ) from exc


class PushToTalk:
    """A button that opens the gate like the wake word: ``on_press`` when pushed, ``on_release`` when let go."""

    def __init__(
        self,
        pin: int | str,
        *,
        on_press: Callable[[], None],
        on_release: Callable[[], None] | None = None,
        pull_up: bool = True,
        bounce_time_s: float = 0.02,
        pin_factory: Any = None,
    ) -> None:
        self.button = _button(pin, pull_up, bounce_time_s, pin_factory, "push-to-talk button")
        self.button.when_pressed = lambda *_: on_press()
        if on_release is not None:
            self.button.when_released = lambda *_: on_release()

    @property
    def is_pressed(self) -> bool:
        return bool(self.button.is_pressed)

    def close(self) -> None:
        self.button.close()


class MuteSwitch:
    """A latching switch that mutes while on: ``on_change(True)`` when switched on, ``False`` when off.

    ``on_change`` is also called once at start with the switch's current position, so a device
    that boots with the switch on starts muted.
    """

    def __init__(
        self,
        pin: int | str,
        *,
        on_change: Callable[[bool], None],
        pull_up: bool = True,
        bounce_time_s: float = 0.02,
        pin_factory: Any = None,
    ) -> None:
        self.button = _button(pin, pull_up, bounce_time_s, pin_factory, "mute switch")
        self.button.when_pressed = lambda *_: on_change(True)
        self.button.when_released = lambda *_: on_change(False)
        on_change(self.is_muted)

    @property
    def is_muted(self) -> bool:
        return bool(self.button.is_pressed)

    def close(self) -> None:
        self.button.close()


class Buttons:
    """The buttons of the [buttons] table, wired to a front-end; with no pins set it does nothing."""

    def __init__(self, push_to_talk: PushToTalk | None = None, mute: MuteSwitch | None = None) -> None:
        self.push_to_talk = push_to_talk
        self.mute = mute

    @classmethod
    def from_config(cls, buttons: ButtonsConfig, frontend: ListeningFrontend, *, pin_factory: Any = None) -> Buttons:
        """Create the configured button and switch and connect them to ``frontend``."""
        ptt = mute = None
        if buttons.push_to_talk_pin is not None:
            ptt = PushToTalk(
                buttons.push_to_talk_pin,
                on_press=frontend.press_button,
                on_release=frontend.release_button,
                pull_up=buttons.pull_up,
                bounce_time_s=buttons.bounce_time_s,
                pin_factory=pin_factory,
            )
            logger.info("push-to-talk button on pin %s", buttons.push_to_talk_pin)
        if buttons.mute_pin is not None:
            try:
                mute = MuteSwitch(
                    buttons.mute_pin,
                    on_change=frontend.set_muted,
                    pull_up=buttons.pull_up,
                    bounce_time_s=buttons.bounce_time_s,
                    pin_factory=pin_factory,
                )
            except GpioError:
                if ptt is not None:
                    ptt.close()
                raise
            logger.info("mute switch on pin %s", buttons.mute_pin)
        return cls(ptt, mute)

    @property
    def configured(self) -> bool:
        return self.push_to_talk is not None or self.mute is not None

    def close(self) -> None:
        for b in (self.push_to_talk, self.mute):
            if b is not None:
                b.close()
