"""The one error a bad config raises: it names the key, the bad value and what is allowed."""

from __future__ import annotations

EX_CONFIG = 78  # sysexits.h: configuration error; systemd's RestartPreventExitStatus uses it


class ConfigError(Exception):
    """A config file that cannot be used; ``str()`` is the message shown to the user."""

    def __init__(self, key: str, problem: str, *, source: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}" if key else f"{where}{problem}")


def shown(value: object, limit: int = 60) -> str:
    """A bad value as it goes into a message: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
