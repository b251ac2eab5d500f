"""Token counts by billing kind, from a response's usage (``response.done``), added up per turn and day.

The service reports, as the SDK's ``TokenUsage`` / ``InputTokenDetails`` / ``CachedTokenDetails`` /
``OutputTokenDetails`` describe it, input text and audio tokens *including* the cached ones, and
the cached part split into text and audio. Each is billed at its own price, so the counts kept
here are the six billing kinds: uncached input text and audio, cached text and audio, output
text and audio.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgevoice.voicelive.protocol.server_events import Usage

#: The billing kinds, in the order they are shown (the metrics' ``kind`` label).
KINDS = ("input_text", "input_audio", "cached_text", "cached_audio", "output_text", "output_audio")


@dataclass(frozen=True, slots=True)
class Tokens:
    """Tokens of each billing kind (input_* exclude the cached tokens, which are counted apart)."""

    input_text: int = 0
    input_audio: int = 0
    cached_text: int = 0
    cached_audio: int = 0
    output_text: int = 0
    output_audio: int = 0

    @classmethod
    def from_usage(cls, usage: Usage) -> Tokens:
        """The billing kinds of one response's usage. Without a cached text/audio split, the cached
        tokens are shared out in proportion to the input's text and audio."""
        cached = usage.input_cached_tokens
        cached_text, cached_audio = usage.input_cached_text_tokens, usage.input_cached_audio_tokens
        if cached and cached_text + cached_audio == 0:
            inputs = usage.input_text_tokens + usage.input_audio_tokens
            cached_text = round(cached * usage.input_text_tokens / inputs) if inputs else cached
            cached_audio = cached - cached_text
        return cls(
            input_text=max(0, usage.input_text_tokens - cached_text),
            input_audio=max(0, usage.input_audio_tokens - cached_audio),
            cached_text=cached_text,
            cached_audio=cached_audio,
            output_text=usage.output_text_tokens,
            output_audio=usage.output_audio_tokens,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tokens:
        """From :meth:`as_dict` (the ledger file); raises ValueError on anything but counts."""
        counts = {}
        for kind in KINDS:
            value = data.get(kind, 0)
            if type(value) is not int or value < 0:
                raise ValueError(f"{kind} is not a token count: {value!r}")
            counts[kind] = value
        return cls(**counts)

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    @property
    def total(self) -> int:
        return sum(dataclasses.astuple(self))

    @property
    def context(self) -> int:
        """Every input token: the conversation the model read to answer (what a context cap limits)."""
        return self.input_text + self.input_audio + self.cached_text + self.cached_audio

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)
