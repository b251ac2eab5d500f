"""The shell's side of cost: count each response's usage in the ledger, report it, watch the budget.

Decisions are the machine's (:class:`~edgevoice.assistant.events.BudgetChanged` in, ``UseModel`` and
fresh sessions out); this part only does the counting, the writing and the telling: the
``turn_usage`` record of the events file, the journal fields, the warning near the budget, and the
:class:`~edgevoice.cost.snapshot.CostSnapshot` that ``edgevoice status`` and the metrics show.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

from edgevoice.assistant import events as E
from edgevoice.config.schema import Config
from edgevoice.cost.budget import BudgetLevel, budget_level
from edgevoice.cost.ledger import LEDGER_FILE, Ledger, ledger_directory
from edgevoice.cost.prices import Prices
from edgevoice.cost.snapshot import CostSnapshot
from edgevoice.cost.usage import Tokens
from edgevoice.daemon.telemetry import Telemetry
from edgevoice.service.journal import turn_fields

logger = logging.getLogger(__name__)


def local_day() -> str:
    """Today's date on the kiosk's local clock (the budget starts again at local midnight)."""
    return time.strftime("%Y-%m-%d")


class CostTracker:
    """Counts usage per response into the ledger; says when the daily budget's level changes."""

    def __init__(self, config: Config, telemetry: Telemetry, *, today: Callable[[], str] = local_day,
                 environ: Mapping[str, str] = os.environ, previous: CostTracker | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``previous``: the tracker of the config before a reload; its ledger goes on if it is kept in the
        same place (one in memory keeps the day's count)."""
        self.cost = config.cost
        self.prices = Prices.from_config(config.cost)
        self.telemetry = telemetry
        self.today = today
        self.model = config.voicelive.model
        self.cheaper = False  # sessions are opened with cost.cheaper_model (set by the machine's UseModel)
        directory = ledger_directory(config.cost.state_dir, environ)
        kept = previous.ledger if previous is not None else None
        if kept is not None and kept.path == (None if directory is None else directory / LEDGER_FILE):
            self.ledger = kept
            self.ledger.currency = config.cost.currency
        else:
            self.ledger = Ledger.open(directory, config.cost.currency)
        self.day = today()
        self.level = BudgetLevel.OK
        self._clock = clock
        self._next_look = 0.0  # when (on clock) to look at the date again (tick)

    def start(self) -> list[E.Event]:
        """The budget's level now (a restart past the budget keeps to cost.over_budget)."""
        self.level = BudgetLevel.OK
        return self._check_budget()

    def observe(self, event: E.Event) -> list[E.Event]:
        """Look at an event before the machine does; returns events for the machine (budget changes)."""
        if isinstance(event, E.SessionReady):
            self.ledger.begin_conversation(self.today())
        elif isinstance(event, E.ReplyDone):
            if event.usage_problem:
                logger.warning("response %s: its usage cannot be counted: %s", event.response_id, event.usage_problem)
            if event.usage is not None:
                self.record(event.response_id, event.status, event.usage)
                return self._check_budget()
        return []

    def tick(self) -> list[E.Event]:
        """Between events: a new day starts the budget again (past midnight, back to the configured model).
        The date is looked at once a second, not on every frame."""
        now = self._clock()
        if now < self._next_look:
            return []
        self._next_look = now + 1.0
        if self.today() != self.day:
            return self._check_budget()
        return []

    def use_cheaper(self, cheaper: bool) -> str:
        """The machine switched models; returns the model sessions are opened with from now."""
        self.cheaper = cheaper
        model = self.session_model
        logger.warning("from the next conversation, sessions use %s%s", model,
                       " (the daily budget is spent)" if cheaper else "")
        return model

    @property
    def session_model(self) -> str:
        return self.model_for(self.cheaper)

    def model_for(self, cheaper: bool) -> str:
        """The model sessions are opened with past the budget (``cheaper``) or otherwise."""
        return self.cost.cheaper_model if cheaper and self.cost.cheaper_model else self.model

    def record(self, response_id: str, status: str, tokens: Tokens) -> None:
        """Count one response: the ledger (written at once), the events file and the journal."""
        day = self.today()
        self.day = day
        cost = self.prices.cost(tokens)
        self.ledger.record(tokens, cost, day)
        today = self.ledger.day(day)
        conversation = self.ledger.conversation
        detail: dict[str, object] = {"response_id": response_id, "status": status, "model": self.session_model,
                                     **tokens.as_dict(), "tokens": tokens.total, "day_tokens": today.tokens.total}
        if conversation is not None:
            detail["conversation"] = conversation.number
            detail["conversation_tokens"] = conversation.tally.tokens.total
        if self.prices.priced:
            detail.update(cost=round(cost, 6), day_cost=round(today.cost, 6), currency=self.prices.currency)
        self.telemetry.mark("turn_usage", **detail)
        shown = f"{tokens.total} tokens ({tokens.context} in, {tokens.output_text + tokens.output_audio} out)"
        if self.prices.priced:
            shown += f", {cost:.5f} {self.prices.currency}; today {today.cost:.4f} {self.prices.currency}"
        fields = {k: v for k, v in detail.items() if k not in ("response_id", "status")}
        logger.info("turn %d usage: %s", self.telemetry.turn, shown, extra=turn_fields(self.telemetry.turn, **fields))

    def _check_budget(self) -> list[E.Event]:
        self.day = self.today()
        spent = self.ledger.day(self.day).cost
        level = budget_level(spent, self.cost.daily_budget, self.cost.warn_at)
        if level is self.level:
            return []
        previous, self.level = self.level, level
        budget = f"{spent:.4f} of the daily budget of {self.cost.daily_budget:g} {self.cost.currency}"
        if level is BudgetLevel.WARN:
            logger.warning("cost: %s spent today (warn_at %.0f%%)", budget, self.cost.warn_at * 100)
        elif level is BudgetLevel.OVER:
            logger.warning("cost: the daily budget is spent (%s); from the next conversation: %s", budget, self.cost.over_budget)
        elif previous is BudgetLevel.OVER:
            logger.info("cost: a new day (%s): the budget starts again", self.day)
        return [E.BudgetChanged(level)]

    def snapshot(self) -> CostSnapshot:
        """Usage and cost now, for ``edgevoice status`` and the metrics."""
        day = self.today()
        today = self.ledger.day(day)
        conversation = self.ledger.conversation
        return CostSnapshot(
            day=day, currency=self.prices.currency, priced=self.prices.priced,
            today_tokens=today.tokens, today_cost=today.cost, today_responses=today.responses,
            today_conversations=today.conversations,
            total_tokens=self.ledger.total.tokens, total_cost=self.ledger.total.cost,
            conversation_tokens=conversation.tally.tokens if conversation is not None else Tokens(),
            conversation_cost=conversation.tally.cost if conversation is not None else 0.0,
            daily_budget=self.cost.daily_budget, budget_level=self.level.value, over_budget=self.cost.over_budget,
            model=self.session_model,
        )
