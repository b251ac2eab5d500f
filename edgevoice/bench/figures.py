"""A measured figure: its key, its number, what it measured and the target it is held to."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One number the bench reports, with the sentence that says what it measured.

    Latencies carry their median as ``value`` and their 95th percentile as ``p95``; a target is an
    upper bound that the p95 (where there is one) or the value must meet.
    """

    key: str
    value: float
    unit: str
    what: str
    target: float | None = None
    p95: float | None = None
    n: int | None = None  # how many samples (turns, interruptions) the figure is made of

    def __post_init__(self) -> None:
        # numpy scalars in, plain floats out (JSON, comparisons)
        object.__setattr__(self, "value", float(self.value))
        if self.p95 is not None:
            object.__setattr__(self, "p95", float(self.p95))

    @property
    def judged(self) -> float:
        """The number held to the target: the p95 where there is one, else the value."""
        return self.value if self.p95 is None else self.p95

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        if math.isnan(self.judged):
            return False
        return bool(self.judged <= self.target)

    def as_json(self, machine: str) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _round(self.value), "unit": self.unit}
        if self.p95 is not None:
            out["median"] = _round(self.value)
            out["p95"] = _round(self.p95)
        if self.n is not None:
            out["n"] = self.n
        if self.target is not None:
            out["target"] = self.target
            out["meets_target"] = self.meets_target
        out["what"] = self.what
        out["machine"] = machine
        return out


def _round(x: float) -> float | None:
    if math.isnan(x):
        return None
    return round(x, 4) if abs(x) < 1 else round(x, 2)


def format_table(figures: list[Figure], machine: str) -> str:
    """A plain-text table: key, median/value, p95, target and whether it is met, then what each measured."""
    head = ("figure", "value", "p95", "n", "target", "")
    rows = []
    for f in figures:
        rows.append((
            f.key,
            _show(f.value, f.unit),
            "" if f.p95 is None else _show(f.p95, f.unit),
            "" if f.n is None else str(f.n),
            "" if f.target is None else f"<= {_show(f.target, f.unit)}",
            {True: "ok", False: "MISSED", None: ""}[f.meets_target],
        ))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [f"edgevoice bench on {machine}", ""]
    for row in [head, *rows]:
        cells = (cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        lines.append("  ".join(cells).rstrip())
    lines.append("(latencies: value = median; a target holds the p95 where there is one)")
    lines.append("")
    lines.extend(f"{f.key}: {f.what}" for f in figures)
    return "\n".join(lines)


def _show(x: float, unit: str) -> str:
    if math.isnan(x):
        return "n/a"
    if unit == "ms":
        return f"{x:.1f} ms"
    if unit == "MB":
        return f"{x:.1f} MB"
    if unit == "cpu s/audio s":
        return f"{x:.4f}"
    if unit == "x":
        return f"{x:.3f}"
    return f"{x:g} {unit}"
