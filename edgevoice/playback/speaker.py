"""Play replies on a PyAudio output device as they stream in, and cut them short on barge-in.

One thread per speaker writes small blocks (``period_ms``) to a blocking PortAudio stream, so
what sits in the device after :meth:`Speaker.stop` is one block plus the device's own buffer
(PortAudio's low-latency setting; :attr:`Speaker.device_buffer_ms` says what it turned out to be).
The thread also keeps real time itself: it never runs more than a few blocks ahead of the wall
clock, so played_ms stays honest on outputs that swallow audio faster than they play it
(network sinks, ALSA's null and file plugins), and a dead device is replaced by silence at the
same pace while it is reopened, so callers see a reply take as long as it would have. A device
that hangs (a write that never returns) gets the same treatment: a watcher thread abandons the
stuck writer after ``hang_s`` and a new one carries on, so a reply's end is never waited for forever.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyaudio

from edgevoice.audio.portaudio import DeviceError, match_device, quiet_stderr
from edgevoice.playback.convert import to_channels
from edgevoice.playback.output import Callback, ReplyOutput

logger = logging.getLogger(__name__)


class DeviceNotFound(DeviceError, LookupError):
    """No output device matches the configured name or index."""


def output_devices(pa: pyaudio.PyAudio) -> list[tuple[int, str]]:
    """(index, name) of every device that can play sound."""
    found = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if int(info.get("maxOutputChannels", 0)) > 0:
            found.append((index, str(info.get("name", ""))))
    return found


def find_output_device(pa: pyaudio.PyAudio, device: str | int | None) -> int | None:
    """The index of ``device`` (as :func:`~edgevoice.audio.portaudio.match_device` reads it); None for the system default."""
    try:
        return match_device(output_devices(pa), device, "output")
    except DeviceError as exc:
        raise DeviceNotFound(str(exc)) from None


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """How the device stream is opened."""

    index: int | None  # None: PortAudio's default output
    rate: int
    channels: int


def negotiate(pa: pyaudio.PyAudio, device: str | int | None, rate: int) -> OutputFormat:
    """The device, and the rate and channel count it takes: ``rate`` mono if it can, else what it can."""
    index = find_output_device(pa, device)
    info = pa.get_device_info_by_index(index) if index is not None else pa.get_default_output_device_info()
    device_index = int(info["index"])
    rates = [rate] + [r for r in (48000, 44100, int(info.get("defaultSampleRate") or 0)) if r and r != rate]
    for channels in (1, 2):
        for candidate in rates:
            try:
                if pa.is_format_supported(candidate, output_device=device_index, output_channels=channels,
                                          output_format=pyaudio.paInt16):
                    return OutputFormat(index, candidate, channels)
            except ValueError:
                continue
    raise DeviceNotFound(f"output device {info.get('name')!r} plays none of {rates} Hz as 16-bit mono or stereo")


class Speaker(ReplyOutput):
    """A speaker for streamed replies: ``play`` chunks as they arrive, ``finish``, or ``stop`` early.

    ``device`` is an index or part of a device name (None: the system default); ``rate`` is the
    rate replies usually come at, used for the device if it takes it. ``on_start`` runs when the
    reply becomes audible and ``on_finished`` when its last sample has played (after
    :meth:`finish`; never for a stopped reply). ``on_device`` is told why the device fails (once,
    when it starts failing) and ``None`` when it works again. All run on the speaker's thread (or
    in the constructor): keep them short.
    """

    def __init__(
        self,
        device: str | int | None = None,
        *,
        rate: int = 24000,
        volume: float = 1.0,
        jitter_ms: float = 60.0,
        period_ms: float = 20.0,
        retry_s: float = 2.0,
        hang_s: float = 2.0,
        on_start: Callback | None = None,
        on_finished: Callback | None = None,
        on_device: Callable[[str | None], None] | None = None,
        pyaudio_instance: pyaudio.PyAudio | None = None,
    ) -> None:
        self.device = device
        self.retry_s = retry_s
        self.hang_s = hang_s
        self.on_device = on_device
        self._failed = False
        self._own_pa = pyaudio_instance is None
        self._pa: pyaudio.PyAudio | None = pyaudio_instance or _new_session()
        self._release_when_idle = False
        try:
            self.format = negotiate(self._pa, device, rate)
        except (DeviceNotFound, OSError) as exc:
            logger.error("speaker: %s; playing into silence until it appears", exc)
            self.format = OutputFormat(None, rate, 1)
            self._report(str(exc))
        super().__init__(
            self.format.rate, volume=volume, jitter_ms=jitter_ms, on_start=on_start, on_finished=on_finished
        )
        self._period = max(1, int(self.rate * period_ms / 1000))
        self._closing = False
        self._stream: Any = None
        self._retry_at = 0.0
        self.device_buffer_ms: float | None = None  # what the device holds beyond our blocks, once opened
        self._generation = 0  # the writer thread that is in charge; older ones were abandoned
        self._in_device: tuple[int, float] | None = None  # (writer, since when) while a writer is in a device call
        self._booked = 0  # output position after the last block the writer booked
        self._resume_at = 0  # where a writer that takes over from a stuck one starts
        self._stuck: list[threading.Thread] = []  # abandoned writers still inside the device
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(0,), name="speaker", daemon=True)
        self._thread.start()
        threading.Thread(target=self._watch, name="speaker-watch", daemon=True).start()

    @property
    def release_when_idle(self) -> bool:
        """End the PortAudio session whenever nothing plays (the next reply starts a new one, some tens
        of ms later). PortAudio lists devices once, when the first session of the process starts: a
        microphone plugged in later is only found once every session has ended. Set it while one is missing."""
        return self._release_when_idle

    @release_when_idle.setter
    def release_when_idle(self, value: bool) -> None:
        with self._lock:
            self._release_when_idle = bool(value)
            self._lock.notify()

    def close(self) -> None:
        """Stop the thread and release the device."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._closed.set()
        self._thread.join(timeout=2.0)
        if not self._still_stuck():  # ending the session under a writer stuck in it could crash PortAudio
            self._release_session()

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the writer thread -------------------------------------------------------------------

    def _run(self, generation: int) -> None:
        while True:
            with self._lock:
                while not self._closing and not (self._buffer.busy or self._clock.pending):
                    if (self._release_when_idle or self._failed) and not self._still_stuck():
                        self._release_session()  # a failing device: look for it afresh next time
                    self._lock.wait()
                if self._closing or generation != self._generation:
                    break
                start, self._resume_at = self._resume_at, 0
            try:
                self._play_while_busy(generation, start)
            except Exception:  # a bug must not silence the assistant for good
                if generation != self._generation:
                    return
                logger.exception("speaker: playback failed; continuing")
                self._drop_stream()
                time.sleep(0.1)
            if generation != self._generation:
                return  # abandoned while stuck in the device: the writer that took over is in charge
        self._drop_stream()

    def _play_while_busy(self, generation: int, start: int = 0) -> None:
        """Write blocks until the reply and sounds have played; then stop the stream. Output positions
        begin at ``start`` (where a stuck writer left off)."""
        stream = self._start_stream(generation) if time.monotonic() >= self._retry_at else None
        device_buffer = self._device_buffer(stream)
        pace = _RealTime(self.rate, start)
        written, healthy = start, 0
        while not self._closing and generation == self._generation:
            with self._lock:
                if not (self._buffer.busy or self._clock.pending):
                    break
                played = self._played_position(stream, written, device_buffer, pace)
                due = self._advance(played)
                ahead = written - played
                # Nothing to play yet (jitter hold, a slow network) and the device is not about to run
                # dry: wait for audio rather than queue silence in front of it.
                idle = not self._buffer.ready and (written == 0 or ahead > self._period)
                if not idle:
                    # Render and book together, so `playing` never blinks off in between.
                    block = self._render_block(self._period, written)
                    self._booked = written + self._period
            self._run_callbacks(due)
            if idle:
                with self._lock:
                    self._lock.wait(max(ahead - self._period, self._period) / self.rate)
                continue
            # Never further ahead of real time than a device that blocks would let us be.
            max_ahead = max(device_buffer, 2 * self._period)
            if ahead > max_ahead:
                time.sleep((ahead - max_ahead) / self.rate)
            if stream is None and time.monotonic() >= self._retry_at:
                stream = self._start_stream(generation)
                device_buffer = self._device_buffer(stream)
            if stream is not None:
                try:
                    with self._device_call(generation):
                        stream.write(to_channels(block.samples, self.format.channels).tobytes())
                except OSError as exc:
                    if generation != self._generation:  # the device let go of an abandoned writer
                        _close_quietly(stream)
                        return
                    self._device_failed(exc)
                    stream = None
                    healthy = 0
                else:
                    if generation != self._generation:
                        _close_quietly(stream)
                        return
                    healthy += self._period
                    # Writes land in the device's buffer first: only a whole buffer's worth going
                    # through without an error shows that the device really works again.
                    if self._failed and healthy > 2 * device_buffer + self._period:
                        logger.info("speaker: output device %r is back", self.device or "default")
                        self._report(None)
            written += self._period
        if stream is not None and generation == self._generation:
            try:
                with self._device_call(generation):
                    stream.stop_stream()
            except OSError as exc:
                if generation == self._generation:
                    self._device_failed(exc)

    def _played_position(self, stream: Any, written: int, device_buffer: int, pace: _RealTime) -> int:
        """How many of the frames written have been heard: the device's account, capped by real time."""
        by_clock = pace.position(written)
        if stream is None:
            return by_clock
        try:
            queued = max(0, device_buffer - stream.get_write_available())
        except OSError:
            queued = 0
        return max(0, min(written - queued, by_clock))

    def _device_buffer(self, stream: Any) -> int:
        if stream is None:
            return 0
        try:
            frames = int(stream.get_write_available())
        except OSError:
            return 0
        self.device_buffer_ms = frames / self.rate * 1000
        return frames

    def _start_stream(self, generation: int) -> Any:
        """The device stream, started; None (and a retry later) if the device will not open."""
        if self._still_stuck():  # the device has not given back the writer it hung: not yet
            self._retry_at = time.monotonic() + self.retry_s
            return None
        if self._stream is not None and self._failed:
            self._drop_stream()  # opened while the device was failing: start afresh
        if self._stream is not None:
            try:
                with self._device_call(generation):
                    self._stream.start_stream()
                return self._stream
            except OSError as exc:
                self._device_failed(exc)
                return None
        try:
            with self._device_call(generation):  # probing a device opens it too: that can hang as well
                if self._pa is None:
                    self._pa = _new_session()
                fmt = negotiate(self._pa, self.device, self.rate)
                if fmt.rate != self.rate:
                    raise DeviceNotFound(f"output device {self.device or 'default'!r} no longer plays {self.rate} Hz")
                self.format = fmt
                stream = self._pa.open(
                    format=pyaudio.paInt16,
                    channels=self.format.channels,
                    rate=self.rate,
                    output=True,
                    output_device_index=self.format.index,
                    frames_per_buffer=self._period,
                )
        except (OSError, ValueError, DeviceNotFound) as exc:
            if generation == self._generation:
                self._device_failed(exc)
            return None
        if generation != self._generation:  # abandoned while opening
            _close_quietly(stream)
            return None
        self._stream = stream
        logger.debug("speaker: opened %r at %d Hz, %d channel(s), PortAudio latency %.1f ms",
                     self.device or "default", self.rate, self.format.channels,
                     self._stream.get_output_latency() * 1000)
        return self._stream

    def _device_failed(self, exc: BaseException) -> None:
        if not self._failed:
            logger.error("speaker: output device %r failed (%s); playing into silence and retrying every %g s",
                         self.device or "default", exc, self.retry_s)
            self._report(f"{exc}")
        else:
            logger.debug("speaker: output device still failing: %s", exc)
        self._retry_at = time.monotonic() + self.retry_s
        self._drop_stream()

    def _report(self, failure: str | None) -> None:
        """Note whether the device fails (``failure``: why) or works (None), and tell ``on_device``."""
        self._failed = failure is not None
        if self.on_device is not None:
            try:
                self.on_device(failure)
            except Exception:  # a broken observer must not stop playback
                logger.exception("speaker: on_device callback failed")

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        _close_quietly(stream)

    # --- a device that hangs -----------------------------------------------------------------

    @contextlib.contextmanager
    def _device_call(self, generation: int) -> Iterator[None]:
        """Mark a call into the device by writer ``generation``, for the watcher to time."""
        self._in_device = (generation, time.monotonic())
        try:
            yield
        finally:
            if self._in_device is not None and self._in_device[0] == generation:
                self._in_device = None

    def _watch(self) -> None:
        """Abandon a writer that has been inside the device for ``hang_s``: it would hold every reply."""
        while not self._closed.wait(self.hang_s / 4):
            call = self._in_device
            if call is not None and time.monotonic() - call[1] > self.hang_s:
                self._abandon(call[0])

    def _abandon(self, generation: int) -> None:
        """Leave writer ``generation`` stuck in the device and start a new one that plays into silence."""
        with self._lock:
            if generation != self._generation or self._closing:
                return
            self._generation += 1
            self._stuck.append(self._thread)
            self._stream = None  # left as it is: closing a stream a write is blocked in can crash PortAudio
            self._in_device = None
            self._resume_at = self._booked  # what went to the hung device is lost: carry on after it
            self._retry_at = time.monotonic() + self.retry_s
            self._thread = threading.Thread(target=self._run, args=(self._generation,), name="speaker", daemon=True)
            self._thread.start()
            self._lock.notify_all()
        logger.error("speaker: output device %r hung (a call into it did not return within %g s); playing into "
                     "silence and retrying once it lets go", self.device or "default", self.hang_s)
        self._report(f"hung for more than {self.hang_s:g} s")

    def _still_stuck(self) -> bool:
        """An abandoned writer is still inside the device."""
        self._stuck = [thread for thread in self._stuck if thread.is_alive()]
        return bool(self._stuck)

    def _release_session(self) -> None:
        """Close the stream and end our PortAudio session (not one we were given)."""
        self._drop_stream()
        if self._own_pa and self._pa is not None:
            self._pa.terminate()
            self._pa = None


def _close_quietly(stream: Any) -> None:
    """Close a stream that may be broken (a device that failed or hung)."""
    if stream is not None:
        try:
            stream.close()
        except OSError:
            pass


def _new_session() -> pyaudio.PyAudio:
    with quiet_stderr():  # ALSA's probe chatter
        return pyaudio.PyAudio()


class _RealTime:
    """What an output playing in real time would have played of what it was given, gaps included."""

    def __init__(self, rate: int, start: int = 0) -> None:
        self.rate = rate
        self._played = float(start)
        self._at: float | None = None

    def position(self, written: int) -> int:
        now = time.monotonic()
        if self._at is not None:
            self._played = min(float(written), self._played + (now - self._at) * self.rate)
        self._at = now
        return int(self._played)
