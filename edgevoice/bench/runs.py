"""``edgevoice run`` in a subprocess on a recording, against an emulator in the bench's process.

The daemon runs as its own process so that its CPU time and peak memory are its own: the bench
acts as systemd would (a notify socket tells it when the daemon listens), reads the process's
CPU time from /proc at chosen moments of the recording, and its peak resident memory (VmHWM)
from /proc every 0.1 s while it runs. (Not ``wait4``'s ru_maxrss: Linux counts in it the
memory of the parent the child was forked from, here the bench with its numpy and models.)
What the daemon did is read afterwards from its events file and its output WAV (the speaker's
sound, sample-aligned with the input); when the emulator received each commit, from the
emulator itself.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevoice.bench.audio import Recording, read_output
from edgevoice.bench.toml_config import bench_config, toml_text

#: Environment variables of a systemd service or a user's setup that must not leak into a bench run.
CLEARED_ENV = ("EDGEVOICE_CONFIG", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                "INVOCATION_ID", "JOURNAL_STREAM", "AZURE_VOICELIVE_API_KEY")


@dataclass(frozen=True)
class RunPlan:
    """One daemon run: a recording, the emulator's replies, and the config changes it needs."""

    name: str
    recording: Recording
    replies: tuple[str, ...] = ()
    pacing: str = "fast"  # the emulator's: "realtime" streams replies at speaking pace, like the service
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # config overrides per table
    cpu_window: tuple[float, float] | None = None  # seconds of the recording over which to read the CPU time
    argv: tuple[str, ...] = ()  # more `edgevoice run` options (the simulated room: --room-echo)
    # "wav": --input-wav/--output-wav (the recording's clock); "alsa": the real device path, PyAudio
    # through ALSA's file plugin, the recording fed to it at real-time pace (see AlsaDevice).
    capture: str = "wav"


@dataclass
class RunResult:
    """What one daemon run did, read after the process ended."""

    plan: RunPlan
    code: int
    events: list[dict[str, Any]]
    output_rate: int
    output: np.ndarray  # int16 samples the speaker played, aligned with the input
    peak_rss_kb: int  # VmHWM, the process's peak resident memory (last reading before it ended)
    cpu_s: float | None  # CPU seconds (user + system) spent over the plan's cpu_window
    cpu_wall_s: float | None  # how long that window really lasted
    commits_at: list[float]  # monotonic times the emulator received each input_audio_buffer.commit
    ready_at: float | None  # monotonic time of the daemon's READY=1 (its first frame heard)
    log_tail: str
    committed: int = 0  # user turns the service received (input_audio_buffer.committed, every session)

    def explain(self) -> str:
        """For error messages: the exit status, the milestones in short and the end of the log."""
        shown = (r for r in self.events if r["event"] not in ("state", "turn_latency"))
        brief = ", ".join(f"{r['event']}({r['turn']})" for r in shown)
        return f"[{self.plan.name}] exit {self.code}; events: {brief[:1500]}\nlog:\n{self.log_tail[-2000:]}"


def proc_status(pid: int | str, *keys: str) -> list[int]:
    """Numbers from /proc/<pid>/status (``pid`` may be "self"), e.g. ``proc_status(pid, "VmRSS:",
    "Threads:")``, in the order asked; -1 for a key the process does not have (it has exited)."""
    found = dict.fromkeys(keys, -1)
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            name = line.split(None, 1)[0] if line.strip() else ""
            if name in found:
                found[name] = int(line.split()[1])
    return [found[k] for k in keys]


def peak_rss_kb(pid: int) -> int:
    """A live process's peak resident memory so far, in KiB (VmHWM in /proc/<pid>/status)."""
    peak = proc_status(pid, "VmHWM:")[0]
    if peak < 0:
        raise ValueError(f"process {pid} has no VmHWM (it has exited)")
    return peak


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read().decode()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DaemonRun:
    """Starts ``edgevoice run`` on the plan's recording with an emulator of its own; ``result()`` waits."""

    def __init__(self, plan: RunPlan, workdir: Path, *, speech: Any = None, settle_timeout_s: float = 30.0) -> None:
        from edgevoice.voicelive.emulator import Emulator

        self.plan = plan
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.recording = plan.recording.write(workdir / "input.wav")
        self.events_path = workdir / "events.jsonl"
        self.output_path = workdir / "output.wav"
        self.events_path.unlink(missing_ok=True)
        self.ready_at: float | None = None
        self._cpu: list[tuple[float, float]] = []
        self._peak_kb = 0
        self._commits_at: list[float] = []
        self._stopped = threading.Event()
        self._result: RunResult | None = None
        key = secrets.token_urlsafe(18)
        self.emulator = Emulator(api_key=key, replies=plan.replies, pacing=plan.pacing, speech=speech).start()
        config_path = workdir / "edgevoice.toml"
        config_path.write_text(toml_text(bench_config(self.emulator.url, workdir / "cache", plan.tables)))
        # A notify socket, as systemd gives a service: READY=1 says the daemon hears its first frame.
        # (Socket paths must be short: under 108 bytes.)
        self._sockdir = Path(tempfile.mkdtemp(prefix="evb-"))
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(self._sockdir / "notify"))
        env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
        env.update(AZURE_VOICELIVE_API_KEY=key, NOTIFY_SOCKET=str(self._sockdir / "notify"))
        self._device: AlsaDevice | None = None
        if plan.capture == "alsa":
            self._device = AlsaDevice(workdir, plan.recording.pcm())
            env = self._device.environ(env)
            audio = []
        else:
            audio = ["--input-wav", str(self.recording), "--output-wav", str(self.output_path)]
        argv = [sys.executable, "-m", "edgevoice", "run", "--config", str(config_path), *audio,
                "--events", str(self.events_path), "--settle-timeout", str(settle_timeout_s), *plan.argv]
        self._log = open(workdir / "daemon.log", "wb")  # noqa: SIM115 - closed in _close()
        try:
            self.proc = subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT)
        except BaseException:
            self.emulator.stop()
            self._notify.close()
            self._log.close()
            shutil.rmtree(self._sockdir, ignore_errors=True)
            raise
        self._watcher = threading.Thread(target=self._watch, name=f"bench-{plan.name}", daemon=True)
        self._watcher.start()
        self._server = threading.Thread(target=self._watch_server, name=f"bench-{plan.name}-server", daemon=True)
        self._server.start()
        if self._device is not None:
            self._device.start(self.proc, self._stopped)

    def _watch(self) -> None:
        """Read the notify socket like systemd does (a full socket would block the daemon), note when
        the daemon is ready, read its CPU time at the edges of the plan's window, and follow its
        peak memory."""
        window = list(self.plan.cpu_window or ())
        while not self._stopped.is_set():
            try:
                self._peak_kb = max(self._peak_kb, peak_rss_kb(self.proc.pid))
            except (OSError, ValueError):
                pass  # starting, or gone
            if self.ready_at is not None and window and time.monotonic() >= self.ready_at + window[0]:
                window.pop(0)
                try:
                    self._cpu.append((time.monotonic(), cpu_seconds(self.proc.pid)))
                except (OSError, ValueError, IndexError):
                    window.clear()  # the process is gone
            wait = 0.1
            if self.ready_at is not None and window:
                wait = min(wait, max(0.0, self.ready_at + window[0] - time.monotonic()))
            self._notify.settimeout(wait or 0.001)
            try:
                message = self._notify.recv(4096).decode(errors="replace")
            except TimeoutError:
                continue
            except OSError:
                return
            if self.ready_at is None and "READY=1" in message.splitlines():
                self.ready_at = time.monotonic()

    def _watch_server(self) -> None:
        """Note when the service (the emulator) receives each commit: the moment the turn really ends
        for it, whatever time the daemon's own milestone carries."""
        seen: dict[int, int] = {}  # session index -> client events looked at

        def look(emulator: Any) -> bool:
            now = time.monotonic()
            for i, record in enumerate(emulator.sessions):
                events = record.client_events
                for event in events[seen.get(i, 0) :]:
                    if event.get("type") == "input_audio_buffer.commit":
                        self._commits_at.append(now)
                seen[i] = len(events)
            return self._stopped.is_set()

        while not self._stopped.is_set():
            try:
                self.emulator.wait_until(look, timeout=0.5)
            except TimeoutError:
                pass

    def result(self, timeout: float) -> RunResult:
        """Wait for the daemon to finish (killing it after ``timeout`` s) and collect what it did."""
        if self._result is not None:
            return self._result
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = -9
        self._close()
        log = (self.workdir / "daemon.log").read_text(errors="replace")
        events = []
        if self.events_path.exists():
            events = [json.loads(line) for line in self.events_path.read_text().splitlines() if line.strip()]
        rate, output = read_output(self.output_path) if self.output_path.exists() else (16000, np.zeros(0, np.int16))
        cpu_s = cpu_wall = None
        if len(self._cpu) == 2:
            (t0, c0), (t1, c1) = self._cpu
            cpu_s, cpu_wall = c1 - c0, t1 - t0
        committed = sum(s.server_events.count("input_audio_buffer.committed") for s in self.emulator.sessions)
        self._result = RunResult(self.plan, code, events, rate, output, self._peak_kb,
                                 cpu_s, cpu_wall, sorted(self._commits_at), self.ready_at, log[-8000:], committed)
        return self._result

    def kill(self) -> None:
        """Stop a run that will not be waited for (the bench failed elsewhere, or was interrupted)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        self._stopped.set()
        if self._device is not None:
            self._device.join()
        self._watcher.join(timeout=2)
        self._server.join(timeout=2)
        self.emulator.stop()
        self._notify.close()
        self._log.close()
        shutil.rmtree(self._sockdir, ignore_errors=True)


class AlsaDevice:
    """The real capture and playback path for a bench run: PortAudio opens ALSA's "default" device,
    whose file plugin reads the microphone from a FIFO that this feeds with the recording at
    real-time pace (20 ms chunks, as a USB microphone delivers them) and writes the speaker to a
    raw file. When the recording has been heard the daemon is stopped with SIGTERM, as systemd would.
    """

    CHUNK_S = 0.02
    SETTLE_S = 3.0  # after the recording: the last reply plays out

    def __init__(self, workdir: Path, pcm: bytes) -> None:
        self.home = workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.fifo = workdir / "microphone.fifo"
        self.fifo.unlink(missing_ok=True)
        os.mkfifo(self.fifo)
        self.played = workdir / "played.raw"
        (self.home / ".asoundrc").write_text(
            "pcm.!default {\n  type asym\n"
            f'  playback.pcm {{ type file; slave.pcm "null"; file "{self.played}"; format "raw" }}\n'
            f'  capture.pcm  {{ type file; slave.pcm "null"; file "/dev/null"; infile "{self.fifo}"; format "raw" }}\n'
            "}\n")
        self._pcm = pcm
        self._thread: threading.Thread | None = None

    def environ(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` for a process that uses this device: ALSA reads ~/.asoundrc, and no other ALSA configuration."""
        out = {k: v for k, v in env.items() if k != "ALSA_CONFIG_PATH"}
        out["HOME"] = str(self.home)
        return out

    def start(self, proc: subprocess.Popen, stopped: threading.Event) -> None:
        self._thread = threading.Thread(target=self._feed, args=(proc, stopped), name="bench-alsa-feed", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _feed(self, proc: subprocess.Popen, stopped: threading.Event) -> None:
        chunk = int(16000 * self.CHUNK_S) * 2
        sent, start = 0, None
        while sent < len(self._pcm) and not stopped.is_set() and proc.poll() is None:
            try:  # a reader must have the FIFO open; PortAudio's device probe opens and closes it once
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                stopped.wait(0.01)
                continue
            os.set_blocking(fd, True)
            try:
                while sent < len(self._pcm) and not stopped.is_set():
                    os.write(fd, self._pcm[sent : sent + chunk])
                    sent += chunk
                    start = start if start is not None else time.monotonic() - self.CHUNK_S
                    delay = start + sent / 32000 - time.monotonic()
                    if delay > 0:
                        stopped.wait(delay)
            except BrokenPipeError:
                pass
            finally:
                os.close(fd)
        if not stopped.wait(self.SETTLE_S) and proc.poll() is None:
            proc.terminate()


__all__ = ["AlsaDevice", "DaemonRun", "RunPlan", "RunResult", "cpu_seconds", "peak_rss_kb"]
