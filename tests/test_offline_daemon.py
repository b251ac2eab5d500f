"""The daemon when Voice Live cannot answer: real runs on spoken recordings against real failures.

A refused port, a server that accepts TCP and never answers, a name that does not resolve, a
connection dropped mid-reply, a 429 storm followed by recovery, rejected credentials, the cache
warmed in the assistant's voice and then used when the network silently dies, and the latency
measurement. Every run is the real Daemon (in-process, at real-time pace, output recorded to a
WAV on the input's clock); they start together when the module starts and each test waits for
its own, so the module costs about as long as its longest run.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from daemon_helpers import Recordings, Say, recordings  # noqa: F401 - fixture
from edgevoice.audio.speech import Speech
from edgevoice.bench.blackhole import BlackholeRelay
from edgevoice.offline.cache import PhraseCache, Status, VoiceKey
from edgevoice.offline.connectivity import Reach
from edgevoice.bench.offline_latency import OfflineLatency, measure_offline_latency
from edgevoice.voicelive.emulator import Emulator, FaultPlan
from edgevoice.voicelive.errors import AuthRejected, ConnectTimeout, NetworkError, Throttled
from edgevoice.assistant.state import State
from offline_helpers import KEY, PHRASES, OfflineRun, audible_spans, closed_port_url, wait_for

WAKE = "okay nabu"  # about 0.8 s of espeak-ng speech
QUESTION = "what time is it"  # about 0.9 s
NOON = "It is noon."
LONG = ("Here is the whole forecast for the week: tomorrow will be sunny in the morning and cloudy in "
        "the afternoon, with a little rain in the evening.")
RETRY_AFTER_S = 3
STORM_ENDS_AT = 6.0  # seconds into the recording: the service stops throttling


def turn(at: float) -> tuple[Say, Say]:
    return Say(at, WAKE), Say(at + 1.2, QUESTION)


@functools.cache
def phrase_seconds(text: str) -> float:
    """How long the local voice takes to say ``text`` (the fallback the daemon plays)."""
    return len(Speech().render(text, 16000)) / 2 / 16000


class Runs:
    """Every run of the module, started at once; ``runs[name].result()`` waits for one."""

    def __init__(self, rec: Recordings, base: Path) -> None:
        self.emulators: list[Emulator] = []
        self.relays: list[BlackholeRelay] = []
        self.runs: dict[str, OfflineRun] = {}
        self.warm_log: dict[str, float] = {}
        self.measured: dict[str, OfflineLatency | BaseException] = {}
        one = rec.make("offline-one-turn", 5.5, *turn(1.0))
        two = rec.make("offline-two-turns", 12.5, *turn(1.0), *turn(9.0))

        self.add("refused", one, closed_port_url(), base)
        self.add("dns", one, "https://edgevoice-offline-test.invalid", base)
        hang = self.emulator(faults=FaultPlan(hang_on_connect=True))
        self.add("hang", one, hang.url, base, tables={"assistant": {"prewarm": False}})
        drop = self.emulator(pacing="realtime", replies=[LONG], faults=FaultPlan(drop_after_audio_deltas=4, connections=1))
        self.add("drop", one, drop.url, base)
        storm = self.emulator(replies=[NOON], faults=FaultPlan(reject_status=429, retry_after_s=RETRY_AFTER_S))
        self.add("storm", two, storm.url, base, during=functools.partial(self._end_storm, storm))
        auth = self.emulator()
        self.add("auth", one, auth.url, base, key="not-the-key")
        warm = self.emulator(replies=[NOON])
        relay = BlackholeRelay(warm.port).start()
        self.relays.append(relay)
        self.add("warm", two, relay.url, base, tables={"offline": {"warm": True}},
                 during=functools.partial(self._cut_after_warm, relay, warm))
        self.by_name = {"hang": hang, "drop": drop, "storm": storm, "auth": auth, "warm": warm}
        self._measure_thread = threading.Thread(target=self._measure, args=(base / "measure",), daemon=True)
        self._measure_thread.start()
        for run in self.runs.values():
            run.start()

    def emulator(self, **kwargs) -> Emulator:
        emu = Emulator(api_key=KEY, **kwargs).start()
        self.emulators.append(emu)
        return emu

    def add(self, name: str, scene, endpoint: str, base: Path, **kwargs) -> None:
        self.runs[name] = OfflineRun(name, scene, endpoint, base / name, **kwargs)

    @staticmethod
    def _end_storm(emu: Emulator, daemon) -> None:
        """Every connection is throttled until STORM_ENDS_AT; then the service is fine again."""
        wait_for(lambda: daemon.frontend.t >= STORM_ENDS_AT, timeout=30)
        emu.set_faults(FaultPlan())

    def _cut_after_warm(self, relay: BlackholeRelay, emu: Emulator, daemon) -> None:
        """Once the phrases are cached and turn 1 is over, the network silently dies."""
        wait_for(lambda: not daemon.phrases.missing() and daemon.telemetry.turn >= 1 and daemon.state is State.IDLE
                 and not daemon.speaker.playing, timeout=8.0)
        self.warm_log["cut"] = time.monotonic()
        relay.cut()

    def _measure(self, workdir: Path) -> None:
        try:
            self.measured["result"] = measure_offline_latency(workdir)
        except BaseException as exc:  # reported by the test
            self.measured["result"] = exc

    def measurement(self) -> OfflineLatency:
        self._measure_thread.join(timeout=90)
        result = self.measured.get("result")
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, OfflineLatency), "the measurement did not finish"
        return result

    def close(self) -> None:
        for run in self.runs.values():
            try:
                run.result(timeout=90)
            except BaseException:
                pass
        for relay in self.relays:
            relay.stop()
        for emu in self.emulators:
            emu.stop()


@pytest.fixture(scope="module")
def runs(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:  # noqa: F811
    all_runs = Runs(recordings, tmp_path_factory.mktemp("offline-runs"))
    yield all_runs
    all_runs.close()


def answered_from_cache(result, turn: int = 1, kind: str = "offline", phrase: str = "offline") -> dict:
    """The turn was answered by a cached phrase that was then heard; returns its offline_reply record."""
    reply = result.events.first("offline_reply", turn)
    assert (reply["kind"], reply["phrase"]) == (kind, phrase), result.explain()
    assert result.events.first("cached_playback_start", turn)["t"] > result.events.first("gate_open", turn)["t"]
    assert not result.events.named("commit", turn), "nothing was sent"
    return reply


# --- the service cannot be reached ------------------------------------------------------------


@pytest.mark.parametrize("name, error", [("refused", NetworkError), ("dns", NetworkError)])
def test_an_unreachable_service_is_answered_from_the_cache(runs: Runs, name: str, error: type) -> None:
    result = runs.runs[name].result()
    assert result.code == 0, result.explain()
    answered_from_cache(result)
    assert "offline" in result.events.states() and "error" not in result.events.states()
    # The spare session at start and the wake's own try: both real attempts, both failed fast.
    assert len(result.attempts) >= 2 and all(isinstance(a.error, error) for a in result.attempts), result.explain()
    why = "connection refused" if name == "refused" else "cannot resolve"
    assert why in result.events.first("error", 1)["message"]
    # The phrase is heard after the question, not before.
    question = runs.runs[name].scene.utterance(QUESTION)
    spans = audible_spans(result.output)
    assert spans and spans[0][0] >= question.end, spans
    assert spans[0][1] - spans[0][0] == pytest.approx(phrase_seconds(PHRASES["offline"]), abs=0.3)
    # While offline the device looks for the service in the background (a check, not a session).
    offline = result.daemon.offline
    assert offline.connectivity.status is Reach.OFFLINE
    assert offline.probes >= 1 or offline.connectivity.next_probe is not None


def test_a_server_that_accepts_tcp_and_never_answers_fails_at_the_connect_deadline(runs: Runs) -> None:
    result = runs.runs["hang"].result()
    assert result.code == 0, result.explain()
    # No spare session: the device believed the service was there until the wake's connect failed.
    attempt = result.attempts[0]
    assert isinstance(attempt.error, ConnectTimeout), result.explain()
    assert attempt.ended - attempt.started >= 1.5  # the hard deadline, not the OS's minutes
    assert "took longer than 1.5 s" in result.events.first("error", 1)["message"]
    answered_from_cache(result)
    assert runs.by_name["hang"].hung >= 1


def test_a_reply_cut_off_mid_stream_ends_with_the_cached_error_phrase(runs: Runs) -> None:
    result = runs.runs["drop"].result()
    assert result.code == 0, result.explain()
    events = result.events
    assert events.first("playback_start", 1)["t"] < events.first("offline_reply", 1)["t"]
    reply = events.first("offline_reply", 1)
    assert (reply["kind"], reply["phrase"]) == ("offline", "service_error")
    assert "connection lost" in events.first("error", 1)["message"]
    assert not events.named("playback_end", 1), "the live reply never finished"
    assert runs.by_name["drop"].session(0).dropped
    # What arrived of the reply (4 deltas of 100 ms) played, then the phrase followed without a gap.
    spans = audible_spans(result.output)
    assert spans and spans[0][0] > runs.runs["drop"].scene.utterance(QUESTION).end
    heard = spans[0][1] - spans[0][0]
    assert heard == pytest.approx(0.4 + phrase_seconds(PHRASES["service_error"]), abs=0.35), spans
    # A lost connection is no proof of an outage: the device is not shown offline; a check is due.
    assert "offline" not in events.states()
    offline = result.daemon.offline
    assert offline.connectivity.status is Reach.DEGRADED or offline.probes >= 1


def test_a_429_storm_is_waited_out_and_the_next_wake_uses_the_service(runs: Runs) -> None:
    result = runs.runs["storm"].result()
    assert result.code == 0, result.explain()
    # Turn 1 comes while the service asks to wait: "busy", and no connection is tried for it.
    answered_from_cache(result, 1, kind="throttled", phrase="busy")
    # Retry-After is honoured: after a 429 nothing connects before it has passed.
    attempts = result.attempts
    for before, after in zip(attempts, attempts[1:]):
        if isinstance(before.error, Throttled):
            assert before.error.retry_after == RETRY_AFTER_S
            assert after.started >= before.ended + RETRY_AFTER_S, result.explain()
    throttled = [a for a in attempts if isinstance(a.error, Throttled)]
    assert 1 <= len(throttled) <= 3 and len(attempts) <= 5, result.explain()
    assert attempts[-1].error is None, result.explain()
    # Recovery without a restart: turn 2 goes to the service and its reply is played.
    events = result.events
    assert events.first("commit", 2) and events.first("playback_start", 2) and events.first("playback_end", 2)
    assert not events.named("offline_reply", 2)
    emu = runs.by_name["storm"]
    assert any(s.events("input_audio_buffer.commit") for s in emu.sessions)
    assert result.daemon.offline.connectivity.status is Reach.ONLINE


def test_rejected_credentials_are_an_error_state_not_offline(runs: Runs) -> None:
    result = runs.runs["auth"].result()
    assert result.code == 0, result.explain()
    states = result.events.states()
    assert "error" in states and "offline" not in states
    # Only the spare session tried: the wake in the error state says so without connecting again.
    assert [type(a.error) for a in result.attempts] == [AuthRejected]
    assert runs.by_name["auth"].rejected == [401]
    assert not result.events.named("offline_reply")
    assert result.events.named("cached_playback_start")  # "something went wrong", said without a turn
    assert result.daemon.offline.probes == 0 and result.daemon.offline.connectivity.online


# --- the cache in the assistant's voice ----------------------------------------------------------


def test_the_cache_is_warmed_after_a_turn_and_speaks_when_the_network_dies(runs: Runs) -> None:
    result = runs.runs["warm"].result()
    assert result.code == 0, result.explain()
    events = result.events
    emu = runs.by_name["warm"]
    # Once the first session opened, one more session rendered every phrase as a pre-generated message.
    assert events.first("playback_end", 1)
    render = emu.sessions[1]
    texts = [e["response"]["pre_generated_assistant_message"]["content"][0]["text"] for e in render.events("response.create")]
    phrases = result.daemon.phrases.texts
    assert sorted(texts) == sorted(phrases.values())
    assert not render.events("input_audio_buffer.append"), "rendering sends no microphone audio"
    cache = PhraseCache(runs.runs["warm"].directory / "cache")
    voice = VoiceKey.from_config(runs.runs["warm"].config.voicelive)
    assert {s.name: s.status for s in cache.states(phrases, voice)} == {name: Status.CACHED for name in phrases}
    # Turn 2: the warm session went silent; the device answers in the assistant's own voice.
    answered = events.first("offline_reply", 2)
    assert answered["phrase"] == "offline" and events.first("commit", 2)["t"] < answered["t"]
    assert result.daemon.phrases.source_of("offline") == "cache"
    # What the speaker played after the second question is, sample for sample, the cached phrase.
    cached = np.frombuffer(cache.load("offline", phrases["offline"], voice).pcm, "<i2")
    out = (result.output.samples * 32768).astype(np.int16)
    second_question = [p for p in runs.runs["warm"].scene.said if p.text == QUESTION][-1]
    after = int(second_question.end * 16000)
    first = after + int(np.flatnonzero(out[after:])[0]) - int(np.flatnonzero(cached)[0])
    assert np.array_equal(out[first : first + len(cached)], cached)


# --- the two latencies ------------------------------------------------------------------------------


def test_the_two_offline_latencies_are_measured(runs: Runs) -> None:
    latency = runs.measurement()
    # Figures, not thresholds (`edgevoice bench` judges them); the device cannot know before its deadline.
    assert latency.known_offline_ms >= 0
    assert latency.unknown_offline_ms >= latency.connect_timeout_s * 1000
    assert "when the device knew it was offline" in str(latency)
