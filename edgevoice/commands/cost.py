"""``edgevoice cost [--days N] [--json]``: what the kiosk used and spent, per day, from the usage ledger.

Reads ``usage.json`` in the state directory (``cost.state_dir``, else ``$STATE_DIRECTORY``, else
/var/lib/edgevoice, the service's); the daemon rewrites it after every reply. Costs are as priced
when each reply was counted. Exit status: 0; 1 when there is no ledger yet or it cannot be read;
78 for a bad config.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from typing import Any

HELP = "print per-day token usage and cost from the usage ledger (--json: one JSON object)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=_days, default=7, metavar="N", help="the last N days, today included (default 7)")
    parser.add_argument("--json", action="store_true", help="one JSON object: the days, the total, the budget")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $EDGEVOICE_CONFIG or /etc/edgevoice/edgevoice.toml)")


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 1 <= days <= 3660:
        raise argparse.ArgumentTypeError(f"{days} is out of range; allowed 1 to 3660")
    return days


def main(args: argparse.Namespace) -> int:
    from edgevoice.config.load import load_config
    from edgevoice.cost.ledger import Ledger, LedgerError, ledger_directory
    from edgevoice.daemon.costs import local_day

    config = load_config(args.config, environ=os.environ)
    directory = ledger_directory(config.cost.state_dir, os.environ, reading=True)
    assert directory is not None
    try:
        ledger = Ledger.read(directory)
    except FileNotFoundError:
        print(f"edgevoice cost: no usage recorded yet ({directory / 'usage.json'} does not exist)", file=sys.stderr)
        return 1
    except LedgerError as exc:
        print(f"edgevoice cost: the usage ledger {directory / 'usage.json'} cannot be used: {exc}", file=sys.stderr)
        return 1
    today = local_day()
    first = (datetime.date.fromisoformat(today) - datetime.timedelta(days=args.days - 1)).isoformat()
    days = [(day, tally) for day, tally in sorted(ledger.days.items()) if first <= day <= today]
    report = _report(ledger, days, config.cost.daily_budget)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print(report)
    return 0


def _report(ledger: Any, days: list[tuple[str, Any]], budget: float) -> dict[str, Any]:
    def tally(t: Any) -> dict[str, Any]:
        return {"tokens": t.tokens.as_dict(), "total_tokens": t.tokens.total, "cost": round(t.cost, 6),
                "responses": t.responses, "conversations": t.conversations}

    return {
        "ledger": str(ledger.path),
        "currency": ledger.currency,
        "daily_budget": budget,
        "days": [{"day": day, **tally(t)} for day, t in days],
        "total": tally(ledger.total),  # since the ledger began: what edgevoice_cost_total / edgevoice_tokens_total count
    }


def _print(report: dict[str, Any]) -> None:
    currency = report["currency"]
    print(f"ledger: {report['ledger']}")
    header = f"{'day':<10}  {'replies':>7}  {'convs':>5}  {'audio in':>9}  {'text in':>8}  {'cached':>8}  " \
             f"{'audio out':>9}  {'text out':>8}  {'tokens':>9}  {'cost ' + currency:>12}"
    print(header)
    rows = [*report["days"], {"day": "total", **report["total"]}]
    for row in rows:
        t = row["tokens"]
        line = (f"{row['day']:<10}  {row['responses']:>7}  {row['conversations']:>5}  {t['input_audio']:>9,}  "
                f"{t['input_text']:>8,}  {t['cached_text'] + t['cached_audio']:>8,}  {t['output_audio']:>9,}  "
                f"{t['output_text']:>8,}  {row['total_tokens']:>9,}  {row['cost']:>12.4f}")
        if row["day"] != "total" and report["daily_budget"] > 0:
            line += f"  {row['cost'] / report['daily_budget']:.0%} of budget"
        print(line)
    if not report["days"]:
        print("(nothing in these days)")
