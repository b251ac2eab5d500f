"""What every speaker does with a reply, whatever it plays into: queue, convert, finish, stop, report."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from edgevoice.playback.buffer import PlaybackBuffer
from edgevoice.playback.clock import Due, ReplyClock
from edgevoice.audio.resample import Resampler
from edgevoice.playback.convert import resample, samples_from_pcm

logger = logging.getLogger(__name__)

Callback = Callable[[], None]

#: How far back :attr:`ReplyOutput.level` looks: rendered blocks reach the room later (the device's
#: buffer) and come back to the microphone later still (capture buffering, the room's reverb).
LEVEL_HOLD_MS = 200.0


class ReplyOutput:
    """The speaker interface: ``play`` a reply chunk by chunk, ``finish`` it or ``stop`` it, ``play_sound``.

    Subclasses decide where rendered blocks go and when (a device thread, or an input clock);
    they render with :meth:`_render_block` and report progress with :meth:`_advance`.
    """

    def __init__(
        self,
        rate: int,
        *,
        volume: float,
        jitter_ms: float,
        on_start: Callback | None,
        on_finished: Callback | None,
    ) -> None:
        self.rate = rate
        self.on_start = on_start
        self.on_finished = on_finished
        self._buffer = PlaybackBuffer(rate, jitter_ms=jitter_ms, volume=min(max(float(volume), 0.0), 1.0))
        self._clock = ReplyClock()
        self._converter: tuple[int, Resampler] | None = None  # (reply id, its converter)
        self._lock = threading.Condition(threading.RLock())
        self._hold = max(1, int(rate * LEVEL_HOLD_MS / 1000))
        self._levels: deque[tuple[int, float]] = deque()  # (end position, mean square) of recent blocks
        #: Called with every block rendered (int16 samples at ``rate``, its output position): the echo
        #: reference and the simulated room hear everything the speaker plays, chimes included.
        self.on_rendered: Callable[[np.ndarray, int], None] | None = None

    @property
    def level(self) -> float:
        """Mean square (full scale 1.0) of the loudest block rendered in the last 200 ms: what the
        microphone may be hearing of the speaker now, before the room's coupling (0.0: silence)."""
        with self._lock:
            levels = self._levels
            if not levels:
                return 0.0
            recent = levels[-1][0] - self._hold
            while levels and levels[0][0] <= recent:
                levels.popleft()
            return max(power for _, power in levels) if levels else 0.0

    @property
    def volume(self) -> float:
        return self._buffer.volume

    @volume.setter
    def volume(self, value: float) -> None:
        self._buffer.volume = min(max(float(value), 0.0), 1.0)

    @property
    def played_ms(self) -> float:
        """How much of the current (or last) reply has been heard."""
        with self._lock:
            return self._clock.played / self.rate * 1000

    @property
    def playing(self) -> bool:
        """A reply or sound is queued or playing, or a reply's end has not been heard yet."""
        with self._lock:
            return self._buffer.busy or self._clock.pending

    def play(self, pcm: bytes, rate: int) -> None:
        """Queue a chunk of the reply (mono 16-bit PCM at ``rate``); playback starts as soon as it can."""
        samples = samples_from_pcm(pcm)
        with self._lock:
            converter = self._converter_for(rate)
            self._buffer.push(converter.convert(samples))
            self._converter = (self._buffer.reply_id, converter)
            self._lock.notify()

    def finish(self) -> None:
        """No more audio for this reply: play out what is queued, then call ``on_finished``."""
        with self._lock:
            current = self._current_converter()
            if current is not None:
                self._buffer.push(current.flush())
            self._converter = None
            self._buffer.finish()
            self._lock.notify()

    def stop(self) -> float:
        """Cut the reply now (no ``on_finished``); returns the milliseconds of it heard, or still to be heard
        from the output's own small buffer."""
        with self._lock:
            rendered = self._buffer.stop()
            self._clock.stop(self._buffer.reply_id, rendered)
            self._converter = None
            return rendered / self.rate * 1000

    def play_sound(self, pcm: bytes, rate: int) -> None:
        """Mix a short sound (a chime) over whatever plays; it is not part of the reply and has no callbacks."""
        samples = resample(samples_from_pcm(pcm), rate, self.rate)
        with self._lock:
            self._buffer.push_sound(samples)
            self._lock.notify()

    # --- for subclasses ------------------------------------------------------------------

    def _render_block(self, frames: int, position: int):
        """Render the next block, booked at output ``position`` (call with the lock held)."""
        block = self._buffer.render(frames)
        self._clock.wrote(block, position)
        samples = block.samples
        if self.on_rendered is not None:
            self.on_rendered(samples, position)
        if len(samples):
            if self._levels and position != self._levels[-1][0]:
                self._levels.clear()  # a new stretch of output (a device thread started again)
            x = samples.astype(np.float32) / 32768.0
            self._levels.append((position + len(samples), float(np.dot(x, x)) / len(x)))
            if len(self._levels) > 64:  # between reads (the level is read every 10 ms, blocks are >= 10 ms)
                self._levels.popleft()
        return block

    def _advance(self, played: int) -> Due:
        """The output has played everything before ``played`` (call with the lock held)."""
        return self._clock.advance(played)

    def _run_callbacks(self, due: Due) -> None:
        """Call on_start / on_finished as due (call without the lock)."""
        for wanted, callback in ((due.started, self.on_start), (due.finished, self.on_finished)):
            if wanted and callback is not None:
                try:
                    callback()
                except Exception:
                    logger.exception("speaker: callback %r failed", callback)

    def _current_converter(self) -> Resampler | None:
        current = self._converter
        if current is not None and self._buffer.in_reply and current[0] == self._buffer.reply_id:
            return current[1]
        return None

    def _converter_for(self, rate: int) -> Resampler:
        current = self._current_converter()
        if current is not None:
            if current.in_rate == rate:
                return current
            self._buffer.push(current.flush())  # the reply changed rate mid-way
        return Resampler(rate, 1, out_rate=self.rate)
