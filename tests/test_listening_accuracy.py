"""Accuracy on the generated corpus (scripts/make_corpus.py): detection per noise condition, false
accepts in 2 hours of negative audio, endpoint timing. The corpus is built on first use and
cached under tests/.corpus/<hash>/ (about a minute to build, 440 MB); the evaluation takes about
two minutes on 2 cores.

Figures (seed 1, default config) are printed with ``pytest -s``; see also
``python -m edgevoice.bench.listening_accuracy tests/.corpus/<hash>``.
"""

from __future__ import annotations

import dataclasses
import statistics

import pytest

from edgevoice.bench.wake import NEAR_MISS, measure_corpus
from edgevoice.config.listening import BUILTIN_WAKE_WORDS, SENSITIVITIES, SENSITIVITY_CUTOFFS, ListeningConfig, WakeConfig
from edgevoice.bench.listening_accuracy import evaluate_corpus

from listening_helpers import corpus_dir, corpus_manifest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the corpus is made on first use


@pytest.fixture(scope="module")
def corpus():
    return corpus_dir()


@pytest.fixture(scope="module")
def report(corpus):
    result = evaluate_corpus(corpus, ListeningConfig(), jobs=2, negatives=False)
    print("\n" + result.summary())
    return result


@pytest.fixture(scope="module")
def curves(corpus):
    """okay_nabu's scores on the core clips and its score traces over the negative audio: every preset at once."""
    result = measure_corpus(corpus, ["okay_nabu"], jobs=2, positives="positives", groups=("core",))
    for preset in SENSITIVITIES:
        cutoff = SENSITIVITY_CUTOFFS[preset]["okay_nabu"]
        point, near = result.at("okay_nabu", cutoff), result.at("okay_nabu", cutoff, kinds=NEAR_MISS)
        babble = result.at("okay_nabu", cutoff, "babble", snr_db=10)
        pink = result.at("okay_nabu", cutoff, "pink", snr_db=10)
        print(f"\n{preset:15s} cutoff {cutoff:.2f}: pink 10 dB {pink.detection:.3f}, babble 10 dB {babble.detection:.3f}, "
              f"false accepts {point.per_hour:.2f}/h in {result.hours():.2f} h of everyday audio, "
              f"{near.per_hour:.1f}/h in {result.hours(NEAR_MISS):.2f} h of near misses")
    return result


def test_detection_at_10_db_snr_pink_noise(report):
    assert report.detection_rate("core", "pink", 10) >= 0.95


def test_detection_without_noise_and_at_20_db(report):
    assert report.detection_rate("core", "clean", None) >= 0.975
    assert report.detection_rate("core", "pink", 20) >= 0.975
    assert report.detection_rate("core", "babble", 20) >= 0.95


def test_babble_at_10_db_does_not_regress(report):
    # 16-talker babble at 10 dB is where the model itself struggles (measured ~70%; the issue's
    # 95% target is met for pink noise only). This guards against the front-end making it worse.
    assert report.detection_rate("core", "babble", 10) >= 0.6


def test_the_presets_trade_detection_in_babble_for_false_accepts(curves):
    # Issue 3's open figure, reported for every preset (printed with -s; README "Wake word
    # sensitivity"): more sensitive presets find more in babble and accept more falsely.
    found = [curves.at("okay_nabu", SENSITIVITY_CUTOFFS[p]["okay_nabu"], "babble", snr_db=10).detection
             for p in SENSITIVITIES]
    false = [curves.at("okay_nabu", SENSITIVITY_CUTOFFS[p]["okay_nabu"]).false_accepts for p in SENSITIVITIES]
    assert found == sorted(found) and false == sorted(false)
    assert found[-1] > found[1]


def test_no_false_accept_in_the_everyday_negative_audio_at_the_default_preset(curves):
    # Speech in many voices, TV over music, empty rooms: 1h40 of it. The near-miss files ("okay
    # now", "a cabana" ... again and again) do make okay_nabu fire: reported, not held to zero.
    assert curves.hours() + curves.hours(NEAR_MISS) >= 1.99
    default = curves.at("okay_nabu", SENSITIVITY_CUTOFFS["default"]["okay_nabu"])
    assert default.false_accepts == 0


def test_no_wake_word_detected_where_none_was_said(report):
    assert sum(c.other_detections for c in report.clips if c.noise in ("clean", "pink")) == 0


def test_endpoint_timing(report):
    manifest = {c["file"]: c for c in corpus_manifest(corpus_dir())["positives"]}
    for noise, snr in (("clean", None), ("pink", 20), ("pink", 10), ("babble", 20)):
        clips = [c for c in report.clips if c.group == "core" and c.noise == noise and c.snr_db == snr and c.detected]
        ended = [c for c in clips if c.end_reason == "silence"]
        assert len(ended) >= 0.95 * len(clips), (noise, snr)
        # detected end of speech vs where espeak's waveform really stops (its quiet tail included)
        errors = report.endpoint_errors_ms(noise, snr)
        assert statistics.median(abs(e) for e in errors) <= 150, (noise, snr)
        assert max(abs(e) for e in errors) <= 250, (noise, snr)
        # ... and the audio sent always runs past the end of the command: nothing is cut off
        assert all(c.utterance_end_s > manifest[c.file]["command_end_s"] for c in ended)


def test_the_audio_sent_includes_the_start_of_the_command(report):
    clips = [c for c in report.clips if c.group == "core" and c.noise in ("clean", "pink") and c.detected]
    assert all(c.preroll_covers_command for c in clips)


def test_several_wake_words_at_once(corpus):
    config = dataclasses.replace(ListeningConfig(), wake=WakeConfig(words=BUILTIN_WAKE_WORDS))
    result = evaluate_corpus(corpus, config, groups=("multi",), negatives=False, jobs=2)
    print("\n" + result.summary())
    assert result.detection_rate("multi", "clean", None) >= 0.85
    assert result.detection_rate("multi", "pink", 10) >= 0.85
    assert sum(c.other_detections for c in result.clips) == 0  # no model fires on another's word
