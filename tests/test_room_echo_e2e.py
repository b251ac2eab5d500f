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
    Placed,
    Recordings,
    Run,
    Say,
    Scenario,
    StartedRuns,
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
    with StartedRuns() as started:
        for case in CASES:
            name = "-".join(map(str, case))
            started.start(name, scenario(recordings, *case), base / name, key=case)
        yield started


def check_interrupted(run: Run, said: Placed, stopped_by: float, trigger: str | None = None) -> None:
    """The long reply was sounding when the person spoke over it, stopped after they began and by
    ``stopped_by`` (seconds of the input), well before its end; and the next turn was answered."""
    events = run.events
    (barge,) = events.named("barge_in")
    if trigger is not None:
        assert barge["trigger"] == trigger, run.explain()
    assert not events.named("playback_end", 1), "the reply played to its end"
    (session,) = run.sessions
    assert session.responses[0]["status"] == "cancelled" and session.responses[1]["status"] == "completed"
    # On the input's clock. A pause in the reply's sound (its audio came late on a busy machine: the
    # speaker ran dry) is not its end: the reply is every span from its start to the person's words.
    spans = run.output.spans(gap_s=0.5)
    start = next(a for a, b in spans if b - a > 1.0)
    reply = [(a, b) for a, b in spans if start <= a < said.start]
    cut = reply[-1][1]
    assert said.start - 0.05 < cut <= stopped_by, f"the reply stopped at {cut:.2f} s (words at {said.start:.2f} s): {spans}"
    assert sum(b - a for a, b in reply) < reply_seconds(LONG) - 1.0, f"the reply was not cut short: {spans}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("echo", ECHOES)
def test_a_real_barge_in_over_the_echo_stops_the_reply_and_no_turn_is_false(runs, mode, echo):
    run = runs[(mode, echo, "barge")].result()
    assert run.code == 0, run.explain()
    # The person said two things (the question, the interruption); the service got exactly two turns.
    assert committed_turns(run) == 2, run.explain()
    stop = run.scene.utterance(STOP)
    if mode == "device":  # the device hears the words: it stops the reply within its barge-in time
        check_interrupted(run, stop, stop.start + 1.0, "vad")
    else:  # the service hears them, and its word comes back in wall-clock time (a busy machine stretches
        # that; barge_in_echo_ms measures it): the reply must stop while the person still talks
        check_interrupted(run, stop, stop.end, "server")


@pytest.mark.parametrize("mode", MODES)
def test_the_wake_word_over_a_reply_stops_it_and_only_the_next_question_is_a_turn(runs, mode):
    run = runs[(mode, -12, "wake")].result()
    assert run.code == 0, run.explain()
    scene = run.scene
    wake_again = [p for p in scene.said if p.text == WAKE][1]
    assert committed_turns(run) == 2, run.explain()  # the weather, the cafe: not the wake word
    # Whichever comes first stops the reply: the service hearing speech, or the wake word itself,
    # which the device detects at its end (on the input's clock).
    check_interrupted(run, wake_again, wake_again.end + 1.0)
    assert [r["turn"] for r in run.events.named("wake")] in ([1, 2], [1]), run.explain()
    # The second turn's words came after the wake word: the service answered after the question.
    second = run.events.named("commit")[-1]
    first_wake = run.events.first("wake", 1)
    assert second["t"] - first_wake["t"] > scene.utterance(OTHER).end - scene.said[0].end
