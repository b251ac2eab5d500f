"""The loop's safety nets: an unexpected error starts the conversation over, and a loop that falls
behind the microphone drops audio (logged) instead of queueing it without bound.

Both with the real Daemon in-process, on a spoken recording at real-time pace, against the emulator.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_helpers import (
    KEY,
    SPEECH,
    Events,
    Output,
    Recordings,
    Say,
    ready_replies,
    recordings,  # noqa: F401 - fixture
    write_config,
)
from edgevoice.audio.frames import FRAME_BYTES
from edgevoice.audio.wav import WavSource
from edgevoice.config.load import load_config
from edgevoice.config.secrets import ApiKey
from edgevoice.daemon import daemon as daemon_module
from edgevoice.daemon.daemon import Daemon
from edgevoice.daemon.sessions import session_factory
from edgevoice.daemon.telemetry import Telemetry
from edgevoice.playback.wav_speaker import WavSpeaker
from emulator_helpers import make_emulator  # noqa: F401 - fixture

WAKE, QUESTION = "okay nabu", "what time is it"
NOON, RAIN = "It is noon.", "Rain, all day."


class BrokenOnce(WavSpeaker):
    """A speaker with a bug that shows once: its first ``play`` raises."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.raised = 0

    def play(self, pcm: bytes, rate: int) -> None:
        if not self.raised:
            self.raised += 1
            raise RuntimeError("speaker bug")
        super().play(pcm, rate)


def build(tmp_path: Path, scene_path: Path, emu, speaker_class=WavSpeaker, source=None) -> Daemon:
    config = load_config(write_config(tmp_path / "edgevoice.toml", emu.url))
    speaker = speaker_class(tmp_path / "out.wav", rate=config.voicelive.output_sample_rate)
    return Daemon(config, source=source or WavSource(scene_path, realtime=True), speaker=speaker,
                  sessions=lambda cfg: session_factory(cfg, ApiKey(KEY)),
                  telemetry=Telemetry(tmp_path / "events.jsonl"), finish_with_input=True)


def test_an_internal_error_starts_the_conversation_over_and_the_next_turn_is_answered(
        recordings: Recordings, make_emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    scene = recordings.make("recovery", 11.0, Say(0.5, WAKE), Say(1.7, QUESTION), Say(6.0, WAKE), Say(7.2, QUESTION))
    ready_replies([NOON, RAIN])
    emu = make_emulator(api_key=KEY, replies=[NOON, RAIN], speech=SPEECH)
    daemon = build(tmp_path, scene.path, emu, speaker_class=BrokenOnce)
    with caplog.at_level(logging.INFO):
        code = daemon.run()
    assert code == 0
    assert daemon.speaker.raised == 1
    errors = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert len(errors) == 1 and errors[0].exc_info is not None  # the bug is logged with its traceback
    events = Events.read(tmp_path / "events.jsonl")
    assert events.first("playback_end", 2), events.summary()  # the second question is answered in full
    question_2 = scene.said[3]
    output = Output.read(tmp_path / "out.wav")
    assert any(start > question_2.end for start, _ in output.spans()), output.spans()


def test_the_same_error_again_and_again_ends_the_run(
        recordings: Recordings, make_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    scene = recordings.make("recovery-loop", 3.0)
    emu = make_emulator(api_key=KEY)
    daemon = build(tmp_path, scene.path, emu)

    def broken(frame: bytes, at: float) -> None:
        raise RuntimeError("front-end bug")

    monkeypatch.setattr(daemon, "_on_frame", broken)
    with pytest.raises(RuntimeError, match="front-end bug"):
        daemon.run()


class Flood:
    """A microphone whose frames come far faster than any loop takes them (a stuck loop, seen from it)."""

    def __init__(self, frames: int) -> None:
        self.frames_total = frames
        self.done = threading.Event()

    def frames(self) -> Iterator[bytes]:
        for _ in range(self.frames_total):
            yield bytes(FRAME_BYTES)
        self.done.set()

    def close(self) -> None:
        pass


def test_a_loop_that_falls_behind_drops_audio_beyond_three_seconds(
        recordings: Recordings, make_emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    emu = make_emulator(api_key=KEY)
    flood = Flood(daemon_module.MAX_BACKLOG_FRAMES * 3)
    daemon = build(tmp_path, Path("unused.wav"), emu, source=flood)
    daemon.capture.finish_with_input = False
    with caplog.at_level(logging.INFO):
        capture = threading.Thread(target=daemon.capture.run)  # the loop is not running: it is "stuck"
        capture.start()
        assert flood.done.wait(10)
        capture.join(10)
    # Flood has only frames(): blocks of one frame. The frames kept, and the end of input.
    assert daemon._queue.qsize() == daemon_module.MAX_BACKLOG_FRAMES + 1
    assert [r.getMessage() for r in caplog.records if "fell" in r.getMessage()] == [
        "the assistant fell 3.0 s behind the microphone; dropping audio until it catches up"]
    daemon._shutdown()
