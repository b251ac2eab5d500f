"""The emulator's small pure parts: G.711, VAD, speech rendering, handshake checks, fault plans."""

from __future__ import annotations

import json

import numpy as np
import pytest
from emulator_helpers import silence, speech_pcm

from edgevoice.config.errors import ConfigError
from edgevoice.voicelive.emulator import formats
from edgevoice.voicelive.emulator.faults import FaultPlan, Scenario, load_scenario
from edgevoice.voicelive.emulator.handshake import Accepted, Rejection, bearer_tokens, check_request, fault_rejection
from edgevoice.audio.speech import Speech, chirp, parse_wav
from edgevoice.voicelive.emulator.turn_detector import VadSpeechStarted, VadSpeechStopped, TurnDetector, VoiceActivity

# --- G.711 -----------------------------------------------------------------------------------


def test_g711_known_codes():
    # ITU-T G.711 reference values: silence and full scale
    assert formats.from_pcm16("g711_ulaw", np.array([0, 32767, -32768], dtype=np.int16)) == bytes([0xFF, 0x80, 0x00])
    assert formats.from_pcm16("g711_alaw", np.array([0, 32767, -32768], dtype=np.int16)) == bytes([0xD5, 0xAA, 0x2A])
    assert list(formats.to_pcm16("g711_ulaw", bytes([0xFF, 0x80, 0x00]))) == [0, 32124, -32124]
    assert list(formats.to_pcm16("g711_alaw", bytes([0xD5, 0xAA, 0x2A]))) == [8, 32256, -32256]


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_g711_round_trip_is_close_and_codes_are_stable(fmt):
    x = np.linspace(-32000, 32000, 4001).astype(np.int16)
    back = formats.to_pcm16(fmt, formats.from_pcm16(fmt, x))
    assert np.all(np.abs(back.astype(int) - x) <= np.maximum(16, np.abs(x.astype(int)) // 16))
    codes = bytes(range(256))
    assert formats.from_pcm16(fmt, formats.to_pcm16(fmt, codes)) == codes or fmt == "g711_ulaw"  # ulaw has two zeros


def test_rates():
    assert formats.output_rate("pcm16") == 24000 and formats.output_rate("pcm16_16000hz") == 16000
    assert formats.input_rate("g711_alaw", 24000) == 8000 and formats.input_rate("pcm16", 16000) == 16000


# --- VAD -------------------------------------------------------------------------------------


def test_turn_detector_on_frame_decisions():
    detector = TurnDetector(prefix_padding_ms=60, silence_duration_ms=90, min_speech_ms=90)
    frames = [False] * 4 + [True, False] + [True] * 5 + [False] * 2 + [True] + [False] * 3
    events = detector.feed(frames)
    # a lone voiced frame (a click) does not start speech; three in a row do (from 180 ms);
    # a 60 ms gap does not end it, 90 ms of silence after the last voiced frame (420 ms) does
    assert events == [VadSpeechStarted(audio_start_ms=180 - 60), VadSpeechStopped(audio_end_ms=510, speech_ms=420 - 180)]
    assert not detector.in_speech


def test_voice_activity_finds_espeak_speech_not_silence():
    for rate in (16000, 24000, 8000):
        vad = VoiceActivity(rate)
        assert not any(vad.feed(np.frombuffer(silence(600, rate), dtype="<i2")))
        decisions = vad.feed(np.frombuffer(speech_pcm("good morning everyone", rate), dtype="<i2"))
        assert sum(decisions) * 30 >= 500, rate


# --- speech ----------------------------------------------------------------------------------


def test_espeak_speech_is_cached_and_resampled():
    speech = Speech()
    assert speech.real
    a = speech.render("one two three", 16000)
    assert speech.render("one two three", 16000) is a  # cached
    b = speech.render("one two three", 8000)
    assert abs(len(b) * 2 - len(a)) <= 8
    samples = np.frombuffer(a, dtype="<i2")
    assert 0.5 < len(samples) / 16000 < 3 and np.abs(samples).max() > 3000
    assert speech.render("   ", 16000) == b""


def test_cache_is_bounded():
    speech = Speech(cache_size=2)
    first = speech.render("alpha", 8000)
    speech.render("beta", 8000)
    speech.render("gamma", 8000)
    assert speech.render("alpha", 8000) is not first  # evicted and rendered again
    assert speech.render("alpha", 8000) == first


def test_without_espeak_a_synthetic_chirp_of_plausible_length():
    speech = Speech(espeak=None)
    assert not speech.real
    pcm = np.frombuffer(speech.render("This is a sentence of forty characters!!", 24000), dtype="<i2")
    assert 2.0 < len(pcm) / 24000 < 3.5
    spectrum = np.abs(np.fft.rfft(pcm[:3600].astype(float)))  # the first 150 ms beep is a 440 Hz tone
    assert abs(np.argmax(spectrum) * 24000 / 3600 - 440) < 10
    assert len(chirp(10, 8000)) == 1200  # never shorter than one beep


def test_broken_espeak_falls_back_to_the_chirp(tmp_path):
    broken = tmp_path / "espeak-ng"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    pcm = Speech(espeak=str(broken)).render("hello", 16000)
    assert len(pcm) // 2 == len(chirp(5 * 65, 16000))


def test_parse_wav_rejects_garbage_and_reads_streamed_headers():
    with pytest.raises(ValueError):
        parse_wav(b"RIFF....WAVEjunk" + bytes(40))
    header = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x22\x56\x00\x00\x44\xac\x00\x00\x02\x00\x10\x00data\xff\xff\xff\xff"
    rate, samples = parse_wav(header + np.arange(5, dtype="<i2").tobytes())
    assert rate == 22050 and list(samples) == [0, 1, 2, 3, 4]


# --- handshake -------------------------------------------------------------------------------

GOOD = "/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"


@pytest.mark.parametrize(
    ("target", "keys", "bearer", "expected", "status"),
    [
        (GOOD, ["k"], [], "k", None),
        (GOOD, [], ["k"], "k", None),
        (GOOD, ["anything"], [], None, None),
        (GOOD, [], [], None, 401),  # a key is required even when any key is accepted
        (GOOD, ["wrong"], [], "k", 401),
        ("/openai/realtime?api-version=2026-07-15&model=m", ["k"], [], "k", 404),
        ("/voice-live/realtime?model=m", ["k"], [], "k", 400),
        ("/voice-live/realtime?api-version=2024-01-01&model=m", ["k"], [], "k", 400),
        ("/voice-live/realtime?api-version=2025-05-01-preview&model=", ["k"], [], "k", 400),
    ],
)
def test_check_request(target, keys, bearer, expected, status):
    verdict = check_request(target, keys, bearer, expected)
    if status is None:
        assert isinstance(verdict, Accepted)
    else:
        assert isinstance(verdict, Rejection) and verdict.status == status and verdict.message


def test_rejections_say_what_is_wrong():
    verdict = check_request("/voice-live/realtime?api-version=1999-01-01&model=m", ["k"], [], "k")
    assert "1999-01-01" in verdict.message and "2026-07-15" in verdict.message
    assert bearer_tokens(["Bearer abc", "Basic x"]) == ["abc"]
    throttled = fault_rejection(429, 7)
    assert throttled.status == 429 and ("Retry-After", "7") in throttled.headers


# --- faults and scenarios --------------------------------------------------------------------


def test_scenario_from_toml_and_json(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('pacing = "realtime"\ntranscripts = ["hi"]\nreplies = ["hello"]\n[faults]\nconnections = 2\nreject_status = 429\nretry_after_s = 3\nstall_s = 0.5\n')
    scenario = load_scenario(toml)
    assert scenario == Scenario(FaultPlan(connections=2, reject_status=429, retry_after_s=3, stall_s=0.5), ("hi",), ("hello",), "realtime")
    data = tmp_path / "s.json"
    data.write_text(json.dumps({"faults": {"drop_after_audio_deltas": 3}}))
    assert load_scenario(data).faults == FaultPlan(drop_after_audio_deltas=3)


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("[faults]\nreject_status = 404\n", "faults.reject_status"),
        ("[faults]\nexplode = true\n", "faults.explode"),
        ("[faults]\nhang_on_connect = 1\n", "faults.hang_on_connect"),
        ("[faults]\nstall_s = -1\n", "faults.stall_s"),
        ('pacing = "slow"\n', "pacing"),
        ('transcripts = "one"\n', "transcripts"),
        ("speed = 3\n", "speed"),
        ("[faults\n", ""),
    ],
)
def test_bad_scenarios_name_the_key(tmp_path, content, key):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert info.value.key == key and info.value.source == str(path)


def test_missing_scenario_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read scenario"):
        load_scenario(tmp_path / "none.toml")
