"""Issue 8, item 4: the soak. 500 accelerated turns with the real daemon; nothing grows, every turn is answered.

``edgevoice soak`` runs in a process of its own (so pytest's memory is not in its readings): the
whole daemon in that process -- front-end with the wake word and push-to-talk, state machine,
session link, Voice Live sessions over loopback WebSockets, a speaker writing to a null sink --
against ``edgevoice emulator`` in a further process. The planted key is the shared API key; it
must show up nowhere in what the soak prints or writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgevoice.bench.conversations import LONG_REPLY, SHORT_REPLY
from edgevoice.bench.soak import CYCLE, GROWTH_LIMIT_MB, SoakReport, replies, script
from edgevoice.bench.soak_user import DaemonWatch, Move, SoakUser, UserHooks
from secret_helpers import PLANTED_KEY, assert_no_leak, assert_no_leak_in_files

ROOT = Path(__file__).resolve().parent.parent
TURNS = 500
_CLEARED = ("EDGEVOICE_CONFIG", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _soak(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``edgevoice -v soak --json`` as fast as the daemon listens, the planted key as the shared key;
    checks that the key shows up nowhere in what it printed or wrote."""
    events = tmp_path / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env["AZURE_VOICELIVE_API_KEY"] = PLANTED_KEY
    # -v: the daemon's INFO log (every state, transcript and latency line) goes through the leak check too.
    done = subprocess.run(
        [sys.executable, "-m", "edgevoice", "-v", "soak", "--speed", "0", "--json", "--events", str(events), *args],
        capture_output=True, text=True, timeout=240, cwd=ROOT, env=env,
    )
    assert_no_leak("the soak's stdout and stderr", done.stdout, done.stderr)
    assert_no_leak_in_files(events)
    assert done.stdout.strip(), done.stderr[-4000:]
    return done


@pytest.mark.slow
def test_500_turns_are_all_answered_and_leave_memory_threads_and_files_as_they_were(tmp_path):
    done = _soak(tmp_path, "--turns", str(TURNS), "--warmup", "50")
    report = json.loads(done.stdout)
    events = tmp_path / "events.jsonl"
    assert done.returncode == 0 and report["problems"] == [], (report["problems"], done.stderr[-3000:])

    # Every turn of the script was heard and answered: its reply started to play.
    assert report["turns"] == report["turns_heard"] == report["answered"] == TURNS
    assert report["errors"] == 0 and report["cached_replies"] == 0 and report["stuck"] is None
    moves = report["moves"]
    assert sum(moves[m.value] for m in Move if m.is_turn) == TURNS
    assert min(moves["wake"], moves["follow_up"], moves["barge_in"], moves["button"]) >= TURNS // 10
    assert report["barge_ins"] == moves["barge_in"]
    # A fresh session after every cycle (the idle timeout closed the last one).
    assert report["sessions_opened"] == moves["new_session"] + 1 == TURNS // len(CYCLE) and report["reloads"] == 0

    # The events file agrees, turn by turn: each of the 500 turns has its reply playing.
    records = [json.loads(line) for line in events.read_text().splitlines()]
    played = {r["turn"] for r in records if r["event"] == "playback_start"}
    assert played == set(range(1, TURNS + 1))
    assert sum(r["event"] == "barge_in" for r in records) == moves["barge_in"]

    # After warm-up: memory grows by less than the limit; threads and open files stay exactly put.
    assert report["warmup_turns"] == 50
    assert report["growth_mb"] < GROWTH_LIMIT_MB, report["rss_mb_by_turn"]
    assert len(set(report["threads"])) == 1, (report["threads"], report["thread_names_end"])
    assert len(set(report["fds"])) == 1, report["fds"]
    assert report["thread_names_warm"] == report["thread_names_end"]


@pytest.mark.slow
def test_config_reloads_between_turns_leave_threads_and_files_as_they_were(tmp_path):
    """SIGHUP's path, every cycle: a new front-end (wake word model), link, session and phrase book."""
    done = _soak(tmp_path, "--turns", "100", "--warmup", "20", "--reload-every", "1")
    report = json.loads(done.stdout)
    # Memory is not held to the limit here: each reload moves several hundred kB around (either
    # way), so a handful of reloads says nothing about growth. The 500-turn soak above does.
    assert [p for p in report["problems"] if not p.startswith("resident memory grew")] == [], report["problems"]
    assert report["turns_heard"] == report["answered"] == 100
    assert report["reloads"] == report["moves"]["reload"] == 9 and report["sessions_opened"] == 10
    assert len(set(report["threads"])) == 1 and len(set(report["fds"])) == 1, (report["threads"], report["fds"])


def _report(**changes) -> SoakReport:
    fields = dict(
        turns=20, turns_heard=20, answered=20, moves={"wake": 20}, sessions_opened=2, reloads=0, barge_ins=0, errors=0,
        cached_replies=0, last_error="", stuck=None, exit_code=0, warmup_turns=5, rss_warm_mb=50.0, rss_end_mb=50.5,
        rss_peak_mb=51.0, threads=[5, 5, 5, 5], fds=[10, 10, 10, 10], rss_mb_by_turn={}, thread_names_warm=[],
        thread_names_end=[], emulator_rss_mb=[40.0, 40.0], python_blocks=0, seconds=2.0, audio_s=60.0,
        growth_limit_mb=2.0,
    )
    fields.update(changes)
    return SoakReport(**fields)


@pytest.mark.parametrize(("changes", "problem"), [
    ({}, None),
    ({"rss_end_mb": 52.0}, "resident memory grew by 2.00 MB"),
    ({"threads": [5, 5, 6, 6]}, "thread count changed"),
    ({"fds": [10, 9, 10, 10]}, "open file descriptors changed"),
    ({"answered": 19}, "1 of 20 turns got no reply"),
    ({"turns_heard": 18}, "the daemon started 18 turns of 20"),
    ({"errors": 1, "last_error": "turn 3: reply_timeout"}, "reply_timeout"),
    ({"cached_replies": 2}, "2 cached replies"),
    ({"stuck": "waited 60 s of audio for the follow-up window"}, "stopped early: waited"),
    ({"exit_code": 1}, "exited with status 1"),
])
def test_the_report_names_whatever_grew_or_went_unanswered(changes, problem):
    report = _report(**changes)
    problems = report.problems()
    if problem is None:
        assert problems == [] and "result           ok" in report.table()
    else:
        assert len(problems) == 1 and problem in problems[0], problems
        assert "FAILED" in report.table() and report.as_json()["problems"] == problems


def test_the_script_repeats_the_cycle_with_a_fresh_session_between_cycles_and_replies_fit_it():
    moves = script(25)
    assert [m for m in moves if m.is_turn] == [*CYCLE, *CYCLE, *CYCLE[:5]]
    assert [i for i, m in enumerate(moves) if m is Move.NEW_SESSION] == [10, 21]
    assert script(len(CYCLE)) == list(CYCLE)  # no pause after the last turn
    reloading = script(40, reload_every=2)
    assert [m for m in reloading if not m.is_turn] == [Move.NEW_SESSION, Move.RELOAD, Move.NEW_SESSION]
    # A reply is long exactly where the next turn interrupts it.
    answers = replies()
    for i, move in enumerate(CYCLE[1:]):
        assert (answers[i] == LONG_REPLY) == (move is Move.BARGE_IN)
    assert answers[len(CYCLE) - 1:] == [SHORT_REPLY] * (len(answers) - len(CYCLE) + 1)


def test_a_daemon_that_never_gets_ready_stops_the_soak_saying_what_it_waited_for():
    watch = DaemonWatch()
    heard = []
    user = SoakUser([Move.WAKE], watch, UserHooks(heard=lambda: len(heard), sessions_opened=lambda: 0),
                    speed=0, patience_s=1.0)
    start = user.clock()
    for frame in user.frames():
        heard.append(len(frame))
    assert len(heard) == 100 and set(heard) == {320}  # one second of room, then it gave up
    assert user.stuck is not None and "a fresh Voice Live session" in user.stuck
    assert user.status.state == "finished" and user.turns_spoken == 0
    assert user.clock() - start == pytest.approx(1.0)  # the clock is the audio delivered


def test_the_watch_counts_each_turn_answered_once_and_follows_the_state():
    watch = DaemonWatch()
    for record in (
        {"event": "state", "state": "listening", "turn": 1},
        {"event": "state", "state": "speaking", "turn": 1},
        {"event": "playback_start", "turn": 1},
        {"event": "playback_start", "turn": 1},  # a second item of the same reply
        {"event": "barge_in", "turn": 1},
        {"event": "state", "state": "listening", "turn": 2},
    ):
        watch(record)
    assert (watch.answered, watch.barge_ins, watch.state, watch.turn) == (1, 1, "listening", 2)
    assert not watch.reply_playing
    watch({"event": "error", "turn": 2, "code": "reply_timeout", "message": "no reply"})
    assert watch.errors == 1 and "reply_timeout" in watch.last_error


@pytest.mark.parametrize("args", [["--turns", "0"], ["--turns", "10", "--warmup", "10"], ["--speed", "-1"],
                                  ["--reload-every", "-2"]])
def test_impossible_soak_options_are_refused_before_anything_starts(args):
    done = subprocess.run([sys.executable, "-m", "edgevoice", "soak", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "edgevoice soak: need" in done.stderr and not done.stdout

