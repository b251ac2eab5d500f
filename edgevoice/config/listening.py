"""The [audio], [listening] and [buttons] tables: what the device hears and how it decides to listen."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AudioConfig:
    """Placeholder until the listening work lands."""


@dataclass(frozen=True)
class ListeningConfig:
    """Placeholder until the listening work lands."""


@dataclass(frozen=True)
class ButtonsConfig:
    """Placeholder until the listening work lands."""
