"""The daily budget as a level (pure): under it, near it (``cost.warn_at``), or past it."""

from __future__ import annotations

from enum import StrEnum


class BudgetLevel(StrEnum):
    """Where the day's spending is against ``cost.daily_budget``."""

    OK = "ok"
    WARN = "warn"  # at or past warn_at of the budget
    OVER = "over"  # at or past the budget: cost.over_budget applies from the next conversation


def budget_level(spent: float, budget: float, warn_at: float) -> BudgetLevel:
    """The level of ``spent`` against ``budget`` (no budget, 0: always OK)."""
    if budget <= 0:
        return BudgetLevel.OK
    if spent >= budget:
        return BudgetLevel.OVER
    if spent >= budget * warn_at:
        return BudgetLevel.WARN
    return BudgetLevel.OK
