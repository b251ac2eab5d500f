"""Wake words: the same probabilities as pymicro-wakeword, several models on shared features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pymicro_wakeword
import pytest
from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

from edgevoice.listening.wake import WakeWordDetector, WakeWordError, load_model

from listening_helpers import frames_of, pcm16, scene, tts

MODELS_DIR = Path(pymicro_wakeword.__file__).parent / "models"


@pytest.fixture(scope="module")
def speech():
    """Every built-in wake word once, plus ordinary speech, with pauses."""
    x = scene(
        0.5, tts("okay nabu"), 1.0, tts("alexa"), 1.0, tts("hey mycroft", "en-gb"), 1.0,
        tts("hey jarvis", "en-us+f4"), 1.0, tts("the garden is lovely in the morning"), 1.0,
    )
    return frames_of(pcm16(x))


def library_probabilities(names, frames):
    """What pymicro-wakeword's own API gives for each inference."""
    models = [MicroWakeWord.from_builtin(Model(n)) for n in names]
    features = MicroWakeWordFeatures()
    out = {n: [] for n in names}
    for frame in frames:
        for f in features.process_streaming(frame):
            for n, m in zip(names, models):
                p = m.process_streaming_prob(f)
                if not m._features:  # an inference just ran
                    out[n].append(p)
    return out


def detector_probabilities(det, frames):
    out = {n: [] for n in det.names}
    for i, frame in enumerate(frames):
        det.process(frame, i * 0.01)
        for g in det._groups:
            if g.filled == 0 and i >= 2:
                for m in g.models:
                    out[m.name].append(det.last_probabilities[m.name])
    return out


def test_probabilities_equal_the_library_for_every_builtin_model(speech):
    names = [m.value for m in Model]
    ours = detector_probabilities(WakeWordDetector.load(names), speech)
    theirs = library_probabilities(names, speech)
    for n in names:
        assert len(ours[n]) == len(theirs[n]) > 100
        assert np.array_equal(np.array(ours[n]), np.array(theirs[n])), n


def test_each_wake_word_is_found_by_its_own_model(speech):
    det = WakeWordDetector.load(["okay_nabu", "alexa", "hey_mycroft"])
    found = []
    for i, frame in enumerate(speech):
        found += det.process(frame, (i + 1) * 0.01) or []
    assert [d.name for d in found] == ["okay_nabu", "alexa", "hey_mycroft"]
    assert all(d.probability > 0.85 for d in found)
    assert found[0].t < found[1].t < found[2].t


def test_refractory_time_suppresses_repeats():
    x = scene(0.3, tts("okay nabu"), 0.2, tts("okay nabu"), 1.5, tts("okay nabu"), 1.0)
    frames = frames_of(pcm16(x))

    def detections(refractory):
        det = WakeWordDetector.load(["okay_nabu"], refractory_s=refractory)
        return [d.t for i, f in enumerate(frames) for d in det.process(f, (i + 1) * 0.01) or []]

    assert len(detections(0.0)) >= 3
    assert len(detections(3.0)) == 2  # the second, 0.8 s after the first, is swallowed


def test_cutoff_override():
    frames = frames_of(pcm16(scene(0.3, tts("okay nabu"), 1.0)))
    strict = WakeWordDetector.load(["okay_nabu"], probability_cutoff=0.99999)
    assert not any(strict.process(f, i * 0.01) for i, f in enumerate(frames))
    assert strict.models[0].cutoff == 0.99999
    assert WakeWordDetector.load(["okay_nabu"]).models[0].cutoff == 0.85  # the model's own


def test_custom_model_file(tmp_path):
    shutil.copy(MODELS_DIR / "okay_nabu.tflite", tmp_path / "kiosk_word.tflite")
    config = json.loads((MODELS_DIR / "okay_nabu.json").read_text())
    config["model"] = "kiosk_word.tflite"
    (tmp_path / "kiosk_word.json").write_text(json.dumps(config))
    det = WakeWordDetector.load([tmp_path / "kiosk_word.json", "alexa"])
    assert det.names == ["kiosk_word", "alexa"]
    frames = frames_of(pcm16(scene(0.3, tts("okay nabu"), 1.0)))
    found = [d.name for i, f in enumerate(frames) for d in det.process(f, i * 0.01) or []]
    assert found == ["kiosk_word"]


def test_bad_models_are_clear_errors(tmp_path):
    with pytest.raises(WakeWordError, match="hey_siri.*neither a built-in wake word"):
        load_model("hey_siri")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(WakeWordError, match="cannot load wake word model .*broken.json.*not valid JSON"):
        load_model(tmp_path / "broken.json")
    good = {"model": "missing.tflite", "wake_word": "x", "micro": {"probability_cutoff": 0.5, "sliding_window_size": 5}}
    (tmp_path / "nomodel.json").write_text(json.dumps(good))
    with pytest.raises(WakeWordError, match="missing.tflite"):  # TFLite itself would crash the process here
        WakeWordDetector.load([tmp_path / "nomodel.json"])
    (tmp_path / "missing.tflite").write_bytes(b"definitely not a model")
    with pytest.raises(WakeWordError, match="not a TensorFlow Lite model"):
        WakeWordDetector.load([tmp_path / "nomodel.json"])
    (tmp_path / "nokeys.json").write_text(json.dumps({"model": "x.tflite"}))
    with pytest.raises(WakeWordError, match="not a microWakeWord model file"):
        load_model(tmp_path / "nokeys.json")
    with pytest.raises(WakeWordError, match="share a name"):
        WakeWordDetector.load(["alexa", "alexa"])


def test_reset_forgets_what_was_heard():
    frames = frames_of(pcm16(scene(0.3, tts("okay nabu"), 1.0)))
    det = WakeWordDetector.load(["okay_nabu"])
    first = [d.probability for i, f in enumerate(frames) for d in det.process(f, i * 0.01) or []]
    det.reset()
    again = [d.probability for i, f in enumerate(frames) for d in det.process(f, 100 + i * 0.01) or []]
    assert first == again  # same audio after a reset: the very same result
