"""The echo guard: while a reply plays, the device's own voice coming back through the microphone
does not interrupt it, and a user talking over it still does.

The unit tests feed the pure guard levels and VAD verdicts. The end-to-end test runs the real
daemon in-process against the emulator, with a microphone in a simulated room: it hears the
recording plus what the speaker actually played, a little later and quieter (an acoustic loop).
"""

from __future__ import annotations

import math
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from daemon_helpers import (
    KEY,
    RATE,
    SPEECH,
    Events,
    Output,
    Say,
    read_wav,
    ready_replies,
    recordings,  # noqa: F401 - fixture
    reply_seconds,
    write_config,
)
from edgevoice.audio.frames import FRAME_BYTES, FRAME_SAMPLES, SourceStatus
from edgevoice.config.assistant import AssistantConfig
from edgevoice.config.errors import ConfigError
from edgevoice.config.load import build, load_config
from edgevoice.config.secrets import ApiKey
from edgevoice.daemon.daemon import Daemon
from edgevoice.daemon.sessions import session_factory
from edgevoice.daemon.telemetry import Telemetry
from edgevoice.listening.echo import EchoGuard, dbfs, power_from_dbfs, power_of
from edgevoice.playback.wav_speaker import WavSpeaker
from emulator_helpers import make_emulator  # noqa: F401 - fixture

REPLY_DB = -20.0  # a reply playing at -20 dBFS


def feed(guard: EchoGuard, frames: int, *, mic_db: float, voiced: bool = True, played_db: float = REPLY_DB) -> list[bool]:
    """``frames`` frames of the same levels; what ``barge_in()`` said after each."""
    said = []
    for _ in range(frames):
        guard.update(power_from_dbfs(mic_db), voiced, power_from_dbfs(played_db))
        said.append(guard.barge_in())
    return said


# --- the guard on its own ---------------------------------------------------------------------


def test_levels_of_pcm():
    assert power_of(b"") == 0.0 and dbfs(0.0) == -math.inf
    full = np.full(160, 32767, np.int16).tobytes()
    assert dbfs(power_of(full)) == pytest.approx(0.0, abs=0.01)
    tone = (np.sin(np.arange(1600) * 2 * np.pi * 440 / RATE) * 0.1 * 32768).astype(np.int16)
    assert dbfs(power_of(tone)) == pytest.approx(-23.0, abs=0.1)  # a sine at 0.1: -20 dB peak, -3 dB RMS
    assert power_from_dbfs(dbfs(0.25)) == pytest.approx(0.25)


def test_the_devices_own_echo_is_not_barge_in():
    guard = EchoGuard(min_speech_ms=80, coupling_db=-20, margin_db=6)
    # The microphone hears the reply 20 dB down, and even 5 dB louder than that: still echo.
    assert not any(feed(guard, 300, mic_db=REPLY_DB - 20))
    assert not any(feed(guard, 300, mic_db=REPLY_DB - 15))
    # A louder reply raises the bar with it.
    assert not any(feed(guard, 300, mic_db=-10 - 15, played_db=-10))


def test_loud_sustained_speech_over_the_reply_is_barge_in():
    guard = EchoGuard(min_speech_ms=80, coupling_db=-20, margin_db=6)
    feed(guard, 50, mic_db=REPLY_DB - 20)  # echo first
    said = feed(guard, 20, mic_db=REPLY_DB - 8)  # the user, 6 dB above the expected echo + margin
    # Not before half the window is speech louder than the echo may be, then on every frame.
    assert said.index(True) == 3 and all(said[3:])
    assert guard.mic_dbfs > guard.threshold_dbfs


def test_short_loud_blips_are_not_barge_in():
    guard = EchoGuard(min_speech_ms=80, coupling_db=-20, margin_db=6)
    for _ in range(10):  # a knock or a click: 40 ms voiced, then quiet
        assert not any(feed(guard, 4, mic_db=-5.0))
        assert not any(feed(guard, 20, mic_db=-60.0, voiced=False))
    # Loud but never speech (the VAD says no): not barge-in either.
    assert not any(feed(guard, 100, mic_db=-5.0, voiced=False))


def test_speech_with_short_gaps_still_counts_and_the_window_sets_the_wait():
    guard = EchoGuard(min_speech_ms=200, coupling_db=-20, margin_db=6)
    said = []
    for _ in range(5):  # 180 ms voiced, 20 ms unvoiced (a plosive), 90% voiced
        said += feed(guard, 18, mic_db=-20.0)
        said += feed(guard, 2, mic_db=-20.0, voiced=False)
    assert not any(said[:19]) and any(said)


def test_with_nothing_playing_any_sustained_speech_counts():
    guard = EchoGuard()
    assert feed(guard, 8, mic_db=-55.0, played_db=-math.inf)[-1]


def test_the_coupling_and_margin_set_the_bar():
    quiet_room = EchoGuard(coupling_db=-40, margin_db=6)  # the microphone barely hears the speaker
    loud_box = EchoGuard(coupling_db=0, margin_db=6)  # a speaker right next to the microphone
    assert feed(quiet_room, 10, mic_db=REPLY_DB - 30)[-1]
    assert not any(feed(loud_box, 100, mic_db=REPLY_DB + 3))
    assert feed(loud_box, 10, mic_db=REPLY_DB + 7)[-1]
    with pytest.raises(ValueError):
        EchoGuard(min_speech_ms=5)


def test_config_keys_defaults_and_ranges():
    cfg = build(AssistantConfig, {}, "assistant")
    assert (cfg.barge_in_min_speech_ms, cfg.echo_coupling_db, cfg.barge_in_margin_db) == (80, -20.0, 6.0)
    guard = EchoGuard.from_config(build(AssistantConfig, tomllib.loads(
        "barge_in_min_speech_ms = 200\necho_coupling_db = -6\nbarge_in_margin_db = 3"), "assistant"))
    assert (guard.frames, guard.coupling_db, guard.margin_db) == (20, -6.0, 3.0)
    for bad in ("barge_in_min_speech_ms = 0", "echo_coupling_db = 100", "barge_in_margin_db = -1"):
        with pytest.raises(ConfigError, match=bad.split()[0]):
            build(AssistantConfig, tomllib.loads(bad), "assistant")


def test_the_speaker_reports_the_level_it_plays(tmp_path):
    with WavSpeaker(tmp_path / "out.wav") as speaker:
        assert speaker.level == 0.0
        tone = (np.sin(np.arange(RATE // 2) * 2 * np.pi * 440 / RATE) * 0.1 * 32768).astype(np.int16)
        speaker.play(tone.tobytes(), RATE)
        speaker.finish()
        speaker.advance_to(0.3)
        assert dbfs(speaker.level) == pytest.approx(-23.0, abs=0.2)
        speaker.advance_to(0.6)  # the tone ended at 0.5 s: its echo may still be in the room
        assert dbfs(speaker.level) == pytest.approx(-23.0, abs=0.2)
        speaker.advance_to(0.75)  # 250 ms of silence: nothing is coming back any more
        assert speaker.level == 0.0
        speaker.volume = 0.5
        speaker.play(tone.tobytes(), RATE)
        speaker.advance_to(1.0)
        assert dbfs(speaker.level) == pytest.approx(-29.0, abs=0.2)  # what is played, after the volume


# --- end to end: the daemon in a room where the microphone hears the speaker --------------------

WAKE, WEATHER, STOP = "okay nabu", "what is the weather", "stop, tell me a joke"
LONG = ("Here is the whole forecast for the week: tomorrow will be sunny in the morning and cloudy in "
        "the afternoon, with a little rain in the evening.")
NO = "No."
ECHO_DB = -17.0  # the room: 3 dB louder than the default coupling (-20), inside the 6 dB margin
ECHO_DELAY_S = 0.04  # output buffering + the way through the air + capture buffering


class Room:
    """A microphone next to the speaker: the recording plus what the speaker played, ``delay_s`` later
    and ``echo_db`` quieter. A frame is heard only once the speaker has played what echoes in it."""

    def __init__(self, recording: Path, *, echo_db: float, delay_s: float = ECHO_DELAY_S) -> None:
        _, self.recording = read_wav(recording)
        self.gain = 10 ** (echo_db / 20)
        self.delay = int(round(delay_s * RATE))
        assert self.delay >= 2 * FRAME_SAMPLES, "the daemon plays a frame after it hears one: leave it time"
        self.played = np.zeros(len(self.recording) + 60 * RATE, np.float32)
        self.rendered = 0
        self.echoed = -math.inf  # the loudest echo put into the microphone (dBFS of a frame), for messages
        self.status = SourceStatus("listening", device="room")
        self._changed = threading.Condition()
        self._closed = False

    def heard(self, samples: np.ndarray, position: int) -> None:
        """The speaker rendered ``samples`` at output ``position`` (its thread)."""
        with self._changed:
            end = min(position + len(samples), len(self.played))
            self.played[position:end] = samples[: end - position] / 32768.0
            self.rendered = max(self.rendered, end)
            self._changed.notify_all()

    def frames(self) -> Iterator[bytes]:
        start = time.monotonic()
        for n in range(len(self.recording) // FRAME_SAMPLES):
            wait = start + n * FRAME_SAMPLES / RATE - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            a, b = n * FRAME_SAMPLES, (n + 1) * FRAME_SAMPLES
            with self._changed:
                self._changed.wait_for(lambda: self._closed or self.rendered >= b - self.delay, timeout=10)
                if self._closed:
                    return
                echo = self.played[max(0, a - self.delay):b - self.delay] if b > self.delay else np.zeros(0)
            mic = self.recording[a:b].copy()
            mic[FRAME_SAMPLES - len(echo):] += echo * self.gain
            pcm = np.clip(np.round(mic * 32768), -32768, 32767).astype("<i2").tobytes()
            if len(echo):
                self.echoed = max(self.echoed, dbfs(power_of((echo * self.gain * 32768).astype("<i2"))))
            assert len(pcm) == FRAME_BYTES
            yield pcm

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class RoomSpeaker(WavSpeaker):
    """A WAV speaker whose sound also goes into the room."""

    def __init__(self, path: Path, room: Room) -> None:
        super().__init__(path, rate=RATE)
        self.room = room

    def _render_block(self, frames, position):
        block = super()._render_block(frames, position)
        self.room.heard(block.samples, position)
        return block


def converse_in_room(scene, emu, directory: Path, assistant: dict, vad: dict | None = None
                     ) -> tuple[Events, Output, Room, list[int]]:
    """One in-process conversation on ``scene`` in a room, against ``emu`` ([listening.vad] changes: ``vad``)."""
    directory.mkdir()
    tables = {"assistant": assistant, "listening.vad": vad or {}}
    config = load_config(write_config(directory / "edgevoice.toml", emu.url, tables=tables))
    room = Room(scene.path, echo_db=ECHO_DB)
    speaker = RoomSpeaker(directory / "out.wav", room)
    telemetry = Telemetry(directory / "events.jsonl")
    daemon = Daemon(config, source=room, speaker=speaker, sessions=lambda cfg: session_factory(cfg, ApiKey(KEY)),
                    telemetry=telemetry, finish_with_input=True, settle_timeout_s=30)
    codes = [daemon.run()]
    speaker.close()
    telemetry.close()
    return Events.read(directory / "events.jsonl"), Output.read(directory / "out.wav"), room, codes


def reply_span(output: Output, spoken_at: float) -> tuple[float, float]:
    """Where the reply sounded, from its start to its last sound begun before the user spoke: a pause
    in it (its audio came late on a busy machine and the speaker ran dry) is not its end."""
    spans = [span for span in output.spans() if span[0] < spoken_at]
    return spans[0][0], spans[-1][1]


def test_the_echo_of_the_reply_does_not_interrupt_it_but_the_user_still_does(recordings, make_emulator,  # noqa: F811
                                                                             tmp_path):
    interrupt_at = 6.3  # the reply starts about 3.3 s in: 3 s of it echo alone before the user talks
    scene = recordings.make("echo-room", 10.5, Say(0.5, WAKE), Say(1.6, WEATHER), Say(interrupt_at, STOP))
    ready_replies([LONG, NO])
    quick = {"follow_up_s": 1.0}
    # The same room twice: with the defaults, and with a guard told the microphone barely hears the
    # speaker (so the echo beats it), which shows the echo is loud enough for the VAD to take for speech
    # (near-field listening off there: the echo is far below the visitor, which alone would keep it out).
    runs: dict[str, tuple] = {}
    threads = []
    for name, assistant, vad in (("guarded", quick, {}),
                                 ("deafened", {**quick, "echo_coupling_db": -60.0}, {"near_field_margin_db": 0.0})):
        emu = make_emulator(api_key=KEY, replies=[LONG, NO], speech=SPEECH, pacing="realtime")

        def run(name=name, assistant=assistant, vad=vad, emu=emu) -> None:
            runs[name] = converse_in_room(scene, emu, tmp_path / name, assistant, vad)

        threads.append(threading.Thread(target=run, name=name))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert set(runs) == {"guarded", "deafened"}
    stop = scene.utterance(STOP)

    # Guarded: the reply played over its own echo until the user spoke; their speech interrupted it.
    events, output, room, codes = runs["guarded"]
    assert codes == [0]
    assert room.echoed > -45.0, "the room put no audible echo into the microphone"
    (barge,) = events.named("barge_in")
    assert barge["turn"] == 2 and barge["trigger"] == "vad", events.summary()
    reply_start, reply_end = reply_span(output, stop.start)
    assert reply_start < stop.start - 2.5, "the reply did not play long over its echo before the user spoke"
    assert stop.start <= reply_end <= stop.start + 0.3, f"the reply stopped at {reply_end:.2f} s, the user spoke at {stop.start:.2f} s"
    assert reply_end - reply_start < reply_seconds(LONG) - 1.0
    in_order = [events.records.index(events.first(name, 2)) for name in ("barge_in", "commit", "reply_audio_first")]
    assert in_order == sorted(in_order)

    # Deafened: the echo interrupted the reply long before anyone spoke.
    events, output, room, codes = runs["deafened"]
    assert codes == [0]
    assert events.named("barge_in") and events.first("barge_in")["trigger"] == "vad", events.summary()
    reply_start, reply_end = reply_span(output, stop.start)
    assert reply_end < stop.start - 1.0, "the echo did not interrupt the reply in a room the guard thinks is quiet"


def test_a_frame_whose_level_was_not_worked_out_counts_as_loud_only_over_silence():
    """The daemon skips the level of frames nothing depends on (unvoiced, or the device silent)."""
    over_silence, over_a_reply = EchoGuard(min_speech_ms=80), EchoGuard(min_speech_ms=80)
    for _ in range(over_silence.frames):
        over_silence.update(None, True, 0.0)
        over_a_reply.update(None, True, power_from_dbfs(-20.0))
    assert over_silence.barge_in() and not over_a_reply.barge_in()
    assert over_silence.mic_dbfs == -math.inf  # nothing measured: the log says so, not a made-up level


def test_hearing_a_frame_weighs_its_level_against_the_echo_only_over_the_device_s_sound():
    loud = (np.full(160, 0.3 * 32767)).astype("<i2").tobytes()  # about -10 dBFS
    quiet = (np.full(160, 0.001 * 32767)).astype("<i2").tobytes()  # about -60 dBFS
    over_reply, quiet_over_reply = EchoGuard(min_speech_ms=80), EchoGuard(min_speech_ms=80)
    for _ in range(over_reply.frames):
        over_reply.hear(loud, True, power_from_dbfs(REPLY_DB))
        quiet_over_reply.hear(quiet, True, power_from_dbfs(REPLY_DB))
    assert over_reply.barge_in() and not quiet_over_reply.barge_in()
    assert over_reply.mic_dbfs == pytest.approx(dbfs(power_of(loud)))
