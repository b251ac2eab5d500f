"""``edgevoice cost [--days N] [--json]``: per-day usage and cost from the ledger the daemon writes."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from config_helpers import run_cli

from edgevoice.config.errors import EX_CONFIG
from edgevoice.cost.ledger import LEDGER_FILE, Ledger
from edgevoice.cost.usage import Tokens


def config(tmp_path: Path, budget: float = 0.0) -> str:
    path = tmp_path / "edgevoice.toml"
    path.write_text(f'[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n[cost]\ninput_audio = 40.0\n'
                    f'output_audio = 35.0\ndaily_budget = {budget}\nstate_dir = "{tmp_path / "state"}"\n')
    return str(path)


def days_ago(n: int) -> str:
    return (datetime.date.today() - datetime.timedelta(days=n)).isoformat()


def fill(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "state", "EUR")
    for n, (audio_in, audio_out) in ((10, (1000, 1000)), (1, (300, 600)), (0, (200, 400))):
        ledger.begin_conversation(days_ago(n))
        tokens = Tokens(input_audio=audio_in, output_audio=audio_out)
        ledger.record(tokens, (audio_in * 40 + audio_out * 35) / 1e6, days_ago(n))


def test_json_per_day_and_the_total(tmp_path, capsys) -> None:
    fill(tmp_path)
    result = run_cli(["cost", "--json", "--days", "2", "--config", config(tmp_path, 1.0)], capsys)
    assert result.status == 0, result.err
    report = json.loads(result.out)
    assert [d["day"] for d in report["days"]] == [days_ago(1), days_ago(0)]  # the day 10 days ago is left out
    assert report["days"][1]["tokens"]["output_audio"] == 400 and report["days"][1]["cost"] == round(0.022, 6)
    assert report["total"]["responses"] == 3 and report["total"]["tokens"]["input_audio"] == 1500
    assert report["currency"] == "EUR" and report["daily_budget"] == 1.0


def test_the_table(tmp_path, capsys) -> None:
    fill(tmp_path)
    result = run_cli(["cost", "--config", config(tmp_path, 0.05)], capsys)
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"ledger: {tmp_path / 'state' / LEDGER_FILE}"
    today = next(line for line in lines if line.startswith(days_ago(0)))
    assert "0.0220" in today and "44% of budget" in today
    assert lines[-1].startswith("total") and "0.1300" in lines[-1]


def test_no_ledger_or_a_bad_one_is_said_plainly(tmp_path, capsys) -> None:
    result = run_cli(["cost", "--config", config(tmp_path)], capsys)
    assert result.status == 1 and "no usage recorded yet" in result.err
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / LEDGER_FILE).write_text("{half")
    result = run_cli(["cost", "--config", config(tmp_path)], capsys)
    assert result.status == 1 and "cannot be used: not a JSON ledger" in result.err


def test_a_bad_config_exits_78(tmp_path, capsys) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n[cost]\nover_budget = "panic"\n')
    result = run_cli(["cost", "--config", str(path)], capsys)
    assert result.status == EX_CONFIG and "cost.over_budget" in result.err
