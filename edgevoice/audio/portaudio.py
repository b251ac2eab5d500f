"""The thin layer over PyAudio: find devices by name or index, probe their rates, open streams."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: Rates probed for ``edgevoice devices`` and tried when opening a microphone.
STANDARD_RATES: tuple[int, ...] = (8000, 16000, 22050, 32000, 44100, 48000, 96000)


class DeviceError(OSError):
    """A sound device that cannot be found or opened; the message lists what is available."""


def match_device(devices: Sequence[tuple[int, str]], spec: str | int | None, kind: str) -> int | None:
    """Which of ``devices`` ((index, name), all able to do ``kind``) the config value ``spec`` names.

    None for the system default (unset, "" or "default"); an index (a number, or digits); else the
    device whose name is ``spec`` in any case, else the first whose name contains it. The one rule
    for microphones and speakers alike; DeviceError lists the devices when none matches.
    """
    listing = ", ".join(f"{i}: {name!r}" for i, name in devices) or "none"
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "default")):
        return None
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        if any(i == index for i, _ in devices):
            return index
        raise DeviceError(f"no {kind} device with index {index}; {kind} devices: {listing}")
    wanted = spec.strip().lower()
    found = [i for i, name in devices if name.lower() == wanted] or [i for i, name in devices if wanted in name.lower()]
    if not found:
        raise DeviceError(f"no {kind} device matches {spec!r}; {kind} devices: {listing}")
    if len(found) > 1:
        logger.info("%r matches %d %s devices; using %d", spec, len(found), kind, found[0])
    return found[0]


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device as ``edgevoice devices`` shows it."""

    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_rate: int
    input_rates: tuple[int, ...] = ()
    output_rates: tuple[int, ...] = ()
    is_default_input: bool = False
    is_default_output: bool = False


@contextlib.contextmanager
def quiet_stderr(enabled: bool = True) -> Iterator[None]:
    """Keep ALSA's and JACK's probe chatter ("cannot find card", "jack server is not running") off stderr.

    Only the C libraries' writes during device probing are hidden; with DEBUG logging they show.
    """
    if not enabled or logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class PortAudio:
    """One PortAudio session. Create a new one to see devices plugged in since the last."""

    def __init__(self) -> None:
        import pyaudio  # imported here: `edgevoice check` must not load audio libraries

        self._pyaudio = pyaudio
        with quiet_stderr():
            self._pa = pyaudio.PyAudio()

    def terminate(self) -> None:
        """End the session (all its streams must be closed)."""
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None

    def __enter__(self) -> PortAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()

    # -- devices ---------------------------------------------------------------------------

    def _default_index(self, kind: str) -> int | None:
        try:
            info = self._pa.get_default_input_device_info() if kind == "input" else self._pa.get_default_output_device_info()
        except OSError:
            return None
        return int(info["index"])

    def _info(self, raw: dict, default_in: int | None, default_out: int | None, probe: bool) -> DeviceInfo:
        index = int(raw["index"])
        max_in, max_out = int(raw["maxInputChannels"]), int(raw["maxOutputChannels"])
        try:
            api = self._pa.get_host_api_info_by_index(raw["hostApi"])["name"]
        except (OSError, KeyError):
            api = "?"
        in_rates = tuple(r for r in STANDARD_RATES if max_in and self.supports(index, r, 1, "input")) if probe else ()
        out_rates = tuple(r for r in STANDARD_RATES if max_out and self.supports(index, r, min(2, max_out), "output")) if probe else ()
        return DeviceInfo(
            index=index,
            name=str(raw["name"]),
            host_api=str(api),
            max_input_channels=max_in,
            max_output_channels=max_out,
            default_rate=int(raw["defaultSampleRate"]),
            input_rates=in_rates,
            output_rates=out_rates,
            is_default_input=index == default_in,
            is_default_output=index == default_out,
        )

    def devices(self, probe_rates: bool = True) -> list[DeviceInfo]:
        """Every device PortAudio knows, with the standard rates each accepts when ``probe_rates``."""
        default_in, default_out = self._default_index("input"), self._default_index("output")
        out = []
        with quiet_stderr():
            for i in range(self._pa.get_device_count()):
                out.append(self._info(self._pa.get_device_info_by_index(i), default_in, default_out, probe_rates))
        return out

    def supports(self, index: int, rate: int, channels: int, kind: str) -> bool:
        """True if the device opens at this rate and channel count (16-bit samples)."""
        fmt = self._pyaudio.paInt16
        try:
            if kind == "input":
                return bool(self._pa.is_format_supported(rate, input_device=index, input_channels=channels, input_format=fmt))
            return bool(self._pa.is_format_supported(rate, output_device=index, output_channels=channels, output_format=fmt))
        except (ValueError, OSError):
            return False

    def find(self, spec: str | int, kind: str = "input") -> DeviceInfo:
        """The device for a config value: ``"default"``, an index, or a case-insensitive name substring."""
        devices = self.devices(probe_rates=False)
        capable = [d for d in devices if (d.max_input_channels if kind == "input" else d.max_output_channels) > 0]
        what = "input" if kind == "input" else "output"
        index = match_device([(d.index, d.name) for d in capable], spec, what)
        if index is None:
            index = self._default_index(kind)
        match = next((d for d in capable if d.index == index), None)
        if match is None:
            listing = ", ".join(f"{d.index}: {d.name!r}" for d in capable) or "none"
            raise DeviceError(f"no default {what} device; {what} devices: {listing}")
        return match

    def input_format(self, device: DeviceInfo, rate: int | None = None) -> tuple[int, int]:
        """(rate, channels) to open a microphone at: 16 kHz mono if it can, else what it offers."""
        if rate is not None:
            rates = [rate]
        else:
            rates = [16000, device.default_rate, 48000, 44100, 32000]
        channel_options = [1, 2] if device.max_input_channels >= 2 else [1]
        tried = []
        with quiet_stderr():
            for r in dict.fromkeys(rates):
                for ch in channel_options:
                    if self.supports(device.index, r, ch, "input"):
                        return r, ch
                    tried.append(f"{r} Hz/{ch} ch")
        raise DeviceError(f"{device.name!r} accepts none of: {', '.join(tried)} (16-bit)")

    def open_input(
        self, device: DeviceInfo, rate: int, channels: int, frames_per_buffer: int,
        callback: Callable[[bytes, bool], bool],
    ) -> InputReader:
        """Open a 16-bit capture stream read by a thread of its own; ``callback(data, overflowed)``
        returns False to stop reading.

        ``overflowed`` says the device dropped audio before this chunk (PortAudio's paInputOverflowed).
        """
        pyaudio = self._pyaudio
        with quiet_stderr():
            stream = self._pa.open(
                format=pyaudio.paInt16,
                channels=channels,
                rate=rate,
                input=True,
                input_device_index=device.index,
                frames_per_buffer=frames_per_buffer,
            )
        reader = InputReader(stream, frames_per_buffer, callback, overflowed_error=pyaudio.paInputOverflowed)
        reader.start()
        return reader


class InputReader:
    """A capture stream read with blocking reads on a thread of its own, handing each buffer to a callback.

    One wake-up per buffer: PortAudio's callback mode wakes its thread more often than that, and the
    audio then takes one more hop. The thread is the stream's own, so a driver stuck in a read stalls
    only it: the microphone notices no audio and abandons the stream (see ``Microphone``).
    """

    def __init__(self, stream: Any, frames_per_buffer: int, callback: Callable[[bytes, bool], bool], *,
                 overflowed_error: int) -> None:
        self._stream = stream
        self._frames = frames_per_buffer
        self._callback = callback
        self._overflowed_error = overflowed_error
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mic-read", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        overflowed = False
        try:
            while not self._stop.is_set():
                try:
                    data = self._stream.read(self._frames, exception_on_overflow=True)
                except OSError as exc:
                    if exc.errno == self._overflowed_error:  # the chunk is lost; the next one says so
                        overflowed = True
                        continue
                    # The device failed (unplugged, a driver error): no more audio, which the microphone
                    # notices within its stall timeout and reopens. Debug only: that is where it is logged.
                    logger.debug("microphone read failed: %s", exc)
                    return
                if not self._callback(data, overflowed):
                    return
                overflowed = False
        finally:
            self._done.set()

    def close(self) -> None:
        """Stop reading and close the stream; waits for the read in progress (a stuck driver: for ever)."""
        self._stop.set()
        self._done.wait()
        try:
            self._stream.stop_stream()
        finally:
            self._stream.close()
