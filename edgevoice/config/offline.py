"""The [offline] table: what the device says by itself when Voice Live cannot answer, and where it keeps it.

The phrases are rendered in the assistant's own voice through Voice Live while online and kept in
``cache_dir``; until then a local voice (espeak-ng, else tones) stands in. While the service cannot
be reached, a cheap check (TCP, TLS and one HTTP answer, no session) looks for it again, waiting
``probe_min_s`` at first and up to ``probe_max_s`` (exponential backoff with full jitter).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from edgevoice.config.errors import ConfigError, shown
from edgevoice.config.fields import setting

#: The phrases the assistant itself plays, with their default text. Users change the text in
#: [offline] phrases and may add phrases of their own (rendered and cached the same way).
DEFAULT_PHRASES: Mapping[str, str] = MappingProxyType(
    {
        "offline": "Sorry, I can't reach the internet right now. Please try again in a moment.",
        "busy": "I'm a bit busy right now. Please try again in a minute.",
        "service_error": "Sorry, something went wrong. Please try again.",
        "not_heard": "Sorry, I didn't catch that. Please say it again.",
        "muted": "My microphone is switched off. Turn it back on to talk to me.",
    }
)

MAX_PHRASE_CHARS = 400  # a phrase is a sentence or two, spoken in a few seconds
MAX_PHRASES = 50
_PHRASE_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


def parse_phrases(raw: Any, key: str) -> dict[str, str]:
    """The phrase table: the defaults, with the user's texts changed and the user's own keys added."""
    if not isinstance(raw, dict):
        raise ConfigError(key, f'expected a table of name = "text", got {shown(raw)}')
    phrases = dict(DEFAULT_PHRASES)
    for name, text in raw.items():
        where = f"{key}.{name}" if _PHRASE_KEY.fullmatch(str(name)) else key
        if not _PHRASE_KEY.fullmatch(str(name)):
            raise ConfigError(
                where, f"{shown(name)} is not a phrase name: use lower-case letters, digits and _ (e.g. opening_hours)"
            )
        if not isinstance(text, str):
            raise ConfigError(where, f'expected the text to say, e.g. "We open at nine.", got {shown(text)}')
        words = " ".join(text.split())
        if not words:
            raise ConfigError(where, "is empty; give the text to say, or leave the key out for the default")
        if len(words) > MAX_PHRASE_CHARS:
            raise ConfigError(where, f"is {len(words)} characters long; keep a phrase under {MAX_PHRASE_CHARS}")
        phrases[name] = words
    if len(phrases) > MAX_PHRASES:
        raise ConfigError(key, f"has {len(phrases)} phrases; at most {MAX_PHRASES} are cached")
    return phrases


@dataclass(frozen=True)
class OfflineConfig:
    """Cached replies for when the service cannot answer, and how the device looks for it again."""

    cache_dir: Path = setting(
        Path("/var/cache/edgevoice"), "where the phrases rendered in the assistant's voice are kept"
    )
    phrases: dict[str, str] = setting(
        default_factory=lambda: dict(DEFAULT_PHRASES),
        doc="what the device says by itself: name = text (offline, busy, service_error, not_heard, muted, your own)",
        parse=parse_phrases,
    )
    warm: bool = setting(
        True, "render the phrases in the assistant's voice in the background once online (false: local voice only)"
    )
    probe_min_s: float = setting(
        2.0, "first wait (s) before checking whether an unreachable service is back", min=0.1, max=600
    )
    probe_max_s: float = setting(
        120.0, "longest wait (s) between checks while the service cannot be reached", min=1, max=3600
    )

    def check(self) -> None:
        if self.probe_max_s < self.probe_min_s:
            raise ConfigError("probe_max_s", f"{self.probe_max_s:g} is shorter than probe_min_s ({self.probe_min_s:g})")
