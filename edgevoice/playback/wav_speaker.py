"""A speaker that records to a WAV file (``--output-wav``) on the same clock as the input.

The daemon reads its input (a WAV file at real-time pace, or the microphone) and tells the
recorder how far the input has got with :meth:`WavSpeaker.advance_to`. The recorder then writes
exactly that much output: the reply where one was playing, silence where none was. The output
file therefore lines up sample for sample with the input: a reply heard 3.2 s into the input
starts 3.2 s into the output, and a barge-in shows where the user cut it off.
"""

from __future__ import annotations

import logging
import wave
from pathlib import Path

from edgevoice.playback.clock import Due
from edgevoice.playback.output import Callback, ReplyOutput

logger = logging.getLogger(__name__)


class WavSpeaker(ReplyOutput):
    """The speaker interface, rendering into a WAV file in input time.

    Callbacks run inside :meth:`advance_to` (on the caller's thread) when the input clock reaches
    the moment the reply starts or ends. A reply starts at the first :meth:`advance_to` after its
    first chunk (no jitter hold unless ``jitter_ms`` is given).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        rate: int = 16000,
        volume: float = 1.0,
        jitter_ms: float = 0.0,
        on_start: Callback | None = None,
        on_finished: Callback | None = None,
    ) -> None:
        super().__init__(rate, volume=volume, jitter_ms=jitter_ms, on_start=on_start, on_finished=on_finished)
        self.path = Path(path)
        self._block = max(1, rate // 100)  # render in 10 ms steps so callbacks land within 10 ms
        self._written = 0
        self._wav: wave.Wave_write | None = wave.open(str(self.path), "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)

    @property
    def position_s(self) -> float:
        """How far along the timeline the file has been written."""
        return self._written / self.rate

    def advance_to(self, seconds: float) -> None:
        """The input has reached ``seconds``: write the output up to the same moment."""
        target = int(round(seconds * self.rate))
        while True:
            with self._lock:
                if self._wav is None or self._written >= target:
                    return
                due = self._write(min(target - self._written, self._block))
            self._run_callbacks(due)

    def close(self) -> None:
        """Play out what is still queued (a reply may end after the input does), then close the file."""
        while True:
            with self._lock:
                if self._wav is None:
                    return
                if not self._buffer.ready and not self._clock.pending:
                    wav, self._wav = self._wav, None
                    break
                due = self._write(self._block)
            self._run_callbacks(due)
        wav.close()
        logger.debug("wav speaker: wrote %.2f s to %s", self._written / self.rate, self.path)

    def __enter__(self) -> WavSpeaker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _write(self, frames: int) -> Due:
        assert self._wav is not None
        block = self._render_block(frames, self._written)
        self._wav.writeframes(block.samples.tobytes())
        self._written += frames
        return self._advance(self._written)
