"""Play replies on a PyAudio output device as they stream in, and cut them short on barge-in.

One thread per speaker writes small blocks (``period_ms``) to a blocking PortAudio stream, so
what sits in the device after :meth:`Speaker.stop` is one block plus the device's own buffer
(PortAudio's low-latency setting; :attr:`Speaker.device_buffer_ms` says what it turned out to be).
The thread also keeps real time itself: it never runs more than a few blocks ahead of the wall
clock, so played_ms stays honest on outputs that swallow audio faster than they play it
(network sinks, ALSA's null and file plugins), and a dead device is replaced by silence at the
same pace while it is reopened, so callers see a reply take as long as it would have.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import pyaudio

from edgevoice.playback.convert import to_channels
from edgevoice.playback.output import Callback, ReplyOutput

logger = logging.getLogger(__name__)


class DeviceNotFound(LookupError):
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
    """The index of ``device`` (an index, or part of a name, any case); None for the system default."""
    if device is None or (isinstance(device, str) and device.strip().lower() in ("", "default")):
        return None
    devices = output_devices(pa)
    if isinstance(device, int) or device.strip().isdigit():
        index = int(device)
        if any(i == index for i, _ in devices):
            return index
        raise DeviceNotFound(f"no output device with index {index}; there are: {_listing(devices)}")
    wanted = device.strip().lower()
    for index, name in devices:
        if wanted in name.lower():
            return index
    raise DeviceNotFound(f"no output device whose name contains {device!r}; there are: {_listing(devices)}")


def _listing(devices: list[tuple[int, str]]) -> str:
    return ", ".join(f"{i}: {name}" for i, name in devices) or "none"


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
    :meth:`finish`; never for a stopped reply). Both run on the speaker's thread: keep them short.
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
        on_start: Callback | None = None,
        on_finished: Callback | None = None,
        pyaudio_instance: pyaudio.PyAudio | None = None,
    ) -> None:
        self.device = device
        self.retry_s = retry_s
        self._own_pa = pyaudio_instance is None
        self._pa = pyaudio_instance or pyaudio.PyAudio()
        try:
            self.format = negotiate(self._pa, device, rate)
        except (DeviceNotFound, OSError) as exc:
            logger.error("speaker: %s; playing into silence until it appears", exc)
            self.format = OutputFormat(None, rate, 1)
        super().__init__(
            self.format.rate, volume=volume, jitter_ms=jitter_ms, on_start=on_start, on_finished=on_finished
        )
        self._period = max(1, int(self.rate * period_ms / 1000))
        self._closing = False
        self._stream: Any = None
        self._failed = False
        self._retry_at = 0.0
        self.device_buffer_ms: float | None = None  # what the device holds beyond our blocks, once opened
        self._thread = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and release the device."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._thread.join(timeout=2.0)
        if self._own_pa:
            self._pa.terminate()

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closing and not (self._buffer.busy or self._clock.pending):
                    self._lock.wait()
                if self._closing:
                    break
            try:
                self._play_while_busy()
            except Exception:  # a bug must not silence the assistant for good
                logger.exception("speaker: playback failed; continuing")
                self._drop_stream()
                time.sleep(0.1)
        self._drop_stream()

    def _play_while_busy(self) -> None:
        """Write blocks until the reply and sounds have played; then stop the stream."""
        stream = self._start_stream() if time.monotonic() >= self._retry_at else None
        device_buffer = self._device_buffer(stream)
        pace = _RealTime(self.rate)
        written = healthy = 0
        while not self._closing:
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
                stream = self._start_stream()
                device_buffer = self._device_buffer(stream)
            if stream is not None:
                try:
                    stream.write(to_channels(block.samples, self.format.channels).tobytes())
                except OSError as exc:
                    self._device_failed(exc)
                    stream = None
                    healthy = 0
                else:
                    healthy += self._period
                    # Writes land in the device's buffer first: only a whole buffer's worth going
                    # through without an error shows that the device really works again.
                    if self._failed and healthy > 2 * device_buffer + self._period:
                        logger.info("speaker: output device %r is back", self.device or "default")
                        self._failed = False
            written += self._period
        if stream is not None:
            try:
                stream.stop_stream()
            except OSError as exc:
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

    def _start_stream(self) -> Any:
        """The device stream, started; None (and a retry later) if the device will not open."""
        if self._stream is not None and self._failed:
            self._drop_stream()  # opened while the device was failing: start afresh
        if self._stream is not None:
            try:
                self._stream.start_stream()
                return self._stream
            except OSError as exc:
                self._device_failed(exc)
                return None
        try:
            fmt = negotiate(self._pa, self.device, self.rate)
            if fmt.rate != self.rate:
                raise DeviceNotFound(f"output device {self.device or 'default'!r} no longer plays {self.rate} Hz")
            self.format = fmt
            self._stream = self._pa.open(
                format=pyaudio.paInt16,
                channels=self.format.channels,
                rate=self.rate,
                output=True,
                output_device_index=self.format.index,
                frames_per_buffer=self._period,
            )
        except (OSError, ValueError, DeviceNotFound) as exc:
            self._device_failed(exc)
            return None
        logger.debug("speaker: opened %r at %d Hz, %d channel(s), PortAudio latency %.1f ms",
                     self.device or "default", self.rate, self.format.channels,
                     self._stream.get_output_latency() * 1000)
        return self._stream

    def _device_failed(self, exc: BaseException) -> None:
        if not self._failed:
            logger.error("speaker: output device %r failed (%s); playing into silence and retrying every %g s",
                         self.device or "default", exc, self.retry_s)
        else:
            logger.debug("speaker: output device still failing: %s", exc)
        self._failed = True
        self._retry_at = time.monotonic() + self.retry_s
        self._drop_stream()

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


class _RealTime:
    """What an output playing in real time would have played of what it was given, gaps included."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._played = 0.0
        self._at: float | None = None

    def position(self, written: int) -> int:
        now = time.monotonic()
        if self._at is not None:
            self._played = min(float(written), self._played + (now - self._at) * self.rate)
        self._at = now
        return int(self._played)
