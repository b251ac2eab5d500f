"""Offline answers end to end: the real ``edgevoice run --input-wav`` with the service unreachable.

The recording holds two turns: a configured question (asked in other words than the config's)
and a question nobody configured. Nothing listens on the endpoint's port, so the device knows
it is offline from the start; it recognises each question on the device and plays the cached
answer (a tone stored in the cache beforehand, in place of the assistant's rendered voice, so
the output shows which audio played) or the apology.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from daemon_helpers import BackgroundRun, Recordings, Run, Say, Scenario, recordings, reply_seconds  # noqa: F401 - fixture
from edgevoice.config.load import load_config
from edgevoice.offline.cache import PhraseCache, VoiceKey
from edgevoice.playback.sound import Sound

ANSWERS = [
    {"id": "wifi", "questions": ["what is the wifi password", "how do I get on the wifi"],
     "answer": "The password is on the card by the door."},
    {"id": "toilets", "questions": ["where are the toilets", "where is the bathroom"], "answer": "Down the hall."},
    {"id": "hours", "questions": ["when do you close", "what are your opening hours"], "phrase": "hours"},
]
PHRASES = {"offline": "Sorry, I am offline.", "hours": "We are open from nine to five."}
WIFI_ASKED = "what's the wifi password"  # not the config's words
UNCONFIGURED = "tell me a joke"
TONE_HZ, TONE_S = 440.0, 1.2


def tone() -> Sound:
    t = np.arange(int(16000 * TONE_S)) / 16000
    return Sound((np.sin(2 * np.pi * TONE_HZ * t) * 8000).astype(np.int16).tobytes(), 16000)


def cache_the_wifi_answer(cache_dir: Path, config_file: Path) -> None:
    """The wifi answer as if rendered in the assistant's voice while online: a tone, so it can be told apart."""
    config = load_config(config_file, environ={})
    PhraseCache(cache_dir).store("answer:wifi", ANSWERS[0]["answer"], VoiceKey.from_config(config.voicelive), tone())


@pytest.fixture(scope="module")
def started(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BackgroundRun]]:  # noqa: F811
    """Both runs of this module, started together (each takes real time); each test reads its own."""
    started: dict[str, BackgroundRun] = {}
    try:
        started["answers"] = answers_run(recordings, tmp_path_factory.mktemp("offline-answers"))
        started["learned"] = learned_background(recordings, tmp_path_factory.mktemp("offline-learned"))
        yield started
    finally:
        for background in started.values():
            background.close()


def answers_run(recordings: Recordings, base: Path) -> BackgroundRun:  # noqa: F811
    """The service unreachable from the start: the wifi question (its answer cached), then a joke."""
    cache_dir = base / "cache"
    cache_dir.mkdir()
    scene = recordings.make("offline-answers", 12.5, Say(1.0, "okay nabu"), Say(2.2, WIFI_ASKED),
                            Say(7.0, "okay nabu"), Say(8.2, UNCONFIGURED))
    tables = {"offline": {"cache_dir": str(cache_dir), "phrases": PHRASES, "answers": ANSWERS}}
    scenario = Scenario(scene, offline=True, tables=tables, prepare=functools.partial(cache_the_wifi_answer, cache_dir))
    return BackgroundRun("offline-answers", scenario, base / "run")


@pytest.fixture(scope="module")
def run(started: dict[str, BackgroundRun]) -> Run:
    return started["answers"].result()


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_a_configured_question_asked_offline_gets_its_cached_answer(run: Run) -> None:
    assert run.code == 0, run.explain()
    reply = run.events.first("offline_reply", 1)
    assert (reply["kind"], reply["id"], reply["failure"]) == ("answer", "wifi", "offline"), run.explain()
    assert "wifi" in reply["heard"] and reply["score"] >= 0.75
    assert not run.events.named("commit"), "nothing was sent"
    # The cached answer (the tone), not the local voice, is what the speaker played after the question.
    assert run.scene is not None and run.output is not None
    asked = run.scene.utterance(WIFI_ASKED)
    spans = [s for s in run.output.spans() if asked.end <= s[0] < 7.0]
    assert len(spans) == 1, run.output.spans()
    start, end = spans[0]
    assert end - start == pytest.approx(TONE_S, abs=0.05)
    rate = run.output.rate
    assert dominant_hz(run.output.samples[int(start * rate):int(end * rate)], rate) == pytest.approx(TONE_HZ, abs=5)
    # The hypothesis is in the log; STATUS says the device answers from its cache.
    assert "offline question: heard" in run.stderr and "answer 'wifi'" in run.stderr
    assert "state: offline: answering from cache" in run.stderr


def test_a_question_nobody_configured_gets_the_apology(run: Run) -> None:
    reply = run.events.first("offline_reply", 2)
    assert (reply["kind"], reply["phrase"], reply["failure"]) == ("apology", "offline", "offline"), run.explain()
    assert "heard" in reply and reply["score"] < 0.75
    assert run.events.first("cached_playback_start", 2)["t"] > run.events.first("gate_open", 2)["t"]


# --- a learned answer --------------------------------------------------------------------------

LEARNED_REPLY = "The password is on the card by the door."
LEARN_QUESTION = "what's the wifi password"


def stop_service_after_two_answers(run: BackgroundRun) -> None:
    """Once the second live reply has played to the end, the service goes away (its port refuses)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if run.events_path.exists() and run.events_path.read_text().count('"playback_end"') >= 2:
            assert run.emulator is not None
            run.emulator.stop()
            return
        time.sleep(0.05)


def learned_background(recordings: Recordings, base: Path) -> BackgroundRun:  # noqa: F811
    """The same question three times: answered live twice (and learned), then the service goes away."""
    cache_dir = base / "cache"
    cache_dir.mkdir()
    says = [Say(at, text) for t in (1.0, 9.0, 19.0) for at, text in ((t, "okay nabu"), (t + 1.2, LEARN_QUESTION))]
    scene = recordings.make("offline-learned", 26.0, *says)
    tables = {"offline": {"cache_dir": str(cache_dir), "phrases": PHRASES, "learn": True, "learn_min_count": 2}}
    scenario = Scenario(scene, tables=tables, replies=(LEARNED_REPLY,) * 2,
                        transcripts=("what is the wifi password",) * 2)
    background = BackgroundRun("offline-learned", scenario, base / "run")
    threading.Thread(target=stop_service_after_two_answers, args=(background,), daemon=True).start()
    return background


@pytest.fixture(scope="module")
def learned_run(started: dict[str, BackgroundRun]) -> Run:
    background = started["learned"]
    result = background.result()
    result.cache_dir = background.directory.parent / "cache"  # type: ignore[attr-defined]
    return result


def test_a_question_learned_online_is_answered_offline_with_the_reply_it_had(learned_run: Run) -> None:
    run = learned_run
    assert run.code == 0, run.explain()
    assert len(run.events.named("playback_end")) == 2 and len(run.sessions) >= 1, run.explain()
    learned = json.loads((run.cache_dir / "learned" / "learned.json").read_text())  # type: ignore[attr-defined]
    (entry,) = learned["entries"]
    assert entry["question"] == "what is the wifi password" and entry["count"] == 2 and entry["reply"] == LEARNED_REPLY
    reply = run.events.first("offline_reply", 3)
    assert (reply["kind"], reply["id"]) == ("answer", f"learned:{entry['id']}"), run.explain()
    assert "wifi" in reply["heard"]
    # What played is the service's own reply from turn 2, not the apology.
    assert run.scene is not None and run.output is not None
    asked = [p for p in run.scene.said if p.text == LEARN_QUESTION][2]
    spans = [s for s in run.output.spans() if s[0] >= asked.end]
    assert len(spans) == 1 and spans[0][1] - spans[0][0] == pytest.approx(reply_seconds(LEARNED_REPLY), abs=0.3), spans
