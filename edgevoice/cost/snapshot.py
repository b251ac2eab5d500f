"""What the device has spent, as one plain record: for ``edgevoice status``, the metrics and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgevoice.cost.usage import KINDS, Tokens
from edgevoice.metrics.exposition import Family


@dataclass(frozen=True, slots=True)
class CostSnapshot:
    """Today's and all-time usage and cost, the budget's level and the model the next session uses."""

    day: str  # local date, YYYY-MM-DD
    currency: str
    priced: bool  # [cost] has prices: the costs mean something
    today_tokens: Tokens
    today_cost: float
    today_responses: int
    today_conversations: int
    total_tokens: Tokens  # since the ledger began (counters: they never go down)
    total_cost: float
    conversation_tokens: Tokens  # the current session's conversation
    conversation_cost: float
    daily_budget: float  # 0: none
    budget_level: str  # ok, warn, over
    over_budget: str  # what happens past the budget (cost.over_budget)
    model: str  # the model the next session is opened with

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``edgevoice status --json``, the control socket)."""
        return {
            "day": self.day, "currency": self.currency, "priced": self.priced,
            "today": {"tokens": self.today_tokens.as_dict(), "cost": round(self.today_cost, 6),
                      "responses": self.today_responses, "conversations": self.today_conversations},
            "total": {"tokens": self.total_tokens.as_dict(), "cost": round(self.total_cost, 6)},
            "conversation": {"tokens": self.conversation_tokens.as_dict(), "cost": round(self.conversation_cost, 6)},
            "budget": {"daily": self.daily_budget, "level": self.budget_level, "over_budget": self.over_budget},
            "model": self.model,
        }

    def status_line(self) -> str:
        """One line for ``edgevoice status``."""
        tokens = f"{self.today_tokens.total:,} tokens in {self.today_responses} replies today"
        if not self.priced:
            return f"{tokens} (no prices set in [cost])"
        line = f"{self.today_cost:.4f} {self.currency} today ({tokens})"
        if self.daily_budget > 0:
            line += f"; budget {self.daily_budget:g} {self.currency}: {self.budget_level}"
            if self.budget_level == "over":
                line += f" ({self.over_budget}, model {self.model})" if self.over_budget == "cheaper_model" \
                    else f" ({self.over_budget})"
        return line


def cost_families(snapshot: CostSnapshot) -> list[Family]:
    """``edgevoice_tokens_total{kind}`` and, with prices set, ``edgevoice_cost_total{currency}``: all-time
    counters from the ledger's total, the same figures ``edgevoice cost --json`` shows as ``total``."""
    tokens = Family("edgevoice_tokens_total", "counter", "Voice Live tokens used, by billing kind.")
    for kind in KINDS:
        tokens.add(getattr(snapshot.total_tokens, kind), {"kind": kind})
    if not snapshot.priced:
        return [tokens]
    cost = Family("edgevoice_cost_total", "counter", "What the Voice Live tokens cost at the configured prices.")
    return [tokens, cost.add(round(snapshot.total_cost, 6), {"currency": snapshot.currency})]
