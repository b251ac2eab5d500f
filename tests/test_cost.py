"""Usage, prices, the ledger, the budget and the snapshot (edgevoice.cost), and the shell's tracker."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from edgevoice.assistant import events as E
from edgevoice.config.cost import CostConfig
from edgevoice.config.errors import ConfigError
from edgevoice.config.load import parse_config
from edgevoice.config.schema import Config
from edgevoice.cost.budget import BudgetLevel, budget_level
from edgevoice.cost.ledger import LEDGER_FILE, Ledger, LedgerError, ledger_directory
from edgevoice.cost.prices import Prices
from edgevoice.cost.snapshot import cost_families
from edgevoice.metrics.exposition import render
from edgevoice.cost.usage import KINDS, Tokens
from edgevoice.daemon.costs import CostTracker
from edgevoice.daemon.telemetry import Telemetry
from edgevoice.voicelive.protocol.server_events import Usage

PRICED = CostConfig(currency="EUR", input_text=4.0, input_audio=40.0, cached_text=0.4, cached_audio=2.5,
                    output_text=16.0, output_audio=80.0)


def test_usage_is_split_into_billing_kinds_with_the_cached_part_apart() -> None:
    usage = Usage(total_tokens=1500, input_tokens=1300, output_tokens=200, input_text_tokens=500, input_audio_tokens=800,
                  input_cached_tokens=1000, input_cached_text_tokens=400, input_cached_audio_tokens=600,
                  output_text_tokens=40, output_audio_tokens=160)
    tokens = Tokens.from_usage(usage)
    assert tokens == Tokens(input_text=100, input_audio=200, cached_text=400, cached_audio=600, output_text=40, output_audio=160)
    assert tokens.context == 1300 and tokens.total == 1500


def test_cached_tokens_without_their_split_are_shared_in_proportion() -> None:
    usage = Usage(input_text_tokens=300, input_audio_tokens=900, input_cached_tokens=400)
    tokens = Tokens.from_usage(usage)
    assert (tokens.cached_text, tokens.cached_audio) == (100, 300)
    assert tokens.context == 1200


def test_prices_per_million_tokens() -> None:
    prices = Prices.from_config(PRICED)
    one_million_each = Tokens(*(1_000_000,) * len(KINDS))
    assert prices.cost(one_million_each) == pytest.approx(4 + 40 + 0.4 + 2.5 + 16 + 80)
    assert prices.cost(Tokens(input_audio=250, output_audio=1000)) == pytest.approx(250 * 40e-6 + 1000 * 80e-6)
    assert not Prices.from_config(CostConfig()).priced


@pytest.mark.parametrize(("spent", "level"), [(0.0, "ok"), (7.99, "ok"), (8.0, "warn"), (9.99, "warn"), (10.0, "over"), (50, "over")])
def test_budget_levels(spent, level) -> None:
    assert budget_level(spent, 10.0, 0.8) is BudgetLevel(level)
    assert budget_level(spent, 0.0, 0.8) is BudgetLevel.OK  # no budget


def test_ledger_counts_days_and_conversations_and_survives_a_reopen(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path, "EUR")
    ledger.begin_conversation("2026-12-05")
    ledger.record(Tokens(input_audio=100, output_audio=200), 0.02, "2026-12-05")
    ledger.record(Tokens(input_audio=150, output_audio=100), 0.01, "2026-12-05")
    ledger.begin_conversation("2026-12-06")
    ledger.record(Tokens(input_text=30), 0.001, "2026-12-06")
    again = Ledger.open(tmp_path, "EUR")  # as after a restart
    assert again.day("2026-12-05").tokens == Tokens(input_audio=250, output_audio=300)
    assert again.day("2026-12-05").conversations == 1 and again.day("2026-12-05").responses == 2
    assert again.day("2026-12-06").cost == pytest.approx(0.001)
    assert again.total.cost == pytest.approx(0.031) and again.total.conversations == 2
    assert [c.number for c in again.recent] == [1, 2]
    again.begin_conversation("2026-12-06")
    again.record(Tokens(output_text=5), 0.0, "2026-12-06")
    assert again.conversation is not None and again.conversation.number == 3  # numbers go on after a restart


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"version": 99}', b'{"version": 1, "days": {"d": {"cost": -1}}}',
                                     b'{"version": 1, "days": {"d": {"tokens": {"input_audio": "many"}}}}'])
def test_a_corrupt_ledger_is_set_aside_with_a_clear_error_and_counting_goes_on(tmp_path: Path, content, caplog) -> None:
    (tmp_path / LEDGER_FILE).write_bytes(content)
    with caplog.at_level(logging.ERROR):
        ledger = Ledger.open(tmp_path, "EUR")
    assert "cannot be used" in caplog.text and "usage.json.corrupt" in caplog.text
    assert (tmp_path / (LEDGER_FILE + ".corrupt")).read_bytes() == content
    ledger.record(Tokens(input_audio=10), 0.0004, "2026-12-06")
    assert Ledger.read(tmp_path).day("2026-12-06").tokens.input_audio == 10
    with pytest.raises(LedgerError):
        (tmp_path / LEDGER_FILE).write_bytes(content)
        Ledger.read(tmp_path)


def test_a_ledger_that_cannot_be_written_counts_in_memory_and_says_so_once(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    ledger = Ledger.open(blocker / "state", "EUR")
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            ledger.record(Tokens(input_audio=10), 0.0, "2026-12-06")
    assert caplog.text.count("cannot be written") == 1
    assert ledger.day("2026-12-06").responses == 3


def test_where_the_ledger_lives() -> None:
    assert ledger_directory(Path("/srv/ev"), {"STATE_DIRECTORY": "/var/lib/edgevoice"}) == Path("/srv/ev")
    assert ledger_directory(None, {"STATE_DIRECTORY": "/var/lib/edgevoice:/var/lib/other"}) == Path("/var/lib/edgevoice")
    assert ledger_directory(None, {}) is None  # the daemon outside systemd, nothing configured: in memory
    assert ledger_directory(None, {}, reading=True) == Path("/var/lib/edgevoice")


def _tracker(tmp_path: Path, cost: CostConfig, day: list[str]) -> tuple[CostTracker, Telemetry, list[dict]]:
    config = replace(Config(), cost=replace(cost, state_dir=tmp_path))
    telemetry = Telemetry()
    records: list[dict] = []
    telemetry.add_listener(records.append)
    return CostTracker(config, telemetry, today=lambda: day[0], environ={}), telemetry, records


def test_the_tracker_records_each_reply_and_reports_the_budget_levels(tmp_path: Path, caplog) -> None:
    day = ["2026-12-06"]
    tracker, _, records = _tracker(tmp_path, replace(PRICED, daily_budget=0.05, warn_at=0.5), day)
    assert tracker.start() == []
    tokens = Tokens(input_audio=300, output_audio=200)  # 0.012 + 0.016 = 0.028 EUR
    assert tracker.observe(E.SessionReady()) == []
    with caplog.at_level(logging.WARNING):
        assert tracker.observe(E.ReplyDone("r1", usage=tokens, context_tokens=300)) == [E.BudgetChanged(BudgetLevel.WARN)]
        assert tracker.observe(E.ReplyDone("r2", usage=tokens, context_tokens=300)) == [E.BudgetChanged(BudgetLevel.OVER)]
        assert tracker.observe(E.ReplyDone("r3", usage=tokens, context_tokens=300)) == []
    assert "daily budget is spent" in caplog.text
    usage = [r for r in records if r["event"] == "turn_usage"]
    assert [r["response_id"] for r in usage] == ["r1", "r2", "r3"]
    assert usage[0]["cost"] == pytest.approx(0.028) and usage[2]["day_cost"] == pytest.approx(0.084)
    assert usage[0]["input_audio"] == 300 and usage[0]["tokens"] == 500 and usage[0]["currency"] == "EUR"
    snap = tracker.snapshot()
    assert snap.budget_level == "over" and snap.today_responses == 3 and snap.today_cost == pytest.approx(0.084)
    # A restart the same day: still over; the next day: the budget starts again.
    now = [100.0]
    config = replace(Config(), cost=replace(PRICED, daily_budget=0.05, warn_at=0.5, state_dir=tmp_path))
    tracker2 = CostTracker(config, Telemetry(), today=lambda: day[0], environ={}, clock=lambda: now[0])
    assert tracker2.start() == [E.BudgetChanged(BudgetLevel.OVER)]
    assert tracker2.tick() == []
    day[0] = "2026-12-07"
    assert tracker2.tick() == [], "the date is looked at once a second"
    now[0] += 1.0
    assert tracker2.tick() == [E.BudgetChanged(BudgetLevel.OK)]


def test_a_bad_usage_block_is_logged_and_not_counted(tmp_path: Path, caplog) -> None:
    tracker, _, records = _tracker(tmp_path, PRICED, ["2026-12-06"])
    with caplog.at_level(logging.WARNING):
        assert tracker.observe(E.ReplyDone("r1", usage_problem="'input_tokens' is not an integer")) == []
    assert "r1: its usage cannot be counted: 'input_tokens' is not an integer" in caplog.text
    assert not records and tracker.snapshot().today_responses == 0


def test_the_metrics_lines_agree_with_the_ledger(tmp_path: Path) -> None:
    tracker, _, _ = _tracker(tmp_path, PRICED, ["2026-12-06"])
    tracker.observe(E.ReplyDone("r1", usage=Tokens(input_audio=100, cached_audio=50, output_audio=400)))
    lines = render(cost_families(tracker.snapshot())).splitlines()
    assert 'edgevoice_tokens_total{kind="input_audio"} 100' in lines
    assert 'edgevoice_tokens_total{kind="cached_audio"} 50' in lines
    assert 'edgevoice_cost_total{currency="EUR"} 0.036125' in lines
    on_disk = json.loads((tmp_path / LEDGER_FILE).read_text())
    assert on_disk["total"]["cost"] == pytest.approx(0.036125) and on_disk["total"]["tokens"]["output_audio"] == 400


CONFIG = '[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n'


@pytest.mark.parametrize(("table", "key"), [
    ('over_budget = "cheaper_model"\n', "cost.cheaper_model"),
    ('cheaper_model = "gpt-4o-mini"\n', "cost.cheaper_model"),  # a cascaded model does not take the OpenAI voice
    ('cheaper_model = "gpt-nothing"\n', "cost.cheaper_model"),
    ("daily_budget = 5.0\n", "cost.daily_budget"),
    ('currency = "E\\"UR"\n', "cost.currency"),
    ("warn_at = 1.5\n", "cost.warn_at"),
    ('over_budget = "stop"\n', "cost.over_budget"),
])
def test_bad_cost_settings_name_the_key(table, key) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(CONFIG + 'voice = "alloy"\n[cost]\n' + table, "<test>")
    assert err.value.key == key, str(err.value)


def test_a_good_cost_table() -> None:
    config = parse_config(CONFIG + 'voice = "alloy"\n[cost]\ninput_audio = 40.0\noutput_audio = 80.0\ndaily_budget = 5.0\n'
                          'over_budget = "cheaper_model"\ncheaper_model = "gpt-realtime-mini"\n[assistant]\n'
                          'max_turns_per_conversation = 8\nmax_context_tokens = 6000\n', "<test>")
    assert config.cost.priced and config.cost.cheaper_model == "gpt-realtime-mini"
    assert config.assistant.max_turns_per_conversation == 8 and config.assistant.max_context_tokens == 6000


def test_the_journal_gets_the_usage_as_fields(tmp_path: Path, caplog) -> None:
    tracker, telemetry, _ = _tracker(tmp_path, PRICED, ["2026-12-06"])
    telemetry.begin_turn()
    with caplog.at_level(logging.INFO, logger="edgevoice.daemon.costs"):
        tracker.observe(E.ReplyDone("r1", usage=Tokens(input_audio=100, output_audio=400)))
    record = next(r for r in caplog.records if "usage" in r.getMessage())
    assert record.EDGEVOICE_TURN == "1" and record.EDGEVOICE_INPUT_AUDIO == "100" and record.EDGEVOICE_TOKENS == "500"
    assert record.EDGEVOICE_COST == "0.036" and record.EDGEVOICE_CURRENCY == "EUR" and record.EDGEVOICE_MODEL == "gpt-realtime"


def test_a_reload_keeps_counting_in_the_same_ledger(tmp_path: Path) -> None:
    day = ["2026-12-06"]
    config = replace(Config(), cost=replace(PRICED, state_dir=None, daily_budget=0.01, over_budget="cached_only"))
    first = CostTracker(config, Telemetry(), today=lambda: day[0], environ={})  # in memory: no state directory
    first.observe(E.ReplyDone("r1", usage=Tokens(input_audio=300, output_audio=200)))
    reloaded = CostTracker(config, Telemetry(), today=lambda: day[0], environ={}, previous=first)
    assert reloaded.snapshot().today_responses == 1
    assert reloaded.start() == [E.BudgetChanged(BudgetLevel.OVER)]  # the new machine learns the level again
    elsewhere = replace(config, cost=replace(config.cost, state_dir=tmp_path))
    assert CostTracker(elsewhere, Telemetry(), today=lambda: day[0], environ={}, previous=first).snapshot().today_responses == 0


def test_the_snapshot_for_status(tmp_path: Path) -> None:
    day = ["2026-12-06"]
    cost = replace(PRICED, daily_budget=0.03, over_budget="cheaper_model", cheaper_model="gpt-realtime-mini")
    tracker, _, _ = _tracker(tmp_path, cost, day)
    tracker.observe(E.SessionReady())
    for event in tracker.observe(E.ReplyDone("r1", usage=Tokens(input_audio=500, output_audio=200))):  # 0.036 EUR
        assert event == E.BudgetChanged(BudgetLevel.OVER)
    tracker.use_cheaper(True)  # as the machine's UseModel makes the shell do
    snap = tracker.snapshot()
    assert snap.model == "gpt-realtime-mini" and snap.budget_level == "over"
    assert snap.status_line() == ("0.0360 EUR today (700 tokens in 1 replies today); budget 0.03 EUR: over "
                                  "(cheaper_model, model gpt-realtime-mini)")
    data = json.loads(json.dumps(snap.as_dict()))
    assert data["today"]["cost"] == 0.036 and data["conversation"]["tokens"]["input_audio"] == 500
    assert data["budget"] == {"daily": 0.03, "level": "over", "over_budget": "cheaper_model"}
    unpriced, _, _ = _tracker(tmp_path / "other", CostConfig(), day)
    assert unpriced.snapshot().status_line() == "0 tokens in 0 replies today (no prices set in [cost])"
    assert not any("edgevoice_cost_total" in line for line in render(cost_families(unpriced.snapshot())).splitlines())
