"""Push-to-talk and the mute switch on (mock) GPIO, wired into the front-end."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from edgevoice.config.listening import ButtonsConfig
from edgevoice.listening import frontend_events as ev
from edgevoice.listening.buttons import Buttons, GpioError, MuteSwitch, PushToTalk
from edgevoice.listening.frontend import ListeningFrontend

FRAME = bytes(320)


@pytest.fixture
def pins():
    factory = MockFactory()
    yield factory
    factory.reset()


def test_push_to_talk_and_mute_switch_reach_the_frontend(pins):
    fe = ListeningFrontend()
    buttons = Buttons.from_config(ButtonsConfig(push_to_talk_pin=17, mute_pin="GPIO27", bounce_time_s=0), fe, pin_factory=pins)
    assert buttons.configured and fe.process(FRAME) == []
    ptt, mute = pins.pin(17), pins.pin(27)
    ptt.drive_low()
    assert fe.process(FRAME) == [ev.ButtonPressed(0.01)]
    ptt.drive_high()
    assert fe.process(FRAME) == [ev.ButtonReleased(0.02)]
    mute.drive_low()
    assert fe.process(FRAME) == [ev.Muted(0.03)] and fe.muted
    ptt.drive_low()
    ptt.drive_high()
    assert fe.process(FRAME) == []  # the button does nothing while muted
    mute.drive_high()
    assert fe.process(FRAME) == [ev.Unmuted(0.05)] and not fe.muted
    buttons.close()


class SwitchedOnPin(MockPin):
    """A pin a closed switch holds at ground: the pull-up cannot raise it."""

    def _set_pull(self, value):
        super()._set_pull(value)
        self.drive_low()


def test_a_mute_switch_already_on_at_start_mutes_at_once():
    pins = MockFactory(pin_class=SwitchedOnPin)
    fe = ListeningFrontend()
    Buttons.from_config(ButtonsConfig(mute_pin=27), fe, pin_factory=pins)
    assert fe.process(FRAME) == [ev.Muted(0.0)] and fe.muted
    pins.reset()


def test_pull_down_wiring(pins):
    pressed = []
    button = PushToTalk(22, on_press=lambda: pressed.append(1), pull_up=False, bounce_time_s=0, pin_factory=pins)
    pins.pin(22).drive_high()
    assert pressed == [1] and button.is_pressed
    button.close()


def test_mute_switch_reports_its_position(pins):
    changes = []
    switch = MuteSwitch(5, on_change=changes.append, bounce_time_s=0, pin_factory=pins)
    pins.pin(5).drive_low()
    pins.pin(5).drive_high()
    assert changes == [False, True, False] and not switch.is_muted


def test_no_pins_no_buttons():
    buttons = Buttons.from_config(ButtonsConfig(), ListeningFrontend())
    assert not buttons.configured
    buttons.close()


def test_an_unusable_pin_is_a_clear_error(pins):
    with pytest.raises(GpioError, match="push-to-talk button on pin 'GPIO99'"):
        Buttons.from_config(ButtonsConfig(push_to_talk_pin="GPIO99"), ListeningFrontend(), pin_factory=pins)
    taken = PushToTalk(17, on_press=lambda: None, pin_factory=pins)  # something else holds pin 17
    with pytest.raises(GpioError, match="mute switch on pin 17"):
        Buttons.from_config(ButtonsConfig(push_to_talk_pin=4, mute_pin=17), ListeningFrontend(), pin_factory=pins)
    PushToTalk(4, on_press=lambda: None, pin_factory=pins).close()  # the half-made button was released
    taken.close()
