"""End-to-end: "okay nabu", a pause, then the question; in a simulated room, chimes on.

People wait for the chime after the wake word. Whatever the pause (0 to 2.5 s), the service must
get exactly one user turn, holding the whole question and nothing of the wake word, and answer it
once: with the shipped example config (service-side turn detection, client echo reference) and
with device endpointing. Every run is the real ``edgevoice run --input-wav ... --room-echo`` against
the emulator; the microphone also hears the speaker (chimes, replies) 20 dB down, 40 ms later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from daemon_helpers import (
    RATE,
    BackgroundRun,
    Recordings,
    Run,
    Say,
    Scenario,
    recordings,  # noqa: F401 - fixture
)

WAKE = "okay nabu"  # 0.81 s of espeak-ng speech
QUESTION = "what time does the cafe close"
PAUSES = (0.0, 0.4, 1.1, 2.5)
MODES = ("shipped", "device")
ROOM = ("--room-echo", "-20@40")
BYTES_PER_S = 2 * RATE


def committed_turns(run: Run) -> int:
    """User turns the service received (committed by the server's VAD or by the device)."""
    return sum(s.server_events.count("input_audio_buffer.committed") for s in run.sessions)


def heard_seconds(run: Run) -> list[float]:
    """What the emulator says it heard in each answered turn ("I heard 1.2 seconds of speech.")."""
    return [float(m.group(1)) for r in run.events.named("reply_text")
            if (m := re.search(r"I heard ([0-9.]+) seconds of speech", r["text"]))]


def scenario(rec: Recordings, mode: str, pause: float) -> Scenario:
    wake_end = 0.5 + 0.81
    scene = rec.make(f"pause-{pause}", wake_end + pause + 4.5, Say(0.5, WAKE), Say(round(wake_end + pause, 2), QUESTION))
    if mode == "shipped":
        return Scenario(scene, shipped=True, argv=ROOM)
    return Scenario(scene, argv=ROOM, tables={"assistant": {"chimes": True, "follow_up_s": 1.0}})


@pytest.fixture(scope="module")
def runs(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, float], BackgroundRun]]:  # noqa: F811
    base = tmp_path_factory.mktemp("turn-taking")
    started = {}
    try:
        for mode in MODES:
            for pause in PAUSES:
                name = f"{mode}-{pause}"
                started[(mode, pause)] = BackgroundRun(name, scenario(recordings, mode, pause), base / name)
        yield started
    finally:
        for background in started.values():
            background.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pause", PAUSES)
def test_a_pause_after_the_wake_word_gives_one_turn_with_the_whole_question(runs, mode, pause):
    run = runs[(mode, pause)].result()
    assert run.code == 0, run.explain()
    scene = run.scene
    question = scene.utterance(QUESTION)
    # Exactly one user turn, none that the person did not say (the wake word's tail, the chime).
    assert committed_turns(run) == 1, run.explain()
    assert not run.events.named("barge_in"), run.explain()
    (session,) = run.sessions
    assert [r["status"] for r in session.responses] == ["completed"], run.explain()
    # It holds the whole question: the emulator heard about as much speech as the question has.
    (heard,) = heard_seconds(run)
    assert heard >= 0.8 * (question.end - question.start), run.explain()
    # The reply came after the question, once.
    assert [r["turn"] for r in run.events.named("reply_audio_first")] == [1]
    ((start, _end),) = [span for span in run.output.spans(gap_s=0.5) if span[1] - span[0] > 0.3]  # chimes are shorter
    assert start > question.end
    if mode == "device":
        events = run.events
        streamed = session.audio_bytes / BYTES_PER_S
        # Nothing from before the wake word's pre-roll, and no more than the words and the silence that
        # ended them.
        assert streamed <= events.first("commit", 1)["t"] - events.first("wake", 1)["t"] + 0.35, run.explain()
        if pause > 0.6:  # longer than the VAD's silence: the words start anew after the wake word
            # What was streamed starts in the quiet after the wake word (at most the 300 ms pre-roll
            # before the words) and ends with the commit.
            spoken = events.first("commit", 1)["t"] - events.first("speech_start", 1)["t"]
            assert spoken - 0.05 <= streamed <= spoken + 0.35, run.explain()
