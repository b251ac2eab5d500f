"""Client events as the chosen service wants them: its dialect's shape, and its input sample rate.

edgevoice builds client events in the Voice Live shape with 16 kHz audio. :class:`WireEvents`
rewrites each one through the dialect, and for a service that takes another input rate (24 kHz
for Azure OpenAI) resamples the streamed audio with one streaming filter, flushed at each commit
so that the end of the turn is not held back in the filter. No I/O; one instance per session.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from edgevoice.audio.resample import Resampler
from edgevoice.config.voicelive import INPUT_SAMPLE_RATE
from edgevoice.voicelive.dialects.base import Dialect
from edgevoice.voicelive.protocol import client_events


class WireEvents:
    """Turns one Voice Live-shaped client event into the events to send (usually one; two at a commit)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._resampler = (
            Resampler(INPUT_SAMPLE_RATE, 1, out_rate=dialect.input_rate) if dialect.input_rate != INPUT_SAMPLE_RATE else None
        )

    def convert(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if self._resampler is None or kind not in ("input_audio_buffer.append", "input_audio_buffer.commit", "input_audio_buffer.clear"):
            return [self.dialect.client_event(event)]
        if kind == "input_audio_buffer.append":
            pcm = self._resampler.process(base64.b64decode(event.get("audio", "")))
            return [self.dialect.client_event({**event, "audio": base64.b64encode(pcm).decode("ascii")})]
        out: list[dict[str, Any]] = []
        if kind == "input_audio_buffer.commit":
            tail = self._resampler.process(b"", last=True)
            if tail:
                out.append(self.dialect.client_event(client_events.input_audio_append(tail)))
        self._resampler.reset()
        out.append(self.dialect.client_event(event))
        return out
