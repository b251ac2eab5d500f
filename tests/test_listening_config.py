"""The [audio], [listening] and [buttons] tables: defaults, rules, and messages that name the key."""

from __future__ import annotations

import json

import pytest
from pymicro_wakeword import Model

from edgevoice.config.errors import ConfigError
from edgevoice.config.listening import (
    BUILTIN_WAKE_WORDS,
    AudioConfig,
    ButtonsConfig,
    ListeningConfig,
    VadConfig,
    WakeConfig,
)
from edgevoice.config.load import parse_config

HEAD = '[voicelive]\nendpoint = "https://my-resource.services.ai.azure.com"\n'


def load(text: str):
    return parse_config(HEAD + text, "test.toml")


def test_builtin_names_match_pymicro_wakeword():
    assert set(BUILTIN_WAKE_WORDS) == {m.value for m in Model}


def test_defaults_are_what_the_issue_asks_for():
    c = load("")
    assert c.audio.input_device == "default" and c.audio.stall_timeout_s == 2.0
    assert c.listening.vad.silence_ms == 600 and c.listening.vad.preroll_ms == 300
    assert c.listening.wake.words == ("okay_nabu",)
    assert c.buttons.push_to_talk_pin is None and c.buttons.mute_pin is None


def test_a_full_listening_config_loads():
    c = load(
        '[audio]\ninput_device = "USB"\noutput_device = 1\ninput_sample_rate = 48000\n'
        "[listening.noise]\nsuppression = 4\nauto_gain_dbfs = 3\n"
        "[listening.vad]\naggressiveness = 1\nsilence_ms = 800\npreroll_ms = 500\n"
        '[listening.wake]\nwords = ["alexa", "hey_mycroft"]\nprobability_cutoff = 0.7\nrefractory_s = 1.5\n'
        '[buttons]\npush_to_talk_pin = 17\nmute_pin = "GPIO27"\npull_up = false\n'
    )
    assert c.audio.input_device == "USB" and c.audio.output_device == 1 and c.audio.input_sample_rate == 48000
    assert c.listening.noise.suppression == 4 and c.listening.noise.auto_gain_dbfs == 3
    assert c.listening.vad == VadConfig(aggressiveness=1, silence_ms=800, preroll_ms=500)
    assert c.listening.wake.words == ("alexa", "hey_mycroft") and c.listening.wake.probability_cutoff == 0.7
    assert c.buttons == ButtonsConfig(push_to_talk_pin=17, mute_pin="GPIO27", pull_up=False)


def test_custom_model_file_is_accepted(tmp_path):
    import shutil
    from pathlib import Path

    import pymicro_wakeword

    models = Path(pymicro_wakeword.__file__).parent / "models"
    shutil.copy(models / "alexa.tflite", tmp_path / "hey_kiosk.tflite")
    model = tmp_path / "hey_kiosk.json"
    model.write_text(json.dumps({**json.loads((models / "alexa.json").read_text()), "model": "hey_kiosk.tflite"}))
    c = load(f'[listening.wake]\nwords = []\nmodel_files = ["{model}"]\n')
    assert c.listening.wake.model_files == (str(model),)


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[listening.wake]\nwords = ["hey_siri"]', "listening.wake.words", ["hey_siri", "okay_nabu, hey_jarvis, alexa, hey_mycroft"]),
        ('[listening.wake]\nwords = ["alexa", "alexa"]', "listening.wake.words", ["twice"]),
        ('[listening.wake]\nmodel_files = ["/nowhere/x.json"]', "listening.wake.model_files", ["/nowhere/x.json", "does not exist"]),
        ('[listening.wake]\nmodel_files = ["/nowhere/x.tflite"]', "listening.wake.model_files", ["JSON"]),
        ('[listening.wake]\nmodel_files = ["/etc/hostname.json"]', "listening.wake.model_files", ["hostname.json"]),
        ("[listening.wake]\nprobability_cutoff = 1.5", "listening.wake.probability_cutoff", ["1.5"]),
        ("[listening.noise]\nsuppression = 5", "listening.noise.suppression", ["5", "0 to 4"]),
        ("[listening.noise]\nauto_gain_dbfs = 40", "listening.noise.auto_gain_dbfs", ["40"]),
        ("[listening.vad]\naggressiveness = 4", "listening.vad.aggressiveness", ["4"]),
        ("[listening.vad]\nsilence_ms = 605", "listening.vad.silence_ms", ["605", "multiple of 10"]),
        ("[listening.vad]\nno_speech_timeout_s = 20.0\nmax_utterance_s = 10.0", "listening.vad.no_speech_timeout_s", ["20.0"]),
        ("[audio]\ninput_device = -1", "audio.input_device", ["-1"]),
        ("[audio]\ninput_device = true", "audio.input_device", ["True"]),
        ('[audio]\ninput_device = ""', "audio.input_device", ["empty"]),
        ("[audio]\nstall_timeout_s = 0", "audio.stall_timeout_s", ["0"]),
        ("[audio]\nreopen_backoff_s = 5.0\nreopen_backoff_max_s = 1.0", "audio.reopen_backoff_max_s", ["1.0"]),
        ("[buttons]\npush_to_talk_pin = 17\nmute_pin = 17", "buttons.mute_pin", ["17", "push_to_talk_pin"]),
        ("[buttons]\nmute_pin = 99", "buttons.mute_pin", ["99"]),
        ("[buttons]\nmute_pin = 2.5", "buttons.mute_pin", ["2.5"]),
    ],
)
def test_broken_listening_config_names_key_and_value(text, key, words):
    with pytest.raises(ConfigError) as err:
        load(text)
    message = str(err.value)
    assert key in message
    for w in words:
        assert w in message
    assert "\n" not in message


def test_check_works_without_the_loader():
    with pytest.raises(ConfigError, match="listening.wake.words.*hey_siri"):
        WakeConfig(words=("hey_siri",)).check()
    AudioConfig().check()
    ListeningConfig().vad.check()
    ButtonsConfig(push_to_talk_pin=17, mute_pin=27).check()


def test_example_toml_loads_and_matches_defaults():
    from edgevoice.config.load import load_config

    from listening_helpers import ROOT

    c = load_config(ROOT / "config" / "edgevoice.toml")
    assert c.listening.wake.words == ("okay_nabu",)
    assert c.audio == AudioConfig()
