"""End-to-end in a simulated room: the device never answers its own voice, and people still interrupt it.

A long reply comes back to the microphone (``edgevoice run --room-echo DB@40``) at -20, -12 and -6 dB;
the person interrupts it ("stop, tell me a joke"), or says the wake word over it and then asks
something else. With the shipped example config (service-side turn detection, the client echo
reference the emulator removes) and with device endpointing (the echo guard, tuned to the room as
a kiosk owner would with ``echo_coupling_db``), the service must receive exactly the turns the person
said (no false turn) and every real interruption must stop the reply. In both, the owner has set
``echo_coupling_db`` to the room's echo, as they would after trying their recording with ``--room-echo``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from daemon_helpers import (
    BackgroundRun,
    Recordings,
    Run,
    Say,
    Scenario,
    recordings,  # noqa: F401 - fixture
    reply_seconds,
)

WAKE = "okay nabu"
WEATHER = "what is the weather"
STOP = "stop, tell me a joke"
OTHER = "what time does the cafe close"
LONG = ("Here is the whole forecast for the week: tomorrow will be sunny in the morning and cloudy in "
        "the afternoon, with a little rain in the evening, and the weekend stays dry and mild.")
NO = "No."
ECHOES = (-20, -12, -6)
MODES = ("shipped", "device")
LOUD_DBFS = -16.0  # a person talking over the kiosk, close to it
REPLY_AT = 3.2  # about when the long reply starts (after "what is the weather" and the endpoint)


def committed_turns(run: Run) -> int:
    return sum(s.server_events.count("input_audio_buffer.committed") for s in run.sessions)


def scenario(rec: Recordings, mode: str, echo: int, kind: str) -> Scenario:
    if kind == "barge":
        scene = rec.make("room-barge", 14.0, Say(0.5, WAKE), Say(1.6, WEATHER), Say(REPLY_AT + 3.0, STOP),
                         level_dbfs=LOUD_DBFS)
    else:  # the wake word over the reply, a pause, then another question
        scene = rec.make("room-wake", 15.0, Say(0.5, WAKE), Say(1.6, WEATHER), Say(REPLY_AT + 3.0, WAKE),
                         Say(REPLY_AT + 3.0 + 0.81 + 1.1, OTHER), level_dbfs=LOUD_DBFS)
    argv = (f"--room-echo={echo}@40", "--room-noise=-60")
    # The kiosk's owner has told it how loud its speaker comes back (what --room-echo is for).
    tables = {"assistant": {"follow_up_s": 1.0, "echo_coupling_db": float(echo)}}
    if mode == "shipped":
        return Scenario(scene, replies=(LONG, NO), pacing="realtime", shipped=True, argv=argv, tables=tables)
    tables = {"assistant": {"follow_up_s": 1.0, "chimes": True, "echo_coupling_db": float(echo)}}
    return Scenario(scene, replies=(LONG, NO), pacing="realtime", argv=argv, tables=tables)


CASES = [(mode, echo, "barge") for mode in MODES for echo in ECHOES] + [(mode, -12, "wake") for mode in MODES]


@pytest.fixture(scope="module")
def runs(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple, BackgroundRun]]:  # noqa: F811
    base = tmp_path_factory.mktemp("room-echo")
    started = {}
    try:
        for case in CASES:
            name = "-".join(map(str, case))
            started[case] = BackgroundRun(name, scenario(recordings, *case), base / name)
        yield started
    finally:
        for background in started.values():
            background.close()


def check_interrupted(run: Run, said_at: float, trigger: str | None = None) -> None:
    """The long reply was stopped soon after the person spoke over it, and the next turn answered."""
    events = run.events
    (barge,) = events.named("barge_in")
    if trigger is not None:
        assert barge["trigger"] == trigger, run.explain()
    assert not events.named("playback_end", 1), "the reply played to its end"
    (session,) = run.sessions
    assert session.responses[0]["status"] == "cancelled" and session.responses[1]["status"] == "completed"
    # The reply's sound stops within the barge-in time of the words over it (on the input's clock).
    spans = run.output.spans(gap_s=0.5)
    first = next(span for span in spans if span[1] - span[0] > 1.0)
    assert first[0] < said_at < first[1] + 0.05
    assert first[1] <= said_at + 1.0, f"the reply played on over the person: {spans}"
    assert first[1] < reply_seconds(LONG) + first[0] - 1.0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("echo", ECHOES)
def test_a_real_barge_in_over_the_echo_stops_the_reply_and_no_turn_is_false(runs, mode, echo):
    run = runs[(mode, echo, "barge")].result()
    assert run.code == 0, run.explain()
    # The person said two things (the question, the interruption); the service got exactly two turns.
    assert committed_turns(run) == 2, run.explain()
    check_interrupted(run, run.scene.utterance(STOP).start, "server" if mode == "shipped" else "vad")


@pytest.mark.parametrize("mode", MODES)
def test_the_wake_word_over_a_reply_stops_it_and_only_the_next_question_is_a_turn(runs, mode):
    run = runs[(mode, -12, "wake")].result()
    assert run.code == 0, run.explain()
    scene = run.scene
    wake_again = [p for p in scene.said if p.text == WAKE][1]
    assert committed_turns(run) == 2, run.explain()  # the weather, the cafe: not the wake word
    check_interrupted(run, wake_again.start)
    assert [r["turn"] for r in run.events.named("wake")] in ([1, 2], [1]), run.explain()
    # The second turn's words came after the wake word: the service answered after the question.
    second = run.events.named("commit")[-1]
    first_wake = run.events.first("wake", 1)
    assert second["t"] - first_wake["t"] > scene.utterance(OTHER).end - scene.said[0].end
