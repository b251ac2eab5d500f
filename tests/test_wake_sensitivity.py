"""Wake word sensitivity presets and ``edgevoice tune`` (issue 13), on real espeak-ng speech.

The presets' cutoffs come from measured curves (README, "Wake word sensitivity"); here: that
each preset reaches each model, that ``probability_cutoff`` still overrides them, and that
``tune`` reads a room and a speaker's samples through the run's own front-end and recommends
what the numbers say.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgevoice.bench.audio import BABBLE_LINES, BABBLE_VOICES
from edgevoice.commands.tune import peaks, recommend
from edgevoice.config.errors import ConfigError
from edgevoice.config.listening import BUILTIN_WAKE_WORDS, SENSITIVITIES, SENSITIVITY_CUTOFFS, WakeConfig
from edgevoice.config.load import parse_config
from edgevoice.listening.wake import WakeWordDetector
from listening_helpers import ROOT, pcm16, scene, tts, write_wav

#: A voice the okay_nabu model finds hard: it scores 0.70 (above "sensitive", below "default").
SOFT_VOICE = ("en-gb-scotland+f3", 140)


def test_every_preset_gives_every_built_in_model_a_cutoff_from_strict_down():
    for name in BUILTIN_WAKE_WORDS:
        cutoffs = [SENSITIVITY_CUTOFFS[s][name] for s in SENSITIVITIES]
        assert cutoffs == sorted(cutoffs, reverse=True) and len(set(cutoffs)) == 4, (name, cutoffs)
        assert all(0.3 <= c <= 0.99 for c in cutoffs)


def test_the_detector_takes_the_preset_unless_a_cutoff_is_given():
    words = BUILTIN_WAKE_WORDS
    for sensitivity in SENSITIVITIES:
        detector = WakeWordDetector.from_config(WakeConfig(words=words, sensitivity=sensitivity))
        assert {m.name: m.cutoff for m in detector.models} == SENSITIVITY_CUTOFFS[sensitivity]
        detector.close()
    detector = WakeWordDetector.from_config(WakeConfig(words=words, sensitivity="very_sensitive",
                                                       probability_cutoff=0.93))
    assert {m.cutoff for m in detector.models} == {0.93}
    detector.close()
    # "default" is each model's own cutoff, as pymicro-wakeword ships it.
    from pymicro_wakeword import MicroWakeWord, Model

    for model in Model:
        own = MicroWakeWord.from_builtin(model)
        assert SENSITIVITY_CUTOFFS["default"][model.value] == pytest.approx(own.probability_cutoff)
        own.close()


def test_the_config_names_the_presets_and_refuses_others():
    base = '[voicelive]\nendpoint = "https://x.example"\nmodel = "gpt-realtime"\n[listening.wake]\n'
    config = parse_config(base + 'sensitivity = "sensitive"\n', "<string>")
    assert config.listening.wake.sensitivity == "sensitive"
    with pytest.raises(ConfigError, match="listening.wake.sensitivity"):
        parse_config(base + 'sensitivity = "loose"\n', "<string>")


def test_a_preset_decides_whether_a_hard_voice_wakes_the_device():
    voice, speed = SOFT_VOICE
    x = scene(0.5, tts("okay nabu", voice, speed), 1.0)
    frames = [pcm16(x)[i : i + 320] for i in range(0, len(x) * 2 - 319, 320)]
    found = {}
    for sensitivity in ("default", "sensitive"):
        detector = WakeWordDetector.from_config(WakeConfig(sensitivity=sensitivity))
        found[sensitivity] = [d for i, f in enumerate(frames) for d in (detector.process(f, i * 0.01) or ())]
        detector.close()
    assert not found["default"] and [d.name for d in found["sensitive"]] == ["okay_nabu"]


# --- edgevoice tune ----------------------------------------------------------------------------


def test_recommend_picks_the_least_sensitive_preset_that_hears_the_owner_in_a_quiet_room():
    cutoffs = {s: {"w": c} for s, c in zip(SENSITIVITIES, (0.92, 0.85, 0.65, 0.5))}
    assert recommend(cutoffs, {"w": 0.3}, None)[0] == "default"
    assert recommend(cutoffs, {"w": 0.88}, None)[0] == "strict"  # the room alone passes default
    assert recommend(cutoffs, {"w": 0.97}, None)[0] is None
    assert recommend(cutoffs, {"w": 0.3}, {"w": [0.95, 0.93]})[0] == "strict"
    assert recommend(cutoffs, {"w": 0.3}, {"w": [0.95, 0.9]})[0] == "default"
    assert recommend(cutoffs, {"w": 0.3}, {"w": [0.7, 0.72, 0.9]})[0] == "sensitive"
    assert recommend(cutoffs, {"w": 0.55}, {"w": [0.55, 0.7]})[0] == "sensitive"  # very_sensitive is not safe
    assert peaks([(0.0, 0.5), (0.5, 0.9), (3.0, 0.7), (3.1, 0.8), (9.0, 0.2)], 2) == [0.9, 0.8]


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> tuple:
    """A minute of people chatting near the kiosk (no wake word) over room noise, and three
    "okay nabu" said by a voice the model finds hard."""
    directory = tmp_path_factory.mktemp("tune")
    rng = np.random.default_rng(7)
    parts: list = [0.5]
    for i in range(14):
        parts += [tts(BABBLE_LINES[i % len(BABBLE_LINES)], BABBLE_VOICES[i % len(BABBLE_VOICES)]),
                  float(rng.uniform(0.3, 1.2))]
    x = scene(*parts, level_dbfs=-30.0, floor_dbfs=-55.0)
    room_wav = write_wav(directory / "room.wav", pcm16(x))
    said = tts("okay nabu", *SOFT_VOICE)
    samples_wav = write_wav(directory / "said.wav", pcm16(scene(1.0, said, 2.0, said, 2.0, said, 1.0)))
    return room_wav, samples_wav, len(x) / 16000


def tune(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgevoice", "tune", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_tune_reads_the_room_and_recommends_default_without_samples(room):
    room_wav, _, seconds = room
    done = tune("--input-wav", str(room_wav), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["listened_s"] == pytest.approx(seconds, abs=0.02)
    assert report["room_peak"]["okay_nabu"] < 0.6
    assert report["false_accepts"]["very_sensitive"]["okay_nabu"] == 0
    assert report["recommended"] == "default" and report["config_line"] == 'sensitivity = "default"'


def test_tune_with_wake_samples_recommends_the_preset_that_hears_them(room):
    room_wav, samples_wav, _ = room
    args = ("--input-wav", str(room_wav), "--wake-samples", "3", "--samples-wav", str(samples_wav))
    report = json.loads(tune(*args, "--json").stdout)
    said = report["samples"]["okay_nabu"]
    cutoffs = {s: report["cutoffs"][s]["okay_nabu"] for s in SENSITIVITIES}
    # The hard voice scores below the default cutoff every time: the owner would not be heard.
    assert len(said) == 3 and all(0.4 < p < cutoffs["default"] for p in said), said
    hears_all = [s for s in SENSITIVITIES if all(p > cutoffs[s] for p in said)]
    assert hears_all and report["recommended"] == hears_all[0] != "default", report
    done = tune(*args)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "your samples: " + ", ".join(f"{p:.2f}" for p in said) in out, out
    assert "default         cutoff 0.85: 0 false accepts (0.0/hour), hears 0/3" in out, out
    assert out.rstrip().endswith(f'[listening.wake]\nsensitivity = "{hears_all[0]}"'), out


def test_tune_without_a_wake_word_or_with_a_missing_file_says_so(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[voicelive]\nendpoint = "https://x.example"\nmodel = "gpt-realtime"\n'
                      '[listening.wake]\nwords = []\n')
    done = tune("--config", str(config), "--input-wav", str(tmp_path / "none.wav"))
    assert done.returncode == 2 and "no wake word" in done.stderr
    done = tune("--input-wav", str(tmp_path / "none.wav"))
    assert done.returncode == 66
