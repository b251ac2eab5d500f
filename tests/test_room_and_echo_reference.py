"""The simulated room, the speaker's echo reference, and the emulator's client-reference echo cancellation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgevoice.audio.room import EchoPath, PlayedHistory, SimulatedRoom
from edgevoice.audio.speech import Speech
from edgevoice.voicelive.emulator.echo import EchoCanceller
from edgevoice.voicelive.emulator.errors import ClientError
from edgevoice.voicelive.emulator.session_settings import apply_update, default_session, input_channels
from edgevoice.voicelive.emulator.turn_detector import TurnDetector, VoiceActivity
from listening_helpers import tts

RATE = 16000
REPLY = ("Here is the whole forecast for the week: tomorrow will be sunny in the morning and cloudy in "
         "the afternoon, with a little rain in the evening.")


def db(x: np.ndarray) -> float:
    x = x.astype(np.float64) / 32768
    return 10 * np.log10(np.mean(x**2) + 1e-12)


@pytest.fixture(scope="module")
def reply() -> np.ndarray:
    pcm = np.frombuffer(Speech().render(REPLY, RATE, "alloy"), "<i2")
    return pcm[: len(pcm) // 160 * 160]


def hear(room: SimulatedRoom, person: np.ndarray) -> np.ndarray:
    """What the room's microphone records, frame by frame, with ``person`` talking."""
    frames = [room.hear(person[i : i + 160].astype("<i2").tobytes(), i) for i in range(0, len(person), 160)]
    return np.frombuffer(b"".join(frames), "<i2")


# --- the echo path and the room --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "gain", "delay"), [("-12@40", -12, 40), ("-20", -20, 40), (" -6 @ 15.5", -6, 15.5),
                                                      ("3@0", 3, 0)])
def test_echo_path_is_read_as_db_at_delay(text, gain, delay):
    assert EchoPath.parse(text) == EchoPath(gain, delay)


@pytest.mark.parametrize(("text", "says"), [("loud", "not DB[@DELAY_MS]"), ("-12@", "not DB[@DELAY_MS]"),
                                            ("-90", "outside -80..20 dB"), ("-12@2000", "outside 0..1000 ms")])
def test_a_bad_echo_path_says_what_is_wrong(text, says):
    with pytest.raises(ValueError, match=says.replace(".", r"\.").replace("[", r"\[")):
        EchoPath.parse(text)


def test_the_impulse_response_carries_the_gain_after_the_delay():
    h = EchoPath(-12, 40).impulse_response()
    assert not np.any(h[: 40 * 16])  # nothing before the delay
    assert h[40 * 16] > 0
    assert 10 * np.log10(np.sum(h**2)) == pytest.approx(-12, abs=0.01)


def test_the_room_hears_the_speaker_at_the_gain_and_delay(reply):
    played = PlayedHistory()
    played.add(reply, RATE, 0)
    mic = hear(SimulatedRoom(EchoPath(-12, 40), played), np.zeros(len(reply)))
    assert not np.any(mic[: 40 * 16])  # the echo comes 40 ms after the sound
    assert db(mic) == pytest.approx(db(reply) - 12, abs=1.5)
    # The person is heard as recorded where the speaker is silent.
    quiet = PlayedHistory()
    person = (np.sin(np.arange(3200) / 5) * 3000).astype(np.int16)
    assert np.array_equal(hear(SimulatedRoom(EchoPath(-12, 40), quiet), person), person)


def test_played_history_places_output_on_the_capture_clock():
    history = PlayedHistory(seconds=1.0)
    history.add(np.full(160, 7, np.int16), RATE, 320)  # a new stretch: silence before it
    assert history.end == 480
    assert not np.any(history.span(0, 320)) and np.all(history.span(320, 160) == 7)
    assert not np.any(history.span(480, 160))  # not played (yet)
    history.add(np.full(480, 9, np.int16), 24000, 480)  # 24 kHz output, resampled and continuing
    assert 480 + 300 <= history.end <= 480 + 320
    history.add(np.full(32000, 1, np.int16), RATE, history.end)  # more than it keeps: the oldest goes
    assert not np.any(history.span(0, 160))


# --- the emulator: client-reference echo cancellation ------------------------------------------------


def cancel(mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
    canceller = EchoCanceller(RATE)
    return np.concatenate([canceller.process(mic[i : i + 480], ref[i : i + 480]) for i in range(0, len(mic), 480)])


def turns(audio: np.ndarray) -> list:
    return TurnDetector().feed(VoiceActivity(RATE).feed(audio))


@pytest.mark.parametrize("echo_db", [-20, -12, -6])
def test_the_reference_is_removed_before_the_vad(reply, echo_db):
    played = PlayedHistory()
    played.add(reply, RATE, 0)
    mic = hear(SimulatedRoom(EchoPath(echo_db, 40), played, noise_dbfs=-60), np.zeros(len(reply)))
    assert turns(mic), "the echo alone is speech to the VAD"
    cleaned = cancel(mic, reply)
    assert len(cleaned) == len(mic)
    assert turns(cleaned) == []  # the reply's echo never starts a turn
    assert db(cleaned) < db(mic) - 15


def test_the_person_talking_over_the_echo_is_still_heard(reply):
    played = PlayedHistory()
    played.add(reply, RATE, 0)
    person = np.zeros(len(reply))
    words = tts("stop, tell me a joke")
    words = words / np.sqrt(np.mean(words**2)) * 10 ** (-16 / 20) * 32768
    at = 3 * RATE
    person[at : at + len(words)] = words[: len(reply) - at]
    cleaned = cancel(hear(SimulatedRoom(EchoPath(-12, 40), played, noise_dbfs=-60), person), reply)
    started = [t for t in turns(cleaned) if type(t).__name__ == "VadSpeechStarted"]
    assert started and 2600 <= started[0].audio_start_ms <= 3000  # prefix padding (400 ms) before the words


def test_with_no_echo_in_the_room_nothing_is_added(reply):
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(len(reply)) * 32768 * 10 ** (-60 / 20)).astype(np.int16)
    cleaned = cancel(noise, reply)
    assert turns(cleaned) == [] and db(cleaned) == pytest.approx(db(noise), abs=1.0)


def test_the_session_takes_a_client_reference_on_two_channels():
    base = default_session("gpt-realtime", "sess_1", 0)
    client = {"type": "server_echo_cancellation", "reference_source": "client", "channels": 2}
    session = apply_update(base, {"input_audio_echo_cancellation": client}, audio_received=False)
    assert input_channels(session) == 2 and input_channels(base) == 1
    with pytest.raises(ClientError, match="reference_source"):
        apply_update(base, {"input_audio_echo_cancellation": {**client, "reference_source": "server"}},
                     audio_received=False)
    with pytest.raises(ClientError, match="pcm16"):
        apply_update(base, {"input_audio_format": "g711_ulaw", "input_audio_echo_cancellation": client},
                     audio_received=False)
    with pytest.raises(ClientError, match="after audio"):
        apply_update(base, {"input_audio_echo_cancellation": client}, audio_received=True)


# --- the command line --------------------------------------------------------------------------------


def test_room_echo_is_for_recordings_and_must_be_db_at_delay(tmp_path):
    run = [sys.executable, "-m", "edgevoice", "run"]
    bad = subprocess.run([*run, "--room-echo=loud"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not DB[@DELAY_MS]" in bad.stderr
    config = tmp_path / "edgevoice.toml"
    config.write_text('[voicelive]\nendpoint = "http://127.0.0.1:9"\n')
    no_wav = subprocess.run([*run, "--config", str(config), "--room-echo", "-12@40"], capture_output=True, text=True,
                            timeout=60, env={"AZURE_VOICELIVE_API_KEY": "k", "PATH": "/usr/bin:/bin"})
    assert no_wav.returncode == 64 and "give --input-wav too" in no_wav.stderr
