"""Fault plans and scenario files: how the emulator misbehaves on purpose, and for how long.

A :class:`FaultPlan` applies to the next ``connections`` WebSocket connections after it is set
(all of them when ``connections`` is unset); later connections get a well-behaved service, so a
test can check that a client recovers. "After N audio deltas" triggers count within each
response of an affected connection.

A scenario file (TOML, or JSON with the same shape) sets the faults and the scripted text::

    pacing = "realtime"                          # or "fast" (default): how audio deltas are sent
    transcripts = ["what time is it"]            # transcript of the 1st, 2nd, ... user audio item
    replies = ["It is nine o'clock."]            # text of the 1st, 2nd, ... response
    tool_calls = ['get_time:{}']                 # the 1st, 2nd, ... model response calls this tool
    [faults]
    connections = 1                              # only the first connection misbehaves
    reject_status = 503
    retry_after_s = 2

Every field of :class:`FaultPlan` may appear under ``[faults]``.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevoice.config.errors import ConfigError
from edgevoice.voicelive.emulator.tool_calls import ToolCall, parse_tool_call
from edgevoice.config.fields import CHOICES, MAX, MIN, setting

REJECT_STATUSES = (401, 403, 429, 500, 502, 503, 504)
PACINGS = ("fast", "realtime")


@dataclass(frozen=True)
class FaultPlan:
    """Ways for the emulator to fail on purpose; the default plan has no faults."""

    connections: int | None = setting(None, "apply to the next N connections only, then behave (unset: all)", min=1)
    reject_status: int | None = setting(None, "refuse the WebSocket upgrade with this HTTP status", choices=REJECT_STATUSES)
    retry_after_s: int | None = setting(None, "Retry-After header (seconds) sent with reject_status", min=0)
    hang_on_connect: bool = setting(False, "accept TCP but never answer the HTTP upgrade")
    response_delay_ms: int = setting(0, "wait this long before each response.created", min=0)
    event_delay_ms: int = setting(0, "slow server: wait this long before every server event", min=0)
    drop_after_audio_deltas: int | None = setting(None, "drop the TCP connection after N audio deltas", min=0)
    drop_after_appends: int | None = setting(None, "drop the TCP connection after N input_audio_buffer.append", min=1)
    malformed_json_after_audio_deltas: int | None = setting(None, "send a malformed JSON frame after N audio deltas", min=0)
    unknown_event_after_audio_deltas: int | None = setting(None, "send an unknown event type after N audio deltas", min=0)
    error_after_audio_deltas: int | None = setting(None, "send a server error after N audio deltas; the response fails", min=0)
    stall_s: float = setting(0.0, "stop sending events for this many seconds (see stall_after_audio_deltas)", min=0)
    stall_after_audio_deltas: int = setting(0, "when to stall, counted in audio deltas of each response", min=0)
    expire_after_s: float | None = setting(None, "session expires (expires_at, error, close) after N seconds", min=0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check(f, getattr(self, f.name), f"faults.{f.name}")

    def describe(self) -> str:
        """The fields that differ from the default, e.g. ``reject_status=503 connections=1``."""
        default = FaultPlan()
        changed = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(default, f.name)]
        return " ".join(changed) or "no faults"


@dataclass(frozen=True)
class Scenario:
    """A run's fault plan plus scripted transcripts and replies, usually loaded from a file."""

    faults: FaultPlan = field(default_factory=FaultPlan)
    transcripts: tuple[str, ...] = ()
    replies: tuple[str, ...] = ()
    pacing: str = "fast"
    tool_calls: tuple[ToolCall, ...] = ()  # "NAME:JSON_ARGS" in a file (edgevoice.voicelive.emulator.tool_calls)

    def __post_init__(self) -> None:
        if self.pacing not in PACINGS:
            raise ConfigError("pacing", f"must be one of {', '.join(PACINGS)}, not {self.pacing!r}")


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a ``.toml`` or ``.json`` file; bad content raises ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read scenario: {exc.strerror}", source=str(path)) from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("", f"not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {exc}", source=str(path)) from exc
    try:
        return scenario_from_mapping(data)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.problem, source=str(path)) from exc


def scenario_from_mapping(data: Mapping[str, Any]) -> Scenario:
    """Build a Scenario from parsed TOML/JSON, naming any unknown or badly typed key."""
    if not isinstance(data, Mapping):
        raise ConfigError("", "a scenario must be a table/object")
    unknown = set(data) - {"faults", "transcripts", "replies", "pacing", "tool_calls"}
    if unknown:
        raise ConfigError(sorted(unknown)[0], "unknown key (expected faults, transcripts, replies, pacing, tool_calls)")
    faults = data.get("faults", {})
    if not isinstance(faults, Mapping):
        raise ConfigError("faults", "must be a table")
    return Scenario(
        faults=fault_plan_from_mapping(faults),
        transcripts=_strings(data.get("transcripts", ()), "transcripts"),
        replies=_strings(data.get("replies", ()), "replies"),
        pacing=data.get("pacing", "fast"),
        tool_calls=_tool_calls(data.get("tool_calls", ())),
    )


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    calls = []
    for i, spec in enumerate(_strings(raw, "tool_calls")):
        try:
            calls.append(parse_tool_call(spec))
        except ValueError as exc:
            raise ConfigError(f"tool_calls[{i}]", str(exc)) from None
    return tuple(calls)


def fault_plan_from_mapping(data: Mapping[str, Any]) -> FaultPlan:
    known = {f.name: f for f in dataclasses.fields(FaultPlan)}
    for key in data:
        if key not in known:
            raise ConfigError(f"faults.{key}", f"unknown fault (known: {', '.join(known)})")
    return FaultPlan(**dict(data))


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ConfigError(key, "must be a list of strings")
    return tuple(value)


def _check(f: dataclasses.Field[Any], value: Any, key: str) -> None:
    annotation = str(f.type)
    if value is None and "None" in annotation:
        return
    if "bool" in annotation:
        ok, expected = isinstance(value, bool), "true or false"
    elif "float" in annotation:
        ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    if not ok:
        raise ConfigError(key, f"expected {expected}, got {value!r}")
    meta = f.metadata
    if CHOICES in meta and value not in meta[CHOICES]:
        raise ConfigError(key, f"must be one of {', '.join(map(str, meta[CHOICES]))}, not {value!r}")
    if MIN in meta and value < meta[MIN]:
        raise ConfigError(key, f"must be at least {meta[MIN]}, not {value!r}")
    if MAX in meta and value > meta[MAX]:
        raise ConfigError(key, f"must be at most {meta[MAX]}, not {value!r}")

