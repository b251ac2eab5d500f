"""End-to-end: the assistant daemon against the real emulator over loopback, on real spoken recordings.

Each conversation is a recording of espeak-ng speech placed at exact seconds, played to
``edgevoice run --input-wav`` at real-time pace; the tests read the events file, the output WAV
(what the speaker played, on the input's clock) and what the emulator received. The runs take
real time, so the module starts all of them together in the background (one subprocess and one
emulator each) and every test waits for its own; the in-process push-to-talk test comes first
and runs meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from daemon_helpers import (
    KEY,
    RATE,
    SPEECH,
    AudioCues,
    InProcessDaemon,
    BackgroundRun,
    Output,
    Recordings,
    Say,
    Scenario,
    StartedRuns,
    collapse,
    client_types,
    in_order,
    recordings,  # noqa: F401 - fixture
    reply_pcm,
    ready_replies,
    reply_seconds,
    write_config,
)
from edgevoice.config.load import load_config
from emulator_helpers import make_emulator  # noqa: F401 - fixture

WAKE = "okay nabu"  # 0.81 s of espeak-ng speech
QUESTION = "what time is it"  # 0.90 s
WEATHER = "what is the weather"  # 0.95 s
FOLLOW = "and tomorrow"  # 0.71 s
STOP = "stop, tell me a joke"  # 1.57 s
PLEASE = "please"

NOON = "It is noon."
RAIN = "Rain, all day."
NO = "No."
LONG = ("Here is the whole forecast for the week: tomorrow will be sunny in the morning and cloudy in "
        "the afternoon, with a little rain in the evening.")

PREROLL_S = 0.3  # [listening.vad] preroll_ms default
VAD_SILENCE_S = 0.6  # [listening.vad] silence_ms default: the device's end of an utterance
BYTES_PER_S = 2 * RATE

LEDS = {"listening": 5, "thinking": 6, "speaking": 13, "muted": 19}
PTT_PIN, MUTE_PIN = 17, 27

REPO = Path(__file__).resolve().parents[1]


def uses(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The background runs a test reads (``{mode}`` is filled from its parameters)."""

    def mark(test: Callable[..., Any]) -> Callable[..., Any]:
        test.scenarios = names  # type: ignore[attr-defined]
        return test

    return mark


def scenarios(rec: Recordings) -> dict[str, Scenario]:
    """Every conversation of this module. "paused": a pause after the wake word (longer than the VAD's
    silence); "one breath": "okay nabu, what time is it" with a short natural pause."""
    paused = (Say(0.5, WAKE), Say(2.2, QUESTION))
    one_breath = (Say(0.5, WAKE), Say(1.6, QUESTION))
    quick = {"assistant": {"follow_up_s": 1.0}}
    out = {
        "full_device": Scenario(rec.make("paused", 6.0, *paused), replies=(NOON,), tables=quick),
        "full_server": Scenario(rec.make("one-breath", 6.0, *one_breath), replies=(NOON,),
                                turn_detection="server_vad", tables=quick),
        "idle_reset": Scenario(
            rec.make("idle", 15.0, *paused, Say(11.0, WAKE), Say(12.6, FOLLOW)), replies=(NOON, RAIN),
            tables={"assistant": {"follow_up_s": 1.0, "idle_timeout_s": 5.0}},
        ),
        "demo": Scenario(None, command="demo"),
    }
    follow_up = rec.make("follow-up", 9.0, *one_breath, Say(4.9, FOLLOW))
    barge = rec.make("barge-in", 9.5, Say(0.5, WAKE), Say(1.6, WEATHER), Say(4.7, STOP))
    for mode, detection in (("device", "none"), ("server", "server_vad")):
        out[f"follow_up_{mode}"] = Scenario(follow_up, replies=(NOON, RAIN), turn_detection=detection,
                                            tables={"assistant": {"follow_up_s": 2.5}})
        out[f"barge_in_{mode}"] = Scenario(barge, replies=(LONG, NO), pacing="realtime",
                                           turn_detection=detection, tables=quick)
    out["offline"] = Scenario(rec.make("paused", 6.0, *paused), offline=True, tables=quick)
    out["paused_server"] = Scenario(rec.make("paused", 6.0, *paused), replies=(NOON,), turn_detection="server_vad",
                                    tables=quick)
    return out


@pytest.fixture(scope="module", autouse=True)
def runs(request: pytest.FixtureRequest, recordings: Recordings,  # noqa: F811
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BackgroundRun]]:
    """Start the runs of the selected tests of this module, all at once."""
    wanted: set[str] = set()
    for item in request.session.items:
        if getattr(item, "module", None) is request.module:
            params = getattr(getattr(item, "callspec", None), "params", {})
            wanted.update(name.format(**params) for name in getattr(item.function, "scenarios", ()))
    specs = scenarios(recordings)
    base = tmp_path_factory.mktemp("daemon-runs")
    with StartedRuns() as started:
        for name in sorted(wanted):
            started.start(name, specs[name], base / name)
        yield started


def output_clock(record: dict[str, Any], at_in_input: float) -> Callable[[dict[str, Any]], float]:
    """Maps events to input (= output) seconds, anchored on ``record`` happening ``at_in_input`` s in."""
    zero = record["t"] - at_in_input
    return lambda r: r["t"] - zero


def heard_of(reply: np.ndarray, played: np.ndarray) -> int:
    """How much of ``reply`` (samples from its start, up to its last sound heard) ``played`` holds.

    Asserts that the sounds played are exactly the reply's, in order, from its beginning; silences
    between them may differ (a speaker fills an underrun with silence).
    """
    sounds = played[played != 0]
    where = np.flatnonzero(reply)
    assert len(sounds) <= len(where), "more was played than the reply holds"
    assert np.array_equal(sounds, reply[where[: len(sounds)]]), "what was played is not the reply"
    return int(where[len(sounds) - 1]) + 1 if len(sounds) else 0


def int16(output: Output) -> np.ndarray:
    return np.round(output.samples * 32768).astype(np.int16)


# --- 6. push-to-talk and mute on gpiozero's MockFactory (in-process; runs while the others do) ----


def test_push_to_talk_and_mute_switch_drive_the_daemon(recordings, make_emulator, tmp_path):  # noqa: F811
    scene = recordings.make(
        "buttons", 14.5,
        Say(0.9, QUESTION), Say(2.9, PLEASE),  # said with the button held, a long pause in between
        Say(7.0, WAKE), Say(8.1, QUESTION),  # while muted: nothing may happen
        Say(10.0, WAKE), Say(11.5, FOLLOW),  # after unmuting: the wake word works again
    )
    # The reply to the button's turn ends about 4.6 s in and the follow-up window 1 s later: the
    # switch goes on with a second to spare, so the machine is idle by then even on a busy machine.
    press, release, mute_on, mute_off = 0.6, 3.8, 6.5, 9.5
    ready_replies([NOON, RAIN])
    emu = make_emulator(api_key=KEY, replies=[NOON, RAIN], speech=SPEECH)
    config = load_config(write_config(tmp_path / "edgevoice.toml", emu.url, tables={
        "assistant": {"follow_up_s": 1.0},
        "buttons": {"push_to_talk_pin": PTT_PIN, "mute_pin": MUTE_PIN},
        "leds": LEDS,
    }))
    factory = MockFactory()
    lit_by_state: list[tuple[str, set[str]]] = []

    def on_record(record: dict[str, Any]) -> None:
        if record["event"] == "state":  # the machine sets the LEDs just before it marks the state
            lit_by_state.append((record["state"], {name for name, pin in LEDS.items() if factory.pin(pin).state}))

    run = InProcessDaemon(config, scene.path, tmp_path, factory, on_record=on_record, finish_s=60)

    def appended() -> int:
        return sum(s.audio_bytes for s in emu.sessions)

    # The pins act on the audio clock (between two frames of the daemon's loop), not when a test
    # thread gets around to it: the press and the release land on the frames they name.
    sent: dict[str, int] = {}
    cues = AudioCues(run.daemon)
    cues.at(press, factory.pin(PTT_PIN).drive_low).at(release, factory.pin(PTT_PIN).drive_high)
    cues.at(mute_on, factory.pin(MUTE_PIN).drive_low)
    cues.at(mute_on + 0.1, lambda: sent.setdefault("at_mute", appended()))
    cues.at(mute_off, lambda: sent.setdefault("at_unmute", appended()))
    cues.at(mute_off, factory.pin(MUTE_PIN).drive_high)
    with run:
        assert cues.done.wait(timeout=120), "the daemon never reached the end of the button script"
    sent_at_mute, sent_at_unmute = sent["at_mute"], sent["at_unmute"]
    assert run.codes == [0]
    events = run.events()

    # Push-to-talk: no wake word; the gate opens at the press, and the release (not a pause) commits.
    assert not events.named("wake", 1) and events.first("commit", 1)["by"] == "device"
    in_order(events, 1, ("gate_open", "audio_sent", "commit", "reply_audio_first", "playback_start", "playback_end"))
    first = emu.sessions[0]
    assert collapse(client_types(first)) == ["session.update", "input_audio_buffer.append",
                                             "input_audio_buffer.commit", "response.create"]
    # Everything said while the button was held went out, the words after the pause included: the
    # release ended the utterance, not the pause, and nothing was sent before the press or after it.
    assert first.audio_bytes / BYTES_PER_S == pytest.approx(release - press, abs=0.1)

    # Mute: the session closes, nothing is heard or sent; the wake word said meanwhile does nothing.
    assert first.closed
    records = events.records
    muted = next(i for i, r in enumerate(records) if r["event"] == "state" and r["state"] == "muted")
    assert records[muted + 1]["event"] == "state" and records[muted + 1]["state"] == "idle", events.summary()
    assert sent_at_unmute == sent_at_mute

    # Unmuted: the next wake word starts turn 2 on a fresh session, and it is answered.
    assert records.index(events.first("wake", 2)) > muted + 1
    in_order(events, 2, ("wake", "speech_start", "audio_sent", "speech_end", "commit", "reply_audio_first",
                         "playback_start", "playback_end"))
    assert len(emu.sessions) == 2 and emu.sessions[1].events("input_audio_buffer.commit")

    # The LEDs showed every state (several states share the listening LED).
    expected = {"listening": {"listening"}, "follow_up": {"listening"}, "thinking": {"thinking"},
                "speaking": {"speaking"}, "muted": {"muted"}, "idle": set()}
    states = [state for state, _ in lit_by_state]
    assert states[:11] == ["listening", "thinking", "speaking", "follow_up", "idle", "muted", "idle",
                           "listening", "thinking", "speaking", "follow_up"]
    assert set(states[11:]) <= {"idle"}
    for state, lit in lit_by_state:
        assert lit == expected[state], f"in state {state} the lit LEDs were {lit}"


# --- 1. a full turn through the CLI, device endpointing ----------------------------------------


@uses("full_device")
def test_full_turn_through_the_cli(runs):
    run = runs["full_device"].result()
    assert run.code == 0, run.explain()
    events, scene = run.events, run.scene
    # Every milestone is the turn's; the link's connects and the devices' health are the device's own.
    assert {r["turn"] for r in events.records if r["event"] not in ("connection", "device")} == {1}, run.explain()
    in_order(events, 1, ("wake", "speech_start", "audio_sent", "speech_end", "commit", "reply_audio_first",
                         "playback_start", "playback_end"))
    assert events.first("commit", 1)["by"] == "device"
    assert events.states()[:4] == ["listening", "thinking", "speaking", "follow_up"]
    assert "turn 1: wake_to_audio" in run.stderr  # the latency breakdown is logged too
    latency = events.first("turn_latency", 1)
    assert all(latency[f"{name}_ms"] is not None for name in
               ("wake_to_audio", "speech_end_to_commit", "commit_to_reply", "reply_to_playback", "voice_to_voice"))

    # The emulator got the audio, then the commit and the request for the reply (turn detection off).
    (session,) = run.sessions
    assert collapse(client_types(session)) == ["session.update", "input_audio_buffer.append",
                                               "input_audio_buffer.commit", "response.create"]
    # From the question (with at most the pre-roll of the quiet before it: the wake word's tail is
    # never sent) to the commit.
    spoken = events.first("commit", 1)["t"] - events.first("speech_start", 1)["t"]
    assert spoken - 0.05 <= session.audio_bytes / BYTES_PER_S <= spoken + PREROLL_S + 0.05
    assert session.responses == [{"id": events.first("reply_audio_first", 1)["response_id"],
                                  "status": "completed", "reason": None}]

    # The output is as long as the input, silent until the reply, which sits after the commit on the
    # input's clock, and is the reply exactly as the emulator spoke it.
    output = run.output
    assert output.duration == pytest.approx(scene.duration, abs=0.015)
    clock = output_clock(events.first("speech_start", 1), scene.utterance(QUESTION).start)
    ((start, end),) = output.spans()
    assert start >= clock(events.first("commit", 1)) - 0.03
    assert start == pytest.approx(clock(events.first("playback_start", 1)), abs=0.1)
    assert start >= scene.utterance(QUESTION).end + VAD_SILENCE_S - 0.1  # after the device's endpoint
    reply = reply_pcm(NOON)
    assert heard_of(reply, int16(output)) == np.flatnonzero(reply)[-1] + 1  # all of it, exactly as sent


# --- 2. the same turn with server endpointing ---------------------------------------------------


@uses("full_server")
def test_full_turn_with_server_endpointing(runs):
    run = runs["full_server"].result()
    assert run.code == 0, run.explain()
    events, scene = run.events, run.scene
    in_order(events, 1, ("wake", "audio_sent", "commit", "reply_audio_first", "playback_start", "playback_end"))
    assert events.first("commit", 1)["by"] == "server"
    assert len(events.named("commit")) == 1 and not events.named("barge_in"), run.explain()

    # The device only streamed: the server heard the end of speech, committed and answered by itself.
    (session,) = run.sessions
    types = client_types(session)
    assert "input_audio_buffer.commit" not in types and "response.create" not in types
    assert session.server_events.count("input_audio_buffer.committed") == 1
    assert [r["status"] for r in session.responses] == ["completed"]

    output = run.output
    ((start, end),) = output.spans()
    assert start > scene.utterance(QUESTION).end  # the reply comes after the question, not over it
    reply = reply_pcm(NOON)
    assert heard_of(reply, int16(output)) == np.flatnonzero(reply)[-1] + 1


# --- 3. a follow-up question without the wake word ----------------------------------------------


@pytest.mark.parametrize("mode", ["device", "server"])
@uses("follow_up_{mode}")
def test_follow_up_question_needs_no_wake_word(runs, mode):
    run = runs[f"follow_up_{mode}"].result()
    assert run.code == 0, run.explain()
    events, scene = run.events, run.scene
    # Turn 1 was said in one breath ("okay nabu, what time is it"): it is answered all the same.
    in_order(events, 1, ("wake", "commit", "reply_audio_first", "playback_start", "playback_end"))
    # Turn 2 is the follow-up: speech in the window, no wake word, its own commit and reply.
    assert [r["turn"] for r in events.named("wake")] == [1], run.explain()
    assert events.first("speech_start", 2)["follow_up"] is True
    in_order(events, 2, ("speech_start", "commit", "reply_audio_first", "playback_start", "playback_end"))
    assert events.first("speech_start", 2)["t"] > events.first("playback_end", 1)["t"]
    assert [r["state"] for r in events.named("state")][:8] == [
        "listening", "thinking", "speaking", "follow_up", "listening", "thinking", "speaking", "follow_up"]

    (session,) = run.sessions  # the same session, so the follow-up has the conversation's context
    if mode == "device":
        assert session.events("input_audio_buffer.commit").__len__() == 2
        assert len(session.events("response.create")) == 2
    else:
        assert session.server_events.count("input_audio_buffer.committed") == 2
    assert [r["status"] for r in session.responses] == ["completed", "completed"]

    spans = run.output.spans()
    assert len(spans) == 2 and spans[1][0] > scene.utterance(FOLLOW).end
    second = int16(run.output)[round(spans[1][0] * RATE):]
    reply = reply_pcm(RAIN)
    assert heard_of(reply, second) == np.flatnonzero(reply)[-1] + 1


# --- 4. barge-in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["device", "server"])
@uses("barge_in_{mode}")
def test_barge_in_stops_the_reply_and_truncates_it_to_what_was_heard(runs, mode):
    run = runs[f"barge_in_{mode}"].result()
    assert run.code == 0, run.explain()
    events, scene = run.events, run.scene
    (barge,) = events.named("barge_in")
    assert barge["turn"] == 2 and barge["trigger"] == ("vad" if mode == "device" else "server")
    started = events.first("playback_start", 1)
    heard_ms = (barge["t"] - started["t"]) * 1000
    assert not events.named("playback_end", 1)  # it was cut, not finished

    (session,) = run.sessions
    (truncate,) = session.truncates
    first_reply = events.first("reply_audio_first", 1)
    assert truncate["audio_end_ms"] == pytest.approx(heard_ms, abs=250)
    assert truncate["audio_end_ms"] < reply_seconds(LONG) * 1000 - 1000
    assert truncate["content_index"] == 0
    # The reply was still streaming: the device cancelled it, or the server did on hearing the user.
    assert session.responses[0] == {"id": first_reply["response_id"], "status": "cancelled",
                                    "reason": "client_cancelled" if mode == "device" else "turn_detected"}
    assert ("response.cancel" in client_types(session)) == (mode == "device")

    # The interruption is the next turn: committed after the truncate and answered.
    in_order(events, 2, ("barge_in", "commit", "reply_audio_first", "playback_start", "playback_end"))
    assert session.responses[1]["status"] == "completed"
    types = client_types(session)
    if mode == "device":
        last_commit = len(types) - 1 - types[::-1].index("input_audio_buffer.commit")
        assert types.index("conversation.item.truncate") < last_commit
    else:
        assert session.server_events.count("input_audio_buffer.committed") == 2

    # The output: the reply up to the interruption, then quiet until the answer to it.
    interrupted = scene.utterance(STOP)
    samples = int16(run.output)
    sound = np.flatnonzero(samples)
    cut = round((interrupted.start + 0.5) * RATE)
    reply_start, reply_end = sound[0], sound[sound < cut][-1] + 1
    answer_start = sound[sound >= cut][0]
    assert reply_start / RATE < interrupted.start
    # The device's VAD stops it within a few frames; the server's needs ~0.1 s of speech and a round trip.
    assert reply_end / RATE <= interrupted.start + (0.3 if mode == "device" else 0.6), "the reply played on over the user"
    assert answer_start / RATE > interrupted.end
    # What the output holds of the reply is exactly what the truncate says was heard (to the ms).
    reply = reply_pcm(LONG)
    heard = heard_of(reply, samples[reply_start:reply_end])
    told = truncate["audio_end_ms"] * RATE // 1000
    assert heard <= told + RATE // 1000, "the reply played on past the truncation point"
    assert np.count_nonzero(reply[:told]) <= np.count_nonzero(samples[reply_start:reply_end])


# --- 5. the session is replaced after the idle timeout -------------------------------------------


@uses("idle_reset")
def test_idle_timeout_closes_the_session_and_the_next_turn_gets_a_fresh_one(runs):
    run = runs["idle_reset"].result()
    assert run.code == 0, run.explain()
    events = run.events
    assert [r["turn"] for r in events.named("wake")] == [1, 2], run.explain()
    for turn in (1, 2):
        in_order(events, turn, ("wake", "commit", "reply_audio_first", "playback_start", "playback_end"))

    # The spare session opened at start served turn 1; 5 s after the reply (idle_timeout_s) it was
    # closed and a new spare opened; turn 2 ran on that one, with a conversation of its own.
    first, second = run.sessions
    assert first.id != second.id
    assert len(first.events("input_audio_buffer.commit")) == 1 and len(second.events("input_audio_buffer.commit")) == 1
    assert first.closed and first.close_code == 1000
    idle_from = events.first("playback_end", 1)["t"]
    assert idle_from + 5.0 - 0.1 <= run.closed_at[0] <= idle_from + 5.0 + 1.0
    assert run.closed_at[0] - 0.5 <= run.opened_at[1] < events.first("wake", 2)["t"]
    assert run.closed_at[0] < events.first("wake", 2)["t"]


# --- offline: the cached reply comes when the user finishes ---------------------------------------


@uses("offline")
def test_unreachable_service_is_answered_from_the_cache_as_soon_as_the_user_finishes(runs):
    run = runs["offline"].result()
    assert run.code == 0, run.explain()
    events, scene = run.events, run.scene
    # The session fails while the user talks: nothing is streamed, but the device still listens for
    # the end of the question and answers it from the cache right then (not after max_listen_s).
    in_order(events, 1, ("wake", "speech_start", "speech_end", "offline_reply"))
    assert events.first("offline_reply", 1)["kind"] == "offline"
    assert not events.named("commit")
    ((start, _),) = run.output.spans()
    # Right after the device's endpoint, not when max_listen_s (30 s) gives up on the utterance.
    assert scene.utterance(QUESTION).end + VAD_SILENCE_S - 0.1 <= start <= scene.utterance(QUESTION).end + 2.5


# --- 7. the demo --------------------------------------------------------------------------------


@uses("demo")
def test_demo_runs_the_whole_loop_and_prints_the_reply_and_latencies(runs):
    run = runs["demo"].result()
    assert run.code == 0, run.explain() + run.stdout
    out = run.stdout
    assert "wake word: okay_nabu" in out
    assert "reply:     " in out and "heard:     " in out
    # One grounded answer: the model's search_knowledge call found the bundled visitor centre's page.
    assert "tool:      search_knowledge" in out and "from visitor-centre.md" in out
    assert "reply:     I found this: In any weather the garden tour starts at eleven" in out
    for name in ("wake to audio", "speech end to commit", "commit to reply", "reply to playback", "voice to voice"):
        assert any(line.strip().startswith(name) and line.rstrip().endswith(" ms") for line in out.splitlines()), out
    assert run.output is not None and run.output.spans()
    # README shows what the demo prints: the same lines in the same order (figures and ports vary).
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    sample = readme.split("What `make demo` prints on this machine:\n\n```\n", 1)[1].split("```", 1)[0]
    assert [_label(line) for line in sample.splitlines()] == [_label(line) for line in out.splitlines()], sample


def _label(line: str) -> str:
    """What a line of the demo's output is, without its value: "reply:", "  voice to voice", "--- turn 1"."""
    if ":" in line.split("  ")[0]:
        return line.split(":", 1)[0] + ":"
    return line.rsplit(" ", 2)[0].rstrip() if line.endswith(" ms") else line


# --- a pause after the wake word: only the question is a turn ----------------------------------


@uses("paused_server")
def test_server_endpointing_with_a_pause_after_the_wake_word_answers_only_the_question(runs):
    # People wait for the chime: a pause after the wake word longer than the server's silence_duration_ms.
    # The wake word's tail is never sent, so the server does not commit it as a turn of its own.
    run = runs["paused_server"].result()
    assert run.code == 0, run.explain()
    (session,) = run.sessions
    assert session.server_events.count("input_audio_buffer.committed") == 1, run.explain()
    assert not run.events.named("barge_in")
    assert [r["status"] for r in session.responses] == ["completed"]
