"""Cost end to end: the real ``edgevoice run --input-wav`` against the emulator's usage figures.

Usage and cost per turn in the events file and per day in the ledger (surviving a restart, and
agreeing with ``edgevoice cost``); the budget crossed mid-day switching the next conversation to
the cheaper model, or to cached replies; the context cap starting a fresh session that carries
the last exchange. The runs of this module start together (``runs``); each test reads its own.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from daemon_helpers import EDGEVOICE, BackgroundRun, Recordings, Run, Say, Scenario, StartedRuns, recordings  # noqa: F401

from edgevoice.cost.ledger import Ledger
from edgevoice.cost.usage import KINDS, Tokens

WAKE, QUESTION, LATER = "okay nabu", "what time is it", "and tomorrow"
REPLY = "It is noon."
PRICES = {"currency": "EUR", "input_audio": 40.0, "cached_audio": 2.5, "input_text": 4.4, "cached_text": 2.2,
          "output_text": 17.5, "output_audio": 35.0}
# One turn costs about 0.002 EUR at these prices: a budget of 0.001 is spent by the first reply.
TINY_BUDGET = 0.001


def tables(state: Path, **cost: Any) -> dict[str, dict[str, Any]]:
    return {"cost": {**PRICES, "state_dir": str(state), **cost},
            "assistant": {"follow_up_s": 1.5, "idle_timeout_s": 5.0}}


def scenarios(rec: Recordings, base: Path) -> dict[str, Scenario]:
    two_turns = rec.make("cost-two-turns", 9.0, Say(0.5, WAKE), Say(2.2, QUESTION), Say(6.5, WAKE), Say(8.0, LATER))
    # The second visitor comes after the idle reset (about 5 s after the first reply): a new conversation.
    visitors = rec.make("cost-two-visitors", 19.0, Say(0.5, WAKE), Say(2.2, QUESTION), Say(14.0, WAKE), Say(15.7, LATER))
    replies = (REPLY, "Tomorrow it is noon again.")
    cheaper = tables(base / "cheaper" / "state", daily_budget=TINY_BUDGET, over_budget="cheaper_model",
                     cheaper_model="gpt-realtime-mini")
    capped = tables(base / "capped" / "state")
    capped["assistant"]["max_turns_per_conversation"] = 1
    return {
        "usage": Scenario(two_turns, replies=replies, tables={**tables(base / "usage" / "state"),
                                                              "metrics": {"textfile": str(base / "usage" / "edgevoice.prom")}}),
        "cheaper": Scenario(visitors, replies=replies, tables=cheaper),
        "cached_only": Scenario(visitors, replies=replies,
                                tables=tables(base / "cached_only" / "state", daily_budget=TINY_BUDGET, over_budget="cached_only")),
        "capped": Scenario(two_turns, replies=replies, tables=capped, transcripts=(QUESTION, LATER)),
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cost-runs")


@dataclass(frozen=True)
class MidnightRun:
    """A restart on a day whose budget is already spent, with the daemon's local midnight 8 s after it starts."""

    background: BackgroundRun
    state: Path
    yesterday: str  # the local day it starts in
    today: str


def start_midnight(recordings: Recordings, base: Path) -> MidnightRun:  # noqa: F811
    # The daemon's local midnight comes 8 s after it starts: a time zone whose offset puts it there.
    start = datetime.datetime.now(datetime.UTC)
    midnight = start + datetime.timedelta(seconds=8)
    offset = (midnight - midnight.replace(hour=0, minute=0, second=0, microsecond=0)).seconds
    yesterday = (midnight - datetime.timedelta(seconds=offset + 1)).date().isoformat()  # the local day it starts in
    today = (datetime.date.fromisoformat(yesterday) + datetime.timedelta(days=1)).isoformat()
    state = base / "midnight" / "state"
    spent = Ledger.open(state, "EUR")
    spent.record(Tokens(input_audio=100_000), 4.0, yesterday)  # already past the budget of that day
    scene = recordings.make("cost-midnight", 19.0, Say(0.5, WAKE), Say(2.2, QUESTION), Say(14.0, WAKE), Say(15.7, LATER))
    cheaper = tables(state, daily_budget=1.0, over_budget="cheaper_model", cheaper_model="gpt-realtime-mini")
    with pytest.MonkeyPatch.context() as patch:  # the daemon's environment, not this process's
        patch.setenv("TZ", f"EVT+{offset // 3600:02d}:{offset // 60 % 60:02d}:{offset % 60:02d}")
        background = BackgroundRun("midnight", Scenario(scene, replies=(REPLY, "Tomorrow it is noon again."),
                                                        tables=cheaper), base / "midnight" / "run")
    return MidnightRun(background, state, yesterday, today)


@pytest.fixture(scope="module")
def midnight(recordings: Recordings, base: Path) -> Iterator[MidnightRun]:  # noqa: F811
    started = start_midnight(recordings, base)
    try:
        yield started
    finally:
        started.background.close()


@pytest.fixture(scope="module")
def runs(recordings: Recordings, base: Path, midnight: MidnightRun) -> Iterator[dict[str, BackgroundRun]]:  # noqa: F811
    """Every run of this module, started together with ``midnight``: each takes real time."""
    with StartedRuns() as started:
        for name, scenario in scenarios(recordings, base).items():
            started.start(name, scenario, base / name / "run")
        yield started



def finished(runs: dict[str, BackgroundRun], name: str) -> Run:
    run = runs[name].result()
    assert run.code == 0, run.explain()
    return run


def ledger(state: Path) -> dict[str, Any]:
    return json.loads((state / "usage.json").read_text())


def cost_json(config: Path, *more: str) -> dict[str, Any]:
    done = subprocess.run([*EDGEVOICE, "cost", "--json", "--config", str(config), *more], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_usage_and_cost_per_turn_and_per_day_survive_a_restart(runs, base) -> None:
    run = finished(runs, "usage")
    usage = run.events.named("turn_usage")
    assert [r["turn"] for r in usage] == [1, 2], run.explain()
    for record in usage:
        assert record["input_audio"] > 0 and record["output_audio"] > 0 and record["input_text"] > 0
        assert record["cost"] > 0 and record["currency"] == "EUR" and record["model"] == "gpt-realtime"
    # The second reply reads the first turn again: its input (the context) is larger.
    context = [r["input_text"] + r["input_audio"] + r["cached_text"] + r["cached_audio"] for r in usage]
    assert context[1] > context[0]
    assert usage[1]["day_cost"] == pytest.approx(usage[0]["cost"] + usage[1]["cost"], abs=2e-6)
    state = base / "usage" / "state"
    book = ledger(state)
    (day, today), = book["days"].items()
    assert today["responses"] == 2 and today["conversations"] == 1
    assert today["cost"] == pytest.approx(usage[1]["day_cost"], abs=2e-6)
    for kind in KINDS:
        assert today["tokens"][kind] == sum(r[kind] for r in usage)
    # A restart: the same day goes on from what was kept.
    config = base / "usage" / "run" / "edgevoice.toml"
    again = BackgroundRun("usage-again", runs["usage"].scenario, base / "usage" / "again").result()
    assert again.code == 0, again.explain()
    second = again.events.named("turn_usage")
    assert len(second) == 2
    assert second[0]["day_cost"] == pytest.approx(today["cost"] + second[0]["cost"], abs=2e-6)
    book = ledger(state)
    assert book["days"][day]["responses"] == 4 and book["days"][day]["conversations"] == 2
    # edgevoice cost reads the same ledger: its total is what the metrics count.
    report = cost_json(config, "--days", "1")
    assert [d["day"] for d in report["days"]] == [day] and report["days"][0]["responses"] == 4
    all_records = usage + second
    assert report["total"]["cost"] == pytest.approx(sum(r["cost"] for r in all_records), abs=1e-5)
    assert report["total"]["tokens"] == {k: sum(r[k] for r in all_records) for k in KINDS}
    # ... and so does the metrics file the daemon wrote ([metrics] textfile), read with Prometheus's parser.
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families((base / "usage" / "edgevoice.prom").read_text())
               for s in family.samples}
    assert samples[("edgevoice_cost_total", (("currency", "EUR"),))] == pytest.approx(report["total"]["cost"], abs=2e-6)
    for kind in KINDS:
        assert samples[("edgevoice_tokens_total", (("kind", kind),))] == report["total"]["tokens"][kind]


def session_of_turn(run: Run, n: int) -> Any:
    """The emulator session that received the n-th commit (1-based) of the run."""
    committed = [s for s in run.sessions for _ in s.events("input_audio_buffer.commit")]
    assert len(committed) >= n, run.explain()
    return committed[n - 1]


def test_the_budget_crossed_mid_day_switches_the_next_conversation_to_the_cheaper_model(runs) -> None:
    run = finished(runs, "cheaper")
    budget = run.events.first("budget")
    assert budget["level"] == "over" and budget["over_budget"] == "cheaper_model"
    assert session_of_turn(run, 1).model == "gpt-realtime"
    assert session_of_turn(run, 2).model == "gpt-realtime-mini", [s.model for s in run.sessions]
    usage = run.events.named("turn_usage")
    assert [r["model"] for r in usage] == ["gpt-realtime", "gpt-realtime-mini"]
    # Never mid-reply: the first conversation's session served its whole reply.
    assert session_of_turn(run, 1).responses[0]["status"] == "completed"


def test_the_budget_crossed_with_cached_only_answers_the_next_visitor_with_the_resting_phrase(runs) -> None:
    run = finished(runs, "cached_only")
    assert run.events.first("budget")["level"] == "over"
    assert len(run.events.named("turn_usage")) == 1, "the second visitor costs nothing"
    commits = [s for s in run.sessions if s.events("input_audio_buffer.commit")]
    assert len(commits) == 1, run.explain()
    resting = run.events.first("offline_reply", 2)
    assert resting["kind"] == "resting" and resting["phrase"] == "resting"
    assert len(run.sessions) == 1, "no session is opened while resting"
    assert "state: resting: the daily budget is spent" in run.stderr  # STATUS= says so too


def test_the_context_cap_starts_a_fresh_session_with_the_last_exchange(runs) -> None:
    run = finished(runs, "capped")
    reset = run.events.first("context_reset", 1)
    assert reset["turns"] == 1 and reset["carry_summary"] is True
    first, second = session_of_turn(run, 1), session_of_turn(run, 2)
    assert first is not second
    carried = [e for e in second.events("conversation.item.create") if e["item"].get("role") == "user"]
    assert len(carried) == 1, [e.get("type") for e in second.client_events]
    text = carried[0]["item"]["content"][0]["text"]
    assert QUESTION in text and REPLY in text
    # The carried summary costs text tokens; the first turn's audio (question and reply) is not read again.
    usage = run.events.named("turn_usage")
    assert usage[1]["input_text"] > usage[0]["input_text"]
    assert usage[1]["input_audio"] < usage[0]["input_audio"] + usage[0]["output_audio"] // 2


def test_a_restart_past_the_budget_keeps_to_it_and_midnight_starts_the_budget_again(midnight: MidnightRun) -> None:
    run = midnight.background.result()
    state, yesterday, today = midnight.state, midnight.yesterday, midnight.today
    assert run.code == 0, run.explain()
    levels = [r["level"] for r in run.events.named("budget")]
    assert levels == ["over", "ok"], run.explain()
    assert session_of_turn(run, 1).model == "gpt-realtime-mini", "the restart kept to the spent budget"
    assert session_of_turn(run, 2).model == "gpt-realtime", "after midnight, the configured model again"
    usage = run.events.named("turn_usage")
    assert usage[1]["day_cost"] == pytest.approx(usage[1]["cost"], abs=2e-6), "a new day's count"
    book = ledger(state)
    assert book["days"][yesterday]["responses"] == 2 and book["days"][today]["responses"] == 1
