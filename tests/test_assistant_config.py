"""The [assistant] and [leds] tables, read by the project's config loader."""

from __future__ import annotations

import tomllib

import pytest

from edgevoice.config.assistant import AssistantConfig, LedsConfig
from edgevoice.config.errors import ConfigError
from edgevoice.config.load import build


def table(cls, text: str, key: str):
    return build(cls, tomllib.loads(text), key)


def test_defaults():
    cfg = table(AssistantConfig, "", "assistant")
    assert cfg == AssistantConfig()
    assert (cfg.follow_up_s, cfg.idle_timeout_s, cfg.barge_in, cfg.chimes, cfg.volume) == (5.0, 60.0, "vad", True, 1.0)
    assert table(LedsConfig, "", "leds").pins() == {}


def test_values_are_read_and_checked():
    cfg = table(AssistantConfig, "follow_up_s = 8\nbarge_in = 'wake'\nvolume = 0.4\nprewarm = true", "assistant")
    assert cfg.follow_up_s == 8.0 and cfg.barge_in == "wake" and cfg.volume == 0.4 and cfg.prewarm


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("barge_in = 'shout'", "assistant.barge_in"),
        ("volume = 1.5", "assistant.volume: 1.5 is out of range"),
        ("follow_up_s = -1", "assistant.follow_up_s: -1 is out of range"),
        ("idle_timeout_s = 'soon'", "assistant.idle_timeout_s"),
        ("chimes = 1", "assistant.chimes"),
    ],
)
def test_bad_assistant_values_name_the_key(text, message):
    with pytest.raises(ConfigError) as err:
        table(AssistantConfig, text, "assistant")
    assert message in str(err.value)


def test_led_pins():
    text = "listening = 17\nthinking = 'GPIO27'\nspeaking = 'BOARD11'\nerror = 17\nactive_high = false"
    cfg = table(LedsConfig, text, "leds")
    assert cfg.pins() == {"listening": 17, "thinking": "GPIO27", "speaking": "BOARD11", "error": 17}
    assert not cfg.active_high


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("listening = 40", "leds.listening: GPIO 40 does not exist; BCM numbers run from 0 to 27"),
        ("muted = true", "leds.muted: expected a GPIO pin number or name, got True"),
        ("offline = 'pin seven'", "leds.offline: expected a GPIO pin such as 17"),
    ],
)
def test_bad_led_pins_name_the_key(text, message):
    with pytest.raises(ConfigError) as err:
        table(LedsConfig, text, "leds")
    assert message in str(err.value)
