"""The microphone as 10 ms frames, reopened whenever it dies, goes quiet or was never there.

A USB microphone can be unplugged, and a stuck driver can keep a stream "open" while no audio
arrives, or while it hands out the same stale buffer again and again (ALSA does that when its
source runs dry). All look the same from here: no frames, only digital silence, or audio that
repeats itself exactly, for ``stall_timeout_s``. The microphone then logs it, says so in ``status``, closes the stream
(abandoning it if the driver hangs on close) and reopens with backoff, so the daemon never sits
silent believing it listens.

A reader that falls behind (a busy CPU) loses audio: the device reports an overflow, or the queue
between the device's thread and the reader fills up. Both are counted (``overflows``,
``overruns``) and logged once per burst, when it starts and when the reader has caught up.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from edgevoice.audio.frames import Framer, SourceStatus, StatusCallback
from edgevoice.audio.portaudio import DeviceError, PortAudio
from edgevoice.audio.resample import Resampler

if TYPE_CHECKING:
    from edgevoice.config.listening import AudioConfig

logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 1.0  # a driver that takes longer to close a stream is abandoned
_QUEUE_SECONDS = 2.0  # audio buffered between the device thread and the reader
_WAKE = object()  # put in the queue by close() to wake a blocked reader
_RECENT_CHUNKS = 8  # a chunk equal to one of the last few is stale audio replayed by a stuck driver
_STALL_GRACE_S = 0.2  # a second, short wait before calling a stall: see _read
_CAUGHT_UP_S = 1.0  # a burst of dropped audio is over after this much audio read with nothing dropped


class OpenedInput(Protocol):
    """A capture stream that is running: what it is, and how to stop it."""

    name: str
    rate: int
    channels: int

    def close(self) -> None: ...


class InputBackend(Protocol):
    """Opens capture streams; ``callback(data, overflowed=False)`` runs on the device's thread and returns
    False to stop; ``overflowed`` says the device dropped audio before ``data``."""

    def open(
        self, device: str | int, rate: int | None, buffer_ms: int, callback: Callable[..., bool]
    ) -> OpenedInput: ...


@dataclass
class _PyAudioInput:
    name: str
    rate: int
    channels: int
    _pa: PortAudio
    _stream: object

    def close(self) -> None:
        try:
            self._stream.stop_stream()  # type: ignore[attr-defined]
            self._stream.close()  # type: ignore[attr-defined]
        finally:
            self._pa.terminate()


class PyAudioBackend:
    """The real thing: a fresh PortAudio session per open, so a re-plugged USB device is found again."""

    def open(self, device: str | int, rate: int | None, buffer_ms: int, callback: Callable[..., bool]) -> OpenedInput:
        pa = PortAudio()
        try:
            info = pa.find(device, "input")
            use_rate, channels = pa.input_format(info, rate)
            stream = pa.open_input(info, use_rate, channels, max(1, use_rate * buffer_ms // 1000), callback)
        except DeviceError:
            pa.terminate()
            raise
        except (OSError, ValueError) as exc:
            pa.terminate()
            raise DeviceError(f"cannot open input device {device!r}: {exc}") from exc
        return _PyAudioInput(info.name, use_rate, channels, pa, stream)


class Microphone:
    """Live 16 kHz mono frames from a sound device, chosen by name substring or index.

    ``frames()`` blocks while the device is missing or being reopened; ``status`` and the
    ``on_status`` callback (called from the reading thread) say what is going on.
    """

    def __init__(
        self,
        device: str | int = "default",
        *,
        sample_rate: int | None = None,
        buffer_ms: int = 20,
        stall_timeout_s: float = 2.0,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        deaf_on_digital_silence: bool = True,
        on_status: StatusCallback | None = None,
        backend: InputBackend | None = None,
    ) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self.buffer_ms = buffer_ms
        self.stall_timeout_s = stall_timeout_s
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.deaf_on_digital_silence = deaf_on_digital_silence
        self._on_status = on_status
        self._backend: InputBackend = backend if backend is not None else PyAudioBackend()
        self._status = SourceStatus("opening", device=str(device))
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._input: OpenedInput | None = None
        self._queue: queue.Queue | None = None
        self._generation = 0
        self._failures = 0
        self.overruns = 0  #: chunks dropped because the reader fell behind (the queue was full)
        self.overflows = 0  #: chunks the device flagged as coming after audio it had to drop
        self._lost_at_open = (0, 0)  # (overruns, overflows) when the current stream was opened
        self.reopens = 0  #: how many times the device was reopened after a failure

    @classmethod
    def from_config(cls, audio: AudioConfig, *, on_status: StatusCallback | None = None,
                    backend: InputBackend | None = None) -> Microphone:
        """The microphone described by the [audio] table."""
        return cls(
            audio.input_device,
            sample_rate=audio.input_sample_rate,
            buffer_ms=audio.buffer_ms,
            stall_timeout_s=audio.stall_timeout_s,
            backoff_s=audio.reopen_backoff_s,
            backoff_max_s=audio.reopen_backoff_max_s,
            deaf_on_digital_silence=audio.deaf_on_digital_silence,
            on_status=on_status,
            backend=backend,
        )

    @property
    def status(self) -> SourceStatus:
        """What the microphone is doing now."""
        return self._status

    def _set_status(self, state: str, detail: str = "", device: str | None = None) -> None:
        if state == self._status.state and detail == self._status.detail:
            return
        self._status = SourceStatus(state, detail, device if device is not None else self._status.device)
        if self._on_status is not None:
            try:
                self._on_status(self._status)
            except Exception:  # a broken observer must not stop the microphone
                logger.exception("microphone status callback failed")

    # -- opening and closing ---------------------------------------------------------------

    def _open(self) -> tuple[queue.Queue, Resampler] | None:
        """Open the device; on failure log, set status ``missing`` and return None."""
        self._generation += 1
        generation = self._generation
        q: queue.Queue = queue.Queue(maxsize=max(4, int(_QUEUE_SECONDS * 1000 / self.buffer_ms)))

        def callback(data: bytes, overflowed: bool = False) -> bool:  # the device's thread: count, never log
            if generation != self._generation or self._closed.is_set():
                return False  # an abandoned stream: stop it
            if overflowed:
                self.overflows += 1
            try:
                q.put_nowait(data)
            except queue.Full:
                self.overruns += 1
            return True

        self._set_status("opening", f"opening {self.device!r}")
        self._lost_at_open = (self.overruns, self.overflows)  # drops before the first read count too
        try:
            opened = self._backend.open(self.device, self.sample_rate, self.buffer_ms, callback)
        except (DeviceError, OSError) as exc:
            self._failures += 1
            log = logger.error if self._failures == 1 else logger.info
            log("microphone %r cannot be opened (attempt %d): %s", self.device, self._failures, exc)
            self._set_status("missing", str(exc))
            return None
        except Exception as exc:  # an audio library failing in a way nobody foresaw: retry, do not die
            self._failures += 1
            logger.exception("microphone %r failed to open (attempt %d)", self.device, self._failures)
            self._set_status("missing", f"{type(exc).__name__}: {exc}")
            return None
        with self._lock:
            if self._closed.is_set():
                _close_with_timeout(opened)
                return None
            self._input, self._queue = opened, q
        if opened.rate != 16000 or opened.channels != 1:
            logger.info("microphone %r: %d Hz, %d channel(s), converted to 16 kHz mono", opened.name, opened.rate,
                        opened.channels)
        else:
            logger.info("microphone %r opened at 16 kHz mono", opened.name)
        self._set_status("opening", f"{opened.name} opened", device=opened.name)
        return q, Resampler(opened.rate, opened.channels)

    def _drop_input(self) -> None:
        with self._lock:
            opened, self._input, self._queue = self._input, None, None
            self._generation += 1  # any late callback of the old stream now stops it
        if opened is not None:
            _close_with_timeout(opened)

    def _fail(self, state: str, detail: str) -> None:
        """The open device stopped working: say so, drop it; the next loop reopens with backoff."""
        self._failures += 1
        log = logger.warning if self._failures == 1 else logger.info
        log("microphone %r %s: %s; reopening", self._status.device, state, detail)
        self._set_status(state, detail)
        self._drop_input()
        self.reopens += 1

    def _backoff(self) -> float:
        return min(self.backoff_max_s, self.backoff_s * 2 ** max(0, self._failures - 1))

    def close(self) -> None:
        """Stop the microphone (from any thread); ``frames()`` returns soon after."""
        self._closed.set()
        with self._lock:
            q = self._queue
        if q is not None:
            try:
                q.put_nowait(_WAKE)
            except queue.Full:
                pass
        self._drop_input()
        self._set_status("closed")

    # -- reading -----------------------------------------------------------------------------

    def frames(self) -> Iterator[bytes]:
        """Yield 320-byte frames until ``close()``; survives the device coming and going."""
        for block in self.blocks():
            yield from block

    def blocks(self, _block_frames: int = 0) -> Iterator[list[bytes]]:
        """The frames of each device callback (``buffer_ms``) together, until ``close()``."""
        framer = Framer()
        try:
            while not self._closed.is_set():
                if self._failures:
                    if self._closed.wait(self._backoff()):
                        break
                opened = self._open()
                if opened is None:
                    continue
                q, resampler = opened
                framer.clear()
                yield from self._read(q, resampler, framer)
        finally:
            self._drop_input()
            if self._closed.is_set():
                self._set_status("closed")

    def _read(self, q: queue.Queue, resampler: Resampler, framer: Framer) -> Iterator[list[bytes]]:
        """Blocks of frames from one opened stream until it fails or the microphone is closed."""
        opened = self._input
        assert opened is not None
        bytes_per_second = opened.rate * opened.channels * 2
        deaf_s = 0.0
        healthy_s = 0.0
        recent: deque[bytes] = deque(maxlen=_RECENT_CHUNKS)
        drops = _Drops(self, opened.name, self._lost_at_open)
        try:
            while not self._closed.is_set():
                try:
                    data = q.get(timeout=self.stall_timeout_s)
                except queue.Empty:
                    try:  # a frozen process (stopped, starved of CPU) wakes here before the device's thread
                        data = q.get(timeout=_STALL_GRACE_S)
                    except queue.Empty:
                        self._fail("stalled", f"no audio for {self.stall_timeout_s:g} s")
                        return
                if data is _WAKE:
                    return
                seconds = len(data) / bytes_per_second
                drops.check(seconds, caught_up=q.empty())
                why = self._deaf(data, recent)
                recent.append(data)
                if why:
                    deaf_s += seconds
                    if deaf_s >= self.stall_timeout_s:
                        self._fail("deaf", f"{why} for {deaf_s:.1f} s")
                        return
                else:
                    deaf_s = 0.0
                if self._status.state != "listening":
                    self._set_status("listening", f"{opened.name}: {opened.rate} Hz, {opened.channels} ch")
                if self._failures and deaf_s == 0.0:
                    healthy_s += seconds
                    if healthy_s >= self.stall_timeout_s:
                        logger.warning("microphone %r is working again", opened.name)
                        self._failures = 0
                block = framer.push(resampler.process(data))
                if block:
                    yield block
        finally:
            drops.end()

    def _deaf(self, data: bytes, recent: deque[bytes]) -> str | None:
        """Why this chunk is not real microphone audio, or None if it looks like it is."""
        samples = np.frombuffer(data, dtype="<i2", count=len(data) // 2)
        if samples.size and samples.max() <= 1 and samples.min() >= -1:
            return "only digital silence" if self.deaf_on_digital_silence else None
        if data in recent:
            return "the same audio repeats"
        return None


class _Drops:
    """Audio lost before the reader got it (device overflows, a full queue), logged once per burst."""

    def __init__(self, mic: Microphone, name: str, since: tuple[int, int]) -> None:
        self._mic = mic
        self._name = name
        self._seen = since  # (overruns, overflows) already accounted for
        self._start: tuple[int, int] | None = None  # the counts when the current burst began
        self._dropped_s = 0.0
        self._clean_s = 0.0

    def check(self, seconds: float, *, caught_up: bool) -> None:
        """After each chunk read (``seconds`` long): notice new losses; ``caught_up``: the queue is empty."""
        now = (self._mic.overruns, self._mic.overflows)
        if now != self._seen:
            if self._start is None:
                self._start, self._dropped_s = self._seen, 0.0
                logger.warning("microphone %r: the reader fell behind; audio is being dropped", self._name)
            self._dropped_s += (now[0] - self._seen[0]) * seconds
            self._seen, self._clean_s = now, 0.0
        elif self._start is not None and caught_up:
            self._clean_s += seconds
            if self._clean_s >= _CAUGHT_UP_S:
                self.end()

    def end(self) -> None:
        """Log the burst now over (if one was going on)."""
        if self._start is None:
            return
        overruns, overflows = (now - then for now, then in zip(self._seen, self._start))
        logger.info("microphone %r: caught up; %d chunks (%.2f s) of audio dropped, %d device overflows "
                    "(%d chunks, %d overflows since start)", self._name, overruns, self._dropped_s, overflows,
                    self._mic.overruns, self._mic.overflows)
        self._start = None


def _close_with_timeout(opened: OpenedInput, timeout: float | None = None) -> None:
    """Close a stream; a driver stuck in a read can block that forever, so give up after ``timeout``."""
    timeout = _CLOSE_TIMEOUT_S if timeout is None else timeout
    done = threading.Event()

    def run() -> None:
        try:
            opened.close()
        except Exception as exc:  # a dying device often fails to close cleanly
            logger.debug("closing microphone stream failed: %s", exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, name="edgevoice-mic-close", daemon=True)
    thread.start()
    if not done.wait(timeout):
        logger.warning("microphone stream did not close within %.1f s (driver stuck); abandoned", timeout)
