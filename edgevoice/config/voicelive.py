"""The [voicelive] table: which model, voice and options the Voice Live session is opened with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VoiceLiveConfig:
    """Placeholder until the config work lands."""
