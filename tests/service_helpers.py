"""Test helpers for the systemd face: a real notify socket that records sd_notify datagrams, the
daemon as a child process under it, and a live WAV stream through a FIFO as its microphone."""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest

EDGEVOICE = [sys.executable, "-m", "edgevoice"]
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value; Python does not export it


class NotifySocket:
    """A bound AF_UNIX/SOCK_DGRAM socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # the kernel stamps each datagram's arrival
        except OSError:  # qemu-user lacks it: the reader's clock then stands in (see receive_stamped)
            pass
        self.sock.bind(self.path)

    def receive(self, timeout: float = 10.0) -> str | None:
        """The next datagram, or None if none arrives within ``timeout`` seconds."""
        stamped = self.receive_stamped(timeout)
        return None if stamped is None else stamped[1]

    def receive_stamped(self, timeout: float = 10.0) -> tuple[float, str] | None:
        """The next datagram with the ``time.monotonic()`` at which it reached the socket (stamped by the
        kernel, so a reader thread that the machine's load keeps waiting does not move it), or None."""
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
        except TimeoutError:
            return None
        now_mono, now_real = time.monotonic(), time.time()
        arrived = now_mono
        for level, kind, stamp in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(stamp) in (8, 16):
                sec, nsec = struct.unpack("qq" if len(stamp) == 16 else "ll", stamp)
                arrived = now_mono - max(0.0, now_real - (sec + nsec / 1e9))
        return arrived, data.decode("utf-8")

    def drain(self) -> list[str]:
        """Every datagram already queued, without waiting."""
        messages = []
        self.sock.setblocking(False)
        try:
            while True:
                messages.append(self.sock.recv(65536).decode("utf-8"))
        except BlockingIOError:
            return messages
        finally:
            self.sock.setblocking(True)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> tuple[str, list[str]]:
        """Read datagrams until one matches; returns it and everything read before it."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None:
                break
            if predicate(message):
                return message, seen
            seen.append(message)
        raise AssertionError(f"no matching notify message within {timeout} s; got {seen!r}")

    def close(self) -> None:
        self.sock.close()


def fields(message: str) -> dict[str, str]:
    """``"READY=1\\nSTATUS=x"`` -> ``{"READY": "1", "STATUS": "x"}``."""
    return dict(line.split("=", 1) for line in message.splitlines() if line)


class NotifyLog:
    """A notify socket read by a background thread: every datagram with the monotonic time it arrived.

    ``wait_for`` looks through what arrived (from index ``start`` on) and waits for more, so a
    test can ask for READY=1, then a STATUS, then count the WATCHDOG=1 pings in between.
    """

    def __init__(self, path: Path) -> None:
        self.socket = NotifySocket(path)
        self.path = self.socket.path
        self.messages: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="notify-log", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                stamped = self.socket.receive_stamped(0.1)
            except OSError:
                return
            if stamped is not None:
                with self._cond:
                    self.messages.append(stamped)
                    self._cond.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20.0, start: int = 0) -> int:
        """The index of the first message from ``start`` on that matches, waiting up to ``timeout``."""
        found: list[int] = []

        def match() -> bool:
            found[:] = [i for i in range(start, len(self.messages)) if predicate(self.messages[i][1])][:1]
            return bool(found)

        with self._cond:
            if not self._cond.wait_for(match, timeout):
                got = [m for _, m in self.messages[start:]]
                raise AssertionError(f"no matching notify message within {timeout} s; got {got!r}")
        return found[0]

    def texts(self, start: int = 0, end: int | None = None) -> list[str]:
        with self._cond:
            return [m for _, m in self.messages[start:end]]

    def times(self, message: str, start: int = 0, end: int | None = None) -> list[float]:
        """When each copy of exactly ``message`` (e.g. "WATCHDOG=1") arrived."""
        with self._cond:
            return [t for t, m in self.messages[start:end] if m == message]

    def statuses(self, start: int = 0, end: int | None = None) -> list[str]:
        """Every STATUS= text, in order (also those sent along with READY=1 or STOPPING=1)."""
        return [fields(m)["STATUS"] for m in self.texts(start, end) if "STATUS" in fields(m)]

    def __len__(self) -> int:
        with self._cond:
            return len(self.messages)

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=2)
        self.socket.close()


def daemon_environment(notify_socket: str, *, key: str, watchdog_usec: int | None) -> dict[str, str]:
    """The environment systemd would give ``edgevoice run`` (NOTIFY_SOCKET, WATCHDOG_USEC), with the key.

    The test's own systemd context (a CI job run as a unit) is removed so logs go to stderr.
    """
    drop = ("EDGEVOICE_CONFIG", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM", "INVOCATION_ID", "WATCHDOG_PID")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["NOTIFY_SOCKET"] = notify_socket
    env["AZURE_VOICELIVE_API_KEY"] = key
    env["GPIOZERO_PIN_FACTORY"] = "mock"
    env["PYTHONUNBUFFERED"] = "1"
    if watchdog_usec is None:
        env.pop("WATCHDOG_USEC", None)
    else:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    return env


class DaemonProcess:
    """``edgevoice run ...`` as a child process; its stderr lines are collected as they come."""

    def __init__(self, args: list[str], env: Mapping[str, str]) -> None:
        self.argv = [*EDGEVOICE, "run", *args]
        self.proc = subprocess.Popen(self.argv, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        self.output_closed_at: float | None = None
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="daemon-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        self.output_closed_at = time.monotonic()  # the process has exited: stamped as it happens
        self.proc.wait()
        with self._cond:  # the end of stderr: whoever waits for a line learns it will not come
            self._cond.notify_all()

    @property
    def stderr(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for_log(self, text: str, timeout: float = 20.0, start: int = 0) -> int:
        """The index of the first stderr line from ``start`` on containing ``text``."""
        found: list[int] = []

        def match() -> bool:
            found[:] = [i for i in range(start, len(self.lines)) if text in self.lines[i]][:1]
            return bool(found) or self.proc.poll() is not None

        with self._cond:
            self._cond.wait_for(match, timeout)
        if not found:
            state = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
            raise AssertionError(f"{text!r} not logged within {timeout} s ({state}); stderr:\n{self.stderr[-6000:]}")
        return found[0]

    def log_lines(self, text: str) -> list[str]:
        with self._cond:
            return [line for line in self.lines if text in line]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> float:
        """Send ``sig``; returns the monotonic time it was sent."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        return sent

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def stopped_after(self, sent: float) -> float:
        """Seconds from ``sent`` (what :meth:`signal` returned) to the process's end, once it has ended.

        The end is when its stderr closed, noticed by the thread that blocks on it, rather than when
        a test next polled ``wait()``, which a loaded machine may put off.
        """
        self.wait()
        return self.output_closed_at - sent

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)


def audible_seconds(path: Path, threshold_dbfs: float = -45.0) -> tuple[float, float]:
    """How much of a 16-bit mono WAV is audible (20 ms windows above ``threshold_dbfs``), and its length."""
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768.0
    n = int(rate * 0.02)
    windows = x[: len(x) // n * n].reshape(-1, n)
    loud = 20 * np.log10(np.sqrt(np.mean(windows**2, axis=1)) + 1e-9) > threshold_dbfs
    return float(loud.sum()) * 0.02, len(x) / rate


# --- a live microphone stand-in: a WAV stream written into a FIFO ------------------------------


RATE = 16000
_CHUNK_S = 0.02


def stream_header(rate: int = RATE) -> bytes:
    """A WAV header for 16-bit mono audio of unknown length (sizes 0xFFFFFFFF), as streaming tools write."""
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", unknown) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", unknown)


def room_noise(seconds: float, dbfs: float = -60.0, seed: int = 0) -> bytes:
    """A quiet room: white noise at ``dbfs`` RMS, as 16 kHz int16 PCM."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(round(seconds * RATE))) * 10 ** (dbfs / 20) * 32767
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


class WavStream:
    """A FIFO that ``edgevoice run --input-wav`` reads like a microphone, fed by the test in real time.

    ``start()`` writes the header and then a quiet room at real-time pace from a thread;
    ``say(pcm)`` queues audio to go out next; ``stall()`` stops writing (the FIFO stays open, so
    the reader blocks, as a hung capture driver would); ``resume()`` goes on. The FIFO is opened
    read-write here, which never blocks and keeps it from reporting end-of-stream.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._queue: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._running = threading.Event()
        self._closed = threading.Event()
        self._idle = room_noise(_CHUNK_S)
        self.written_s = 0.0  #: seconds of audio written so far
        self._thread = threading.Thread(target=self._feed, name="wav-stream", daemon=True)

    def start(self, prefill_s: float = 0.0) -> WavStream:
        """Write the header (and ``prefill_s`` of quiet room at once), then keep time from a thread."""
        os.write(self._fd, stream_header())
        if prefill_s:
            self._write(room_noise(prefill_s, seed=1))
        self._running.set()
        self._thread.start()
        return self

    def say(self, pcm: bytes) -> None:
        """Queue ``pcm`` (16 kHz mono int16) to be written next, at real-time pace."""
        step = int(RATE * _CHUNK_S) * 2
        for i in range(0, len(pcm), step):
            self._queue.put(pcm[i : i + step])

    def stall(self) -> None:
        """Stop writing; the reader blocks on the open FIFO."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._closed.is_set():
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:  # the pipe is full: the reader is not reading (yet)
                self._closed.wait(0.01)
        self.written_s += (len(data) - len(view)) / (2 * RATE)

    def _feed(self) -> None:
        t = time.monotonic()
        while not self._closed.is_set():
            if not self._running.wait(0.05):
                t = time.monotonic()
                continue
            try:
                chunk = self._queue.get_nowait()
            except queue.Empty:
                chunk = self._idle
            try:
                self._write(chunk)
            except OSError:
                return
            t += len(chunk) / (2 * RATE)
            delay = t - time.monotonic()
            if delay > 0:
                self._closed.wait(delay)

    def close(self) -> None:
        self._closed.set()
        self._running.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        os.close(self._fd)


@pytest.fixture
def restore_root_logger():
    """Put the root logger's handlers and level back after a test that sets up logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
