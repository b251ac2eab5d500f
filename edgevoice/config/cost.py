"""The [cost] table: token prices, a daily budget and what to do past it, and where usage is kept."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from edgevoice.config.errors import ConfigError
from edgevoice.config.fields import setting
from edgevoice.config.voicelive import VoiceLiveConfig, parse_model

OVER_BUDGET = ("warn", "cheaper_model", "cached_only")
_PRICE = "per million tokens, in the currency (0: not priced)"


@dataclass(frozen=True)
class CostConfig:
    """What the service's tokens cost, the daily budget, and the usage ledger's directory."""

    currency: str = setting("EUR", "the currency the prices and the budget are in (ISO code, e.g. EUR, USD)")
    input_text: float = setting(0.0, f"text input tokens (instructions, tool output), {_PRICE}", min=0, max=10000)
    input_audio: float = setting(0.0, f"audio input tokens (what the microphone sent), {_PRICE}", min=0, max=10000)
    cached_text: float = setting(0.0, f"cached text input tokens, {_PRICE}", min=0, max=10000)
    cached_audio: float = setting(0.0, f"cached audio input tokens, {_PRICE}", min=0, max=10000)
    output_text: float = setting(0.0, f"text output tokens, {_PRICE}", min=0, max=10000)
    output_audio: float = setting(0.0, f"audio output tokens (the spoken reply), {_PRICE}", min=0, max=10000)
    daily_budget: float = setting(0.0, "most to spend in one day (local time), in the currency (0: no budget)", min=0)
    warn_at: float = setting(0.8, "warn when the day's cost reaches this share of the budget", min=0.05, max=1.0)
    over_budget: str = setting(
        "warn", "past the budget: carry on and warn (warn), switch to cheaper_model from the next conversation "
        "(cheaper_model), or answer with cached phrases only (cached_only); back to normal after midnight",
        choices=OVER_BUDGET,
    )
    cheaper_model: str = setting("", "the model used past the budget with over_budget = cheaper_model, e.g. gpt-realtime-mini")
    state_dir: Path | None = setting(
        None, "where the usage ledger (usage.json) is kept; unset: the service's StateDirectory= "
        "($STATE_DIRECTORY, /var/lib/edgevoice), and without one usage is counted in memory only"
    )

    @property
    def priced(self) -> bool:
        """At least one price is set: turns and days have a cost."""
        return any(p > 0 for p in (self.input_text, self.input_audio, self.cached_text, self.cached_audio,
                                   self.output_text, self.output_audio))

    def check(self) -> None:
        if not re.fullmatch(r"[A-Za-z]{1,8}", self.currency):
            raise ConfigError("currency", f"{self.currency!r} is not a currency code such as EUR or USD")
        if self.over_budget == "cheaper_model" and not self.cheaper_model:
            raise ConfigError("cheaper_model", 'over_budget = "cheaper_model" needs the model to switch to, '
                              'e.g. cheaper_model = "gpt-realtime-mini"')
        if self.daily_budget > 0 and not self.priced:
            raise ConfigError("daily_budget", "a daily budget needs prices: set the per-million-token prices in [cost]")


def check_cheaper_model(voicelive: VoiceLiveConfig, model: str) -> None:
    """``cost.cheaper_model`` must be a known model that takes the rest of [voicelive] as it is."""
    key = "cost.cheaper_model"
    parse_model(model, key)
    try:
        dataclasses.replace(voicelive, model=model).check()
    except ConfigError as exc:
        raise ConfigError(key, f"{model!r} cannot replace {voicelive.model!r}: {exc.key}: {exc.problem}") from None
