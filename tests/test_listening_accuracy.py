"""Accuracy on the generated corpus (scripts/make_corpus.py): detection per noise condition, false
accepts in 30 minutes of negative speech, endpoint timing. The corpus is built on first use and
cached under tests/.corpus/<hash>/ (about 15 s to build, 170 MB); the evaluation takes ~30 s on 2 cores.

Figures (seed 1, default config) are printed with ``pytest -s``; see also
``python -m edgevoice.listening.measure tests/.corpus/<hash>``.
"""

from __future__ import annotations

import dataclasses
import statistics

import pytest

from edgevoice.config.listening import BUILTIN_WAKE_WORDS, ListeningConfig, WakeConfig
from edgevoice.listening.measure import evaluate_corpus

from listening_helpers import corpus_dir, corpus_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus():
    return corpus_dir()


@pytest.fixture(scope="module")
def report(corpus):
    result = evaluate_corpus(corpus, ListeningConfig(), jobs=2)
    print("\n" + result.summary())
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


def test_no_false_accept_in_30_minutes_of_negative_speech(report):
    assert report.negative_hours >= 0.5
    assert report.false_accepts == 0, [n.detections for n in report.negatives if n.false_accepts]


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
