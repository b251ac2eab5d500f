"""The fault matrix, end to end: every way Voice Live can fail, against the real ``edgevoice run``.

Each case is a real ``edgevoice run --input-wav IN --output-wav OUT --events EV`` subprocess on a
spoken recording of at least two turns (wake word + question), against an emulator of its own
whose fault plan hits the first turn (its first connection) and then clears (short sessions stay
short: that fault is for good); the planted API key is in its environment
and a real NOTIFY_SOCKET collects its STATUS lines. In every case: exit 0, no traceback, an
answer (live or cached) heard after every question, back to listening for the wake word within
3 s of the fault clearing, and the key nowhere in what the run wrote. The runs start together when
the module starts; every test waits for its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from daemon_helpers import Placed, Recordings, Say, Scene, recordings  # noqa: F401 - fixture
from edgevoice.config.voicelive import VoiceLiveConfig
from edgevoice.voicelive.emulator import FaultPlan
from reliability_helpers import WAKE_READY, FaultResult, FaultRun
from secret_helpers import assert_no_leak, assert_no_leak_in_files

WAKE = "okay nabu"  # about 0.8 s of espeak-ng speech
QUESTION = "what time is it"  # about 0.9 s
NOON = "It is noon."
RAIN = "Rain, all day."
BACK_WITHIN_S = 3.0  # the limit: back to listening this soon after the fault clears
MIN_ANSWER_S = 0.4  # an answer is at least this much audio

ONE_ONLY = {"connections": 1}  # the fault hits the first connection; later ones are served well
NO_SPARE = {"assistant": {"prewarm": False}}  # the first connection is the first wake's
LEDS = {"listening": 5, "thinking": 6, "speaking": 13, "error": 26}  # gpiozero mock pins in the daemon


def turn(at: float) -> tuple[Say, Say]:
    return Say(at, WAKE), Say(at + 1.2, QUESTION)


@dataclass(frozen=True)
class Case:
    """One fault: the plan, the recording's turns (start times) and whatever else the run needs."""

    faults: FaultPlan
    turns: tuple[float, ...] = (1.0, 7.5)
    replies: tuple[str, ...] = (NOON, RAIN)
    pacing: str = "fast"
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered_at_wake: tuple[int, ...] = ()  # turns answered at the wake word, before the question (ERROR state)


CASES: dict[str, Case] = {
    # The spare session is refused: ERROR; wakes in ERROR are told so without a connect; after
    # error_retry_s the next wake connects again and is answered by the service.
    "auth": Case(FaultPlan(reject_status=401, **ONE_ONLY), turns=(1.0, 5.0, 12.5),
                 tables={"assistant": {"error_retry_s": 10.0}, "leds": LEDS}, answered_at_wake=(1, 2)),
    # No spare session in these: the wake's own connect meets the fault, so a person's turn does.
    "throttled": Case(FaultPlan(reject_status=429, retry_after_s=2, **ONE_ONLY), tables=NO_SPARE),
    "http500": Case(FaultPlan(reject_status=500, **ONE_ONLY), tables=NO_SPARE),
    "http503": Case(FaultPlan(reject_status=503, **ONE_ONLY), tables=NO_SPARE),
    "drop_reply": Case(FaultPlan(drop_after_audio_deltas=3, **ONE_ONLY), pacing="realtime"),
    "drop_utterance": Case(FaultPlan(drop_after_appends=5, **ONE_ONLY)),
    "malformed_json": Case(FaultPlan(malformed_json_after_audio_deltas=2, **ONE_ONLY)),
    "unknown_event": Case(FaultPlan(unknown_event_after_audio_deltas=2, **ONE_ONLY)),
    # The failed response leaves the session open (with its fault plan): the idle timeout closes it
    # and the next turn gets a fresh one. The error comes 0.3 s into the reply (four deltas at real-
    # time pace): after 0.1 s, a loaded machine sometimes took the error before the speaker had
    # started, and a failed response is cut off, so nothing of it played.
    "error_event": Case(FaultPlan(error_after_audio_deltas=4, **ONE_ONLY), pacing="realtime", turns=(1.0, 12.5),
                        tables={"assistant": {"idle_timeout_s": 5.0}}),
    # No spare session: the session opens at the wake and expires while the first reply plays.
    "expiry": Case(FaultPlan(expire_after_s=2.5, **ONE_ONLY), pacing="realtime", tables=NO_SPARE),
    # Every session lasts 4 s (far less than the daemon's renewal margin): renewed, not in a loop.
    "short_sessions": Case(FaultPlan(expire_after_s=4.0)),
    # The session is dropped stall_timeout_s (4 s) after its last event; the second turn comes after
    # the apology for the first.
    "stall_before_audio": Case(FaultPlan(stall_s=10.0, stall_after_audio_deltas=0, **ONE_ONLY), turns=(1.0, 11.0)),
    "stall_mid_reply": Case(FaultPlan(stall_s=10.0, stall_after_audio_deltas=2, **ONE_ONLY), turns=(1.0, 11.0)),
    # Every event 250 ms late, the transcript's word-by-word deltas too: the first reply streams for
    # seconds; the second turn comes after its follow-up window.
    "slow": Case(FaultPlan(event_delay_ms=250, **ONE_ONLY), turns=(1.0, 17.0)),
    "slow_beyond_deadline": Case(FaultPlan(event_delay_ms=2000, **ONE_ONLY), tables=NO_SPARE),
}


class Runs:
    """Every fault run of the module, started at once; ``runs[name]`` waits for one."""

    def __init__(self, rec: Recordings, base: Path) -> None:
        self.runs: dict[str, FaultRun] = {}
        for name, case in CASES.items():
            says = [say for at in case.turns for say in turn(at)]
            end = case.turns[-1] + 5.0
            scene = rec.make(f"faults-{len(case.turns)}-turns", end, *says)
            self.runs[name] = FaultRun(name, scene, base / name, case.faults, replies=case.replies, pacing=case.pacing,
                                       tables=case.tables)
        self._results: dict[str, FaultResult] = {}
        for run in self.runs.values():
            run.start()

    def __getitem__(self, name: str) -> FaultResult:
        if name not in self._results:
            self._results[name] = self.runs[name].result()
        return self._results[name]

    def close(self) -> None:
        for run in self.runs.values():
            run.close()


@pytest.fixture(scope="module")
def runs(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:  # noqa: F811
    all_runs = Runs(recordings, tmp_path_factory.mktemp("fault-runs"))
    yield all_runs
    all_runs.close()


# --- what every case must show ---------------------------------------------------------------


def questions(scene: Scene) -> list[tuple[Placed, Placed]]:
    """(wake, question) of each turn of the recording, in order."""
    said = list(scene.said)
    return [(said[i], said[i + 1]) for i in range(0, len(said), 2)]


def heard_in(result: FaultResult, start: float, end: float) -> float:
    """Seconds of audio the speaker played between ``start`` and ``end`` (seconds on the recording)."""
    assert result.output is not None, result.explain()
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in result.output.spans())


def assert_every_question_answered(result: FaultResult, case: Case) -> None:
    turns = questions(result.scene)
    for i, (wake, question) in enumerate(turns, start=1):
        until = turns[i][0].start if i < len(turns) else result.output.duration
        since = wake.end if i in case.answered_at_wake else question.end
        heard = heard_in(result, since, until)
        assert heard >= MIN_ANSWER_S, (f"turn {i}: only {heard:.2f} s heard between {since:.2f} s and {until:.2f} s; "
                                       f"spans {result.output.spans()}\n{result.explain()}")
    played = result.events.named("playback_start") + result.events.named("cached_playback_start")
    assert len(played) >= len(turns), result.explain()


def assert_clean_exit(result: FaultResult) -> None:
    assert result.code == 0, result.explain()
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream, result.explain()
    crashes = [line for line in result.stderr.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b", line)]
    assert not crashes, f"ERROR-level lines: {crashes}\n{result.explain()}"


def assert_no_leaks(result: FaultResult) -> None:
    assert_no_leak(f"{result.name}: stdout/stderr", result.stdout, result.stderr)
    assert_no_leak(f"{result.name}: STATUS lines", [message for _, message in result.notify])
    assert_no_leak(f"{result.name}: session records", [s.client_events for s in result.sessions])
    assert_no_leak_in_files(*result.files)


def fault_detected_at(result: FaultResult) -> float:
    """When the daemon knew the fault (its first error mark; if the user was still talking then,
    when they finished), else (a fault it shrugs off) the end of the first turn's reply."""
    errors = result.events.named("error")
    if not errors:
        return result.events.first("playback_end", 1)["t"]
    error = errors[0]
    # A server that asked to wait (Retry-After) is not back, as far as the device may know, before that.
    cleared = error["t"] + (CASES[result.name].faults.retry_after_s or 0)
    if error["state"] == "listening":
        return max(cleared, result.events.last("speech_end", error["turn"])["t"])
    return cleared


def assert_back_to_listening(result: FaultResult, since: float) -> None:
    ready = result.wake_ready_after(since)
    assert ready is not None and ready - since <= BACK_WITHIN_S, (
        f"not {WAKE_READY!r} within {BACK_WITHIN_S} s of {since:.2f} (got {ready})\n{result.explain()}")


def assert_given_up_at_the_deadline(result: FaultResult, since: float) -> None:
    """The stalled session was dropped at the stall deadline (voicelive.stall_timeout_s after its
    last event), not when the 10 s stall ended nor at the 15 s reply timeout."""
    error = result.events.first("error", 1)
    stall_timeout_s = VoiceLiveConfig.__dataclass_fields__["stall_timeout_s"].default
    assert f"did not answer within {stall_timeout_s:g} s" in error["message"], result.explain()
    assert error["t"] - since < CASES[result.name].faults.stall_s / 2, result.explain()


def check_common(runs: Runs, name: str) -> FaultResult:
    result = runs[name]
    assert_clean_exit(result)
    assert_every_question_answered(result, CASES[name])
    assert_no_leaks(result)
    return result


# --- the cases ------------------------------------------------------------------------------------


def test_rejected_credentials_show_an_error_without_a_retry_storm(runs: Runs) -> None:
    result = check_common(runs, "auth")
    # Three wakes, two connections (three at most): the refused spare and, after error_retry_s, the
    # one that works; a wake in the error state does not connect.
    assert result.rejected == [401] and result.connections <= 3, result.explain()
    assert any(text.startswith("error: credentials rejected") for _, text in result.statuses()), result.explain()
    assert re.search(r"WARNING .*rejected the credentials \(HTTP 401\)", result.stderr), result.explain()
    assert "status LEDs: listening on 5, thinking on 6, speaking on 13, error on 26" in result.stderr
    leds = [r["led"] for r in result.events.named("state")]  # what the LEDs showed from each state on
    assert "error" in leds and leds[-1] != "error", leds
    # The wakes while refused are answered by the cached phrase without a turn (nothing is sent);
    # the third wake, after the retry, is turn 1 and the service answers it.
    assert [r["turn"] for r in result.events.named("wake")] == [0, 0, 1], result.explain()
    assert len(result.events.named("cached_playback_start", 0)) == 2, result.explain()
    assert result.events.first("playback_end", 1) and len(result.sessions) == 1
    # The error state is shown within the limit, and the retry brings the wake word back at once.
    detected = fault_detected_at(result)
    assert any(text.startswith("error:") and at - detected <= BACK_WITHIN_S for at, text in result.statuses())
    retry = next(r["t"] for r in result.events.named("state") if r["previous"] == "error")
    assert_back_to_listening(result, retry)


@pytest.mark.parametrize("name", ["throttled", "http500", "http503"])
def test_a_refused_handshake_is_answered_from_the_cache_then_the_service_again(runs: Runs, name: str) -> None:
    result = check_common(runs, name)
    # The refused connect; then only the background checks, which send no credentials (401).
    assert result.rejected[0] == CASES[name].faults.reject_status, result.explain()
    assert set(result.rejected[1:]) <= {401} and len(result.rejected) <= 3, result.explain()
    assert_back_to_listening(result, fault_detected_at(result))
    # The second turn is the service's.
    assert result.events.first("playback_end", 2) and not result.events.named("offline_reply", 2)


@pytest.mark.parametrize("name", ["drop_reply", "error_event", "stall_mid_reply"])
def test_a_reply_that_dies_mid_way_ends_with_the_cached_phrase(runs: Runs, name: str) -> None:
    result = check_common(runs, name)
    events = result.events
    if name == "stall_mid_reply":
        assert_given_up_at_the_deadline(result, since=events.first("reply_audio_first", 1)["t"])
    # What arrived of the reply played, then a cached phrase (queued after what arrived, or instead
    # of the rest: a failed response is cut off).
    cached = events.named("offline_reply", 1) + events.named("cached_playback_start", 1)
    assert cached and events.first("playback_start", 1)["t"] < cached[0]["t"], result.explain()
    assert not events.named("playback_end", 1), "the live reply never finished"
    assert_back_to_listening(result, fault_detected_at(result))
    assert events.first("playback_end", 2) and not events.named("offline_reply", 2)


def test_a_drop_while_the_user_talks_is_answered_when_they_finish(runs: Runs) -> None:
    result = check_common(runs, "drop_utterance")
    assert result.sessions[0].dropped, result.explain()
    reply = result.events.first("offline_reply", 1)
    assert reply["t"] >= result.events.last("speech_end", 1)["t"], result.explain()
    assert_back_to_listening(result, fault_detected_at(result))
    assert result.events.first("playback_end", 2)


@pytest.mark.parametrize("name", ["malformed_json", "unknown_event"])
def test_bad_frames_are_ignored_and_the_reply_plays_on(runs: Runs, name: str) -> None:
    result = check_common(runs, name)
    events = result.events
    assert events.first("playback_end", 1) and not events.named("offline_reply"), result.explain()
    assert not events.named("error"), result.explain()
    if name == "malformed_json":
        assert "malformed" in result.stderr, result.explain()
    assert_back_to_listening(result, fault_detected_at(result))


def test_short_sessions_are_renewed_without_a_reconnect_loop(runs: Runs) -> None:
    result = check_common(runs, "short_sessions")
    # About one session per half-life while idle (the recording is 12.5 s), not one per loop turn.
    assert result.connections <= 8, result.explain()
    assert_back_to_listening(result, fault_detected_at(result))


def test_an_expired_session_is_replaced_for_the_next_turn(runs: Runs) -> None:
    result = check_common(runs, "expiry")
    first = result.sessions[0]
    assert first.closed and "error" in first.server_events, result.explain()
    assert len(result.sessions) >= 2 and result.sessions[1].events("input_audio_buffer.commit"), result.explain()
    assert_back_to_listening(result, fault_detected_at(result))
    assert result.events.first("playback_end", 2)


def test_a_server_that_stalls_before_the_reply_is_given_up_at_the_deadline(runs: Runs) -> None:
    result = check_common(runs, "stall_before_audio")
    events = result.events
    assert_given_up_at_the_deadline(result, since=events.first("commit", 1)["t"])
    assert events.first("offline_reply", 1)
    assert_back_to_listening(result, events.first("error", 1)["t"])
    assert events.first("playback_end", 2)


def test_a_slow_server_still_answers_live(runs: Runs) -> None:
    result = check_common(runs, "slow")
    events = result.events
    assert events.first("playback_end", 1) and events.first("playback_end", 2), result.explain()
    assert not events.named("offline_reply") and not events.named("error"), result.explain()
    assert_back_to_listening(result, fault_detected_at(result))


def test_a_server_slower_than_the_deadline_is_answered_from_the_cache(runs: Runs) -> None:
    result = check_common(runs, "slow_beyond_deadline")
    events = result.events
    assert "took longer than" in events.first("error")["message"], result.explain()
    assert events.first("offline_reply", 1)
    assert_back_to_listening(result, fault_detected_at(result))
    assert events.first("playback_end", 2) and not events.named("offline_reply", 2)


def test_every_run_used_the_planted_key(runs: Runs) -> None:
    """The leak checks mean something: each emulator accepts only the planted key, and every run
    opened a session with it."""
    opened = {name: len(runs[name].sessions) for name in CASES}
    assert all(opened.values()), opened
