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
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from edgevoice.audio.frames import Framer, SourceStatus, StatusCallback
from edgevoice.audio.portaudio import DeviceError, InputReader, PortAudio
from edgevoice.audio.resample import Resampler

if TYPE_CHECKING:
    from edgevoice.config.listening import AudioConfig

logger = logging.getLogger(__name__)

#: Receives the 10 ms frames of one device buffer (on the device's thread).
BlockCallback = Callable[[list[bytes]], None]

_CLOSE_TIMEOUT_S = 1.0  # a driver that takes longer to close a stream is abandoned
_QUEUE_SECONDS = 2.0  # audio buffered between the device thread and the reader
_RECENT_CHUNKS = 8  # a chunk equal to one of the last few is stale audio replayed by a stuck driver
_STALL_GRACE_S = 0.2  # a second, short wait before calling a stall: see _watch
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
    _reader: InputReader

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            self._pa.terminate()


class PyAudioBackend:
    """The real thing: a fresh PortAudio session per open, so a re-plugged USB device is found again."""

    def open(self, device: str | int, rate: int | None, buffer_ms: int, callback: Callable[..., bool]) -> OpenedInput:
        pa = PortAudio()
        try:
            info = pa.find(device, "input")
            use_rate, channels = pa.input_format(info, rate)
            reader = pa.open_input(info, use_rate, channels, max(1, use_rate * buffer_ms // 1000), callback)
        except DeviceError:
            pa.terminate()
            raise
        except (OSError, ValueError) as exc:
            pa.terminate()
            raise DeviceError(f"cannot open input device {device!r}: {exc}") from exc
        return _PyAudioInput(info.name, use_rate, channels, pa, reader)


class Microphone:
    """Live 16 kHz mono frames from a sound device, chosen by name substring or index.

    ``stream(on_block)`` hands each device buffer's frames over on the device's own thread (the
    daemon's capture); ``frames()`` yields them to a reader. Both wait while the device is missing or
    being reopened; ``status`` and the ``on_status`` callback (called from the microphone's threads)
    say what is going on.
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
        self._stream: _Stream | None = None
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

    def _open(self, on_block: BlockCallback, caught_up: Callable[[], bool]) -> _Stream | None:
        """Open the device, its audio going to ``on_block``; on failure log, set status ``missing``, return None."""
        self._generation += 1
        generation = self._generation
        stream = _Stream(self, on_block, caught_up)

        def callback(data: bytes, overflowed: bool = False) -> bool:  # the device's thread
            if generation != self._generation or self._closed.is_set():
                return False  # an abandoned stream: stop it
            if overflowed:
                self.overflows += 1
            return stream.hear(data)

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
            self._input, self._stream = opened, stream
        if opened.rate != 16000 or opened.channels != 1:
            logger.info("microphone %r: %d Hz, %d channel(s), converted to 16 kHz mono", opened.name, opened.rate,
                        opened.channels)
        else:
            logger.info("microphone %r opened at 16 kHz mono", opened.name)
        self._set_status("opening", f"{opened.name} opened", device=opened.name)
        stream.start(opened)
        return stream

    def _drop_input(self) -> None:
        with self._lock:
            opened, self._input, self._stream = self._input, None, None
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

    @property
    def queue_chunks(self) -> int:
        """How many device buffers (``_QUEUE_SECONDS`` of audio) may wait for whoever takes them."""
        return max(4, int(_QUEUE_SECONDS * 1000 / self.buffer_ms))

    def _backoff(self) -> float:
        return min(self.backoff_max_s, self.backoff_s * 2 ** max(0, self._failures - 1))

    def close(self) -> None:
        """Stop the microphone (from any thread); ``stream()`` and ``frames()`` return soon after."""
        self._closed.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.changed.set()
        self._drop_input()
        self._set_status("closed")

    # -- reading -----------------------------------------------------------------------------

    def stream(self, on_block: BlockCallback, *, caught_up: Callable[[], bool] = lambda: True) -> None:
        """Hand the frames of each device buffer (``buffer_ms``) to ``on_block`` until ``close()``.

        ``on_block`` runs on the device's thread, so the audio takes no extra hop; this thread only
        watches (a stalled device, a failure) and reopens. ``caught_up`` says whether whoever
        ``on_block`` hands the audio to has nothing waiting (for the log of dropped audio).
        """
        try:
            while not self._closed.is_set():
                if self._failures:
                    if self._closed.wait(self._backoff()):
                        break
                stream = self._open(on_block, caught_up)
                if stream is not None:
                    self._watch(stream)
        finally:
            self._drop_input()
            if self._closed.is_set():
                self._set_status("closed")

    def _watch(self, stream: _Stream) -> None:
        """Wait while one opened stream delivers; return once it failed, stalled, or the microphone closed."""
        try:
            while not self._closed.is_set():
                quiet = time.monotonic() - stream.heard_at
                if stream.changed.wait(max(0.0, self.stall_timeout_s - quiet)):
                    if stream.failure is not None:
                        self._fail(*stream.failure)
                        return
                    continue  # close(): the loop ends
                if time.monotonic() - stream.heard_at < self.stall_timeout_s:
                    continue
                # A frozen process (stopped, starved of CPU) wakes here before the device's thread: a short grace.
                if stream.changed.wait(_STALL_GRACE_S) or time.monotonic() - stream.heard_at < self.stall_timeout_s:
                    continue
                self._fail("stalled", f"no audio for {self.stall_timeout_s:g} s")
                return
        finally:
            if stream.drops is not None:
                stream.drops.end()

    def frames(self) -> Iterator[bytes]:
        """Yield 320-byte frames until ``close()``; survives the device coming and going."""
        for block in self.blocks():
            yield from block

    def blocks(self, _block_frames: int = 0) -> Iterator[list[bytes]]:
        """The frames of each device buffer together, until ``close()``, for a reader on its own thread.

        Up to ``_QUEUE_SECONDS`` of audio wait for a reader that falls behind; newer buffers are then
        dropped (counted in ``overruns``). Leaving the loop closes the microphone.
        """
        waiting: queue.SimpleQueue = queue.SimpleQueue()
        room = self.queue_chunks
        over = object()

        def hand_over(block: list[bytes]) -> None:
            if waiting.qsize() >= room:
                self.overruns += 1
            else:
                waiting.put(block)

        def run() -> None:
            try:
                self.stream(hand_over, caught_up=waiting.empty)
            finally:
                waiting.put(over)

        threading.Thread(target=run, name="microphone", daemon=True).start()
        try:
            while (block := waiting.get()) is not over:
                yield block
        finally:
            self.close()

    def _deaf(self, data: bytes, recent: deque[bytes]) -> str | None:
        """Why this chunk is not real microphone audio, or None if it looks like it is."""
        samples = np.frombuffer(data, dtype="<i2", count=len(data) // 2)
        if samples.size and samples.max() <= 1 and samples.min() >= -1:
            return "only digital silence" if self.deaf_on_digital_silence else None
        if data in recent:
            return "the same audio repeats"
        return None


class _Stream:
    """One opened stream as the device's thread hears it: deaf or healthy, framed, handed on.

    ``hear`` runs on the device's thread; the microphone's own thread waits on ``changed`` (a
    failure, or close) and reads ``heard_at`` to notice a stall.
    """

    def __init__(self, mic: Microphone, on_block: BlockCallback, caught_up: Callable[[], bool]) -> None:
        self.mic = mic
        self.on_block = on_block
        self.caught_up = caught_up
        self.heard_at = time.monotonic()  # the last chunk (or the open): a stall is counted from here
        self.changed = threading.Event()
        self.failure: tuple[str, str] | None = None  # (state, detail) once the device's audio is no good
        self.drops: _Drops | None = None  # from start(): the device's name and what was lost before it
        self._framer = Framer()
        self._recent: deque[bytes] = deque(maxlen=_RECENT_CHUNKS)
        self._deaf_s = 0.0
        self._healthy_s = 0.0
        self._opened: OpenedInput | None = None  # set once open() returned: what the chunks are
        self._resampler: Resampler | None = None
        self._bytes_per_second = 32000
        self._lock = threading.Lock()
        self._early: list[bytes] = []  # chunks delivered before open() returned, heard at start()

    def start(self, opened: OpenedInput) -> None:
        """The device is open: what it delivers can be understood from now (and what came already)."""
        with self._lock:
            self.drops = _Drops(self.mic, opened.name, self.mic._lost_at_open)
            self._bytes_per_second = opened.rate * opened.channels * 2
            self._resampler = Resampler(opened.rate, opened.channels)
            self.heard_at = time.monotonic()
            for data in self._early:
                self._hear(data, opened, self._resampler)
            self._early.clear()
            self._opened = opened

    def hear(self, data: bytes) -> bool:
        """One chunk from the device; False (stop the stream) once its audio is no good."""
        opened, resampler = self._opened, self._resampler  # start() sets the resampler before _opened
        if opened is None:
            with self._lock:  # open() has not returned yet: keep it for start()
                if self._opened is None:
                    if len(self._early) < self.mic.queue_chunks:
                        self._early.append(data)
                    else:
                        self.mic.overruns += 1
                    return True
                opened, resampler = self._opened, self._resampler
        assert resampler is not None
        return self._hear(data, opened, resampler)

    def _hear(self, data: bytes, opened: OpenedInput, resampler: Resampler) -> bool:
        mic = self.mic
        if self.failure is not None:
            return False
        self.heard_at = time.monotonic()
        seconds = len(data) / self._bytes_per_second
        assert self.drops is not None  # set by start(), before any chunk is heard
        self.drops.check(seconds, caught_up=self.caught_up())
        why = mic._deaf(data, self._recent)
        self._recent.append(data)
        if why:
            self._deaf_s += seconds
            if self._deaf_s >= mic.stall_timeout_s:
                self.failure = ("deaf", f"{why} for {self._deaf_s:.1f} s")
                self.changed.set()
                return False
        else:
            self._deaf_s = 0.0
        if mic.status.state != "listening":
            mic._set_status("listening", f"{opened.name}: {opened.rate} Hz, {opened.channels} ch")
        if mic._failures and self._deaf_s == 0.0:
            self._healthy_s += seconds
            if self._healthy_s >= mic.stall_timeout_s:
                logger.warning("microphone %r is working again", opened.name)
                mic._failures = 0
        block = self._framer.push(resampler.process(data))
        if block:
            try:
                self.on_block(block)
            except Exception:  # a broken consumer must not stop the device's thread
                logger.exception("the microphone's audio could not be handed on")
        return True


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
