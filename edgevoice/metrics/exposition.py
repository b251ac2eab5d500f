"""The Prometheus text exposition format (version 0.0.4), written by hand: a few families, no library.

A :class:`Family` is one metric name with its HELP, TYPE and samples; :func:`render` joins
families into the text node_exporter's textfile collector reads. Label values are escaped as the
format requires (backslash, double quote, newline), so no text from outside can break the file.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Sample:
    """One line: the family's name plus ``suffix`` (``_bucket``, ``_sum``...), labels and a value."""

    suffix: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class Family:
    """One metric: ``kind`` is counter, gauge or histogram."""

    name: str
    kind: str
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, labels: Labels | None = None, suffix: str = "") -> Family:
        self.samples.append(Sample(suffix, tuple((labels or {}).items()), float(value)))
        return self


class Histogram:
    """Cumulative buckets (upper bounds in seconds), a sum and a count, as Prometheus keeps them."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * (len(self.bounds) + 1)  # the last is +Inf only
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def samples_into(self, family: Family, labels: Labels | None = None) -> Family:
        running = 0
        base = dict(labels or {})
        for bound, n in zip((*self.bounds, math.inf), self.counts):
            running += n
            family.add(running, {**base, "le": _number(bound)}, "_bucket")
        family.add(self.sum, base, "_sum")
        family.add(self.count, base, "_count")
        return family


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render(families: Iterable[Family]) -> str:
    """The text of ``families``; each appears once (a repeated name is a bug in a provider)."""
    lines: list[str] = []
    seen: set[str] = set()
    for fam in families:
        if fam.name in seen:
            raise ValueError(f"metric {fam.name} given twice")
        seen.add(fam.name)
        lines.append(f"# HELP {fam.name} {_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        for s in fam.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels)
            lines.append(f"{fam.name}{s.suffix}{{{labels}}} {_number(s.value)}" if labels else f"{fam.name}{s.suffix} {_number(s.value)}")
    return "\n".join(lines) + "\n"
