"""The presence sensors on gpiozero's MockFactory: motion, distance (a simulated HC-SR04 echo) and a plain input."""

from __future__ import annotations

import queue

import pytest
from gpiozero.pins.mock import MockFactory, MockTriggerPin

from edgevoice.assistant.events import PresenceChanged
from edgevoice.config.errors import ConfigError
from edgevoice.config.presence import PresenceConfig
from edgevoice.listening.presence import PresenceSensor

SPEED_OF_SOUND = 343.26  # m/s, as gpiozero's DistanceSensor assumes


def changes() -> tuple[queue.SimpleQueue, callable]:
    q: queue.SimpleQueue = queue.SimpleQueue()
    return q, q.put


def next_change(q: queue.SimpleQueue) -> PresenceChanged:
    return q.get(timeout=20)  # the sensor's own thread posts it


def test_no_sensor_needs_no_gpio():
    sensor = PresenceSensor.from_config(PresenceConfig(), lambda e: None)
    assert sensor.device is None and not sensor.present
    sensor.close()


def test_a_motion_sensor_reports_arrival_and_departure():
    factory = MockFactory()
    q, post = changes()
    sensor = PresenceSensor.from_config(PresenceConfig(sensor="motion", pin=4), post, pin_factory=factory)
    try:
        factory.pin(4).drive_high()
        assert next_change(q) == PresenceChanged(True)
        factory.pin(4).drive_low()
        assert next_change(q) == PresenceChanged(False)
        factory.pin(4).drive_high()
        assert next_change(q) == PresenceChanged(True)
    finally:
        sensor.close()


def test_a_plain_input_active_low_and_who_is_there_at_start():
    factory = MockFactory()
    factory.pin(5).drive_high()
    q, post = changes()
    sensor = PresenceSensor.from_config(PresenceConfig(sensor="input", pin=5, active_high=False), post,
                                        pin_factory=factory)
    try:
        assert q.empty() and not sensor.present
        factory.pin(5).drive_low()
        assert next_change(q) == PresenceChanged(True)
    finally:
        sensor.close()
    factory.pin(7).drive_high()  # someone is already there when the daemon starts
    q, post = changes()
    sensor = PresenceSensor.from_config(PresenceConfig(sensor="input", pin=7), post, pin_factory=factory)
    try:
        assert q.get_nowait() == PresenceChanged(True)
    finally:
        sensor.close()


def test_a_distance_sensor_sees_someone_nearer_than_the_distance():
    factory = MockFactory()
    echo = factory.pin(24)
    far = 2 * 3.0 / SPEED_OF_SOUND
    trigger = factory.pin(23, pin_class=MockTriggerPin, echo_pin=echo, echo_time=far)
    q, post = changes()
    sensor = PresenceSensor.from_config(PresenceConfig(sensor="distance", trigger_pin=23, echo_pin=24, distance_m=1.0),
                                        post, pin_factory=factory)
    try:
        assert sensor.device.distance > 1.0  # the first readings: nobody (it starts counting from here)
        trigger.echo_time = 2 * 0.5 / SPEED_OF_SOUND  # someone at half a metre
        assert next_change(q) == PresenceChanged(True)
        trigger.echo_time = far
        assert next_change(q) == PresenceChanged(False)
    finally:
        sensor.close()


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="pin"):
        PresenceConfig(sensor="motion").check()
    with pytest.raises(ConfigError, match="echo_pin"):
        PresenceConfig(sensor="distance", trigger_pin=23).check()
    with pytest.raises(ConfigError, match="echo_pin"):
        PresenceConfig(sensor="distance", trigger_pin=23, echo_pin=23).check()


def test_a_sensor_that_cannot_be_used_is_a_clear_error_and_the_kiosk_runs_without_it(caplog):
    factory = MockFactory()
    first = PresenceSensor.from_config(PresenceConfig(sensor="input", pin=6), lambda e: None, pin_factory=factory)
    try:
        second = PresenceSensor.from_config(PresenceConfig(sensor="motion", pin=6), lambda e: None, pin_factory=factory)
        assert second.device is None and not second.present
        assert "presence sensor (motion) on pin 6: pin GPIO6 is already in use" in second.problem
        assert "running without the presence sensor" in caplog.text
        second.close()
    finally:
        first.close()
