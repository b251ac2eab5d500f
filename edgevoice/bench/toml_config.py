"""The one way configs are written for measuring and testing: tables of values in, TOML text out.

``with_tables(config, {"voicelive.turn_detection": {...}})`` merges changes into a nested config
(dotted table names), ``toml_text(config)`` writes it, and ``bench_config(...)`` is the bundled
emulator config with the bench's changes. Used by ``edgevoice bench``, ``edgevoice soak``, the
offline measurements and the tests.
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import PurePath
from typing import Any

__all__ = ["bench_config", "toml_text", "toml_value", "with_tables"]


def toml_value(v: Any) -> str:
    """One TOML value: a string, number, boolean, path, list, or table (written inline)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (str, PurePath)):
        return json.dumps(str(v))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {v!r}")


def with_tables(config: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of ``config`` with each table of ``tables`` (a dotted name, e.g. "voicelive.turn_detection") updated."""
    out = copy.deepcopy(dict(config))
    for table, keys in tables.items():
        node = out
        for part in table.split("."):
            node = node.setdefault(part, {})
        node.update(copy.deepcopy(dict(keys)))
    return out


def toml_text(config: Mapping[str, Any]) -> str:
    """TOML for a nested dict of tables; a dict value inside a table is a sub-table."""
    lines: list[str] = []

    def table(name: str, keys: Mapping[str, Any]) -> None:
        plain = {k: v for k, v in keys.items() if not isinstance(v, Mapping)}
        if plain or not name:
            if name:
                lines.append(f"[{name}]")
            lines.extend(f"{k} = {toml_value(v)}" for k, v in plain.items())
            lines.append("")
        for k, v in keys.items():
            if isinstance(v, Mapping):
                table(f"{name}.{k}" if name else k, v)

    table("", config)
    return "\n".join(lines)


def bench_config(endpoint: str, cache_dir: PurePath, tables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The bundled default config (the emulator demo's) aimed at ``endpoint``, with the bench's changes.

    Chimes are off (they would sound in the output WAV that barge-in is measured on), the phrase
    cache lives in the run's directory and is not warmed through the service (the emulator would
    see sessions nobody asked for), and there is no follow-up window (each turn starts with the
    wake word) unless ``tables`` says otherwise.
    """
    from edgevoice.config.load import BUNDLED_DEFAULT

    config = tomllib.loads(resources.files("edgevoice").joinpath(BUNDLED_DEFAULT).read_text(encoding="utf-8"))
    config["voicelive"]["endpoint"] = endpoint
    config = with_tables(config, {"assistant": {"chimes": False, "follow_up_s": 0.0},
                                  "offline": {"warm": False, "cache_dir": str(cache_dir)}})
    return with_tables(config, tables)
