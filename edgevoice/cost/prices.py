"""What tokens cost: one price per million tokens for each billing kind, in one currency."""

from __future__ import annotations

from dataclasses import dataclass

from edgevoice.config.cost import CostConfig
from edgevoice.cost.usage import KINDS, Tokens

PER = 1_000_000


@dataclass(frozen=True, slots=True)
class Prices:
    """Prices per million tokens by kind (``[cost]``); ``priced`` is False when none is set."""

    currency: str
    per_million: tuple[float, ...]  # in the order of usage.KINDS

    @classmethod
    def from_config(cls, config: CostConfig) -> Prices:
        return cls(config.currency, tuple(float(getattr(config, kind)) for kind in KINDS))

    @property
    def priced(self) -> bool:
        return any(p > 0 for p in self.per_million)

    def cost(self, tokens: Tokens) -> float:
        """What ``tokens`` cost, in the currency."""
        counts = (getattr(tokens, kind) for kind in KINDS)
        return sum(n * p for n, p in zip(counts, self.per_million)) / PER
