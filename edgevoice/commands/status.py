"""``edgevoice status``: what the running daemon is doing, asked over its control socket."""

from __future__ import annotations

import argparse
from typing import Any

from edgevoice.control.client import add_socket_arguments, run_command
from edgevoice.control.protocol import Request

HELP = "what the running assistant is doing: state, connectivity, turns, latencies, devices (--json for scripts)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_socket_arguments(parser)


def main(args: argparse.Namespace) -> int:
    return run_command(args, Request("status"), describe)


def describe(reply: dict[str, Any]) -> str:
    """The status for people: one line per fact, the config left to --json."""
    a, c, u, t, w = (reply.get(k, {}) for k in ("assistant", "connectivity", "uptime", "turns", "wake_words"))
    lines = [
        f"state:        {a.get('state')} ({a.get('status')})",
        f"muted:        {'yes' + (' (switch)' if a.get('mute_switch') else '') if a.get('muted') else 'no'}",
        f"connectivity: {'online' if c.get('online') else 'offline (' + str(c.get('outage') or 'unreachable') + ')'}, "
        f"session {c.get('session')}",
        f"uptime:       {_duration(u.get('seconds', 0))} (since {u.get('since')})",
        f"turns:        {t.get('started', 0)} started, {t.get('answered', 0)} answered",
        f"wake words:   {w.get('last_hour', 0)} in the last hour ({w.get('per_hour', 0)} per hour since the start)",
    ]
    presence = a.get("presence") or {}
    if presence.get("sensor", "none") != "none":
        seen = "someone there" if presence.get("present") else "nobody"
        lines.append(f"presence:     {presence['sensor']}: {presence.get('problem') or seen}")
    for name, health in (reply.get("devices") or {}).items():
        lines.append(f"{name + ':':<13} {'ok' if health.get('ok') else health.get('problem')}")
    for turn in t.get("recent", []):
        figures = ", ".join(f"{k.removesuffix('_ms')} {v:.0f} ms" for k, v in turn.items()
                            if k.endswith("_ms") and isinstance(v, (int, float)))
        lines.append(f"turn {turn.get('turn')}:      {figures or 'no figures'}")
    if isinstance(reply.get("cost"), dict):
        lines.append(f"cost:         {reply['cost'].get('line', '')}")
    for name, section in reply.items():
        if name not in ("v", "ok", "cmd", "id", "assistant", "connectivity", "uptime", "turns", "wake_words",
                        "devices", "config", "cost"):
            lines.append(f"{name + ':':<13} {section}")  # sections other parts add
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
