"""The daemon on the real device path: idle CPU against the bare library calls, and reply to playback.

The run is ``edgevoice run`` with no WAV options: PyAudio captures through ALSA's file plugin from
a FIFO the bench feeds at real-time pace, and the speaker plays through PyAudio into a file
(:class:`edgevoice.bench.runs.AlsaDevice`). What it costs to sit in a room listening is compared
with what the bare library calls (noise suppression and gain, VAD, wake word) cost on the very
same audio: frames back to back, and in the minimal listener
(:mod:`edgevoice.bench.minimal_listener`), which makes those calls at the microphone's pace on a
device path of its own and does nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from edgevoice.bench import latency
from edgevoice.bench.audio import BenchError
from edgevoice.bench.figures import Figure
from edgevoice.bench.runs import CLEARED_ENV, AlsaDevice, RunResult

IDLE_RATIO_TARGET = 2.0
PLAYBACK_TARGET_MS = 15.0  # the same target as the WAV path's reply_to_playback_ms


@dataclass(frozen=True)
class MinimalListening:
    """What the minimal listener (:mod:`edgevoice.bench.minimal_listener`) spent over its window."""

    cpu_s: float
    wall_s: float
    audio_s: float

    @property
    def per_audio_s(self) -> float:
        """CPU seconds per second of audio heard (x100 = % of one core)."""
        return self.cpu_s / self.audio_s


class MinimalListenerRun:
    """The minimal listener on a device path of its own, fed the same recording at the same pace.

    Started beside the daemon runs, so it shares the machine with them as the daemon's idle run does.
    """

    def __init__(self, workdir: Path, pcm: bytes, window: tuple[float, float], *, buffer_ms: int = 20) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self._device = AlsaDevice(workdir, pcm)
        env = self._device.environ({k: v for k, v in os.environ.items() if k not in CLEARED_ENV})
        self._log = open(workdir / "minimal.log", "wb")  # noqa: SIM115 - closed in result()
        self._stopped = threading.Event()
        argv = [sys.executable, "-m", "edgevoice.bench.minimal_listener", str(window[0]), str(window[1]),
                "--buffer-ms", str(buffer_ms)]
        self.proc = subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log)
        self._device.start(self.proc, self._stopped)

    def result(self, timeout: float) -> MinimalListening:
        """Wait for the listener's figures (it ends by itself at the end of its window)."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError(f"the minimal listener did not finish within {timeout:.0f} s") from None
        finally:
            self._stopped.set()
            self._device.join()
            self._log.close()
        if self.proc.returncode != 0:
            log = (self.workdir / "minimal.log").read_text(errors="replace")[-3000:]
            raise BenchError(f"the minimal listener failed (exit {self.proc.returncode}):\n{log}")
        return MinimalListening(**json.loads(out.decode().strip().splitlines()[-1]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stopped.set()


def idle_audio(pcm: bytes, window: tuple[float, float]) -> bytes:
    """The part of a recording (16 kHz mono int16) that the idle CPU was read over."""
    start, end = (int(s * 16000) * 2 for s in window)
    return pcm[start:end]


def figures(run: RunResult, pcm: bytes, listening, minimal: MinimalListening, *, repeats: int = 3) -> list[Figure]:
    """idle_device_cpu_per_audio_s, idle_cpu_ratio, idle_cpu_vs_minimal_listener and
    reply_to_playback_device_ms from an ALSA-path run (and the minimal listener beside it)."""
    from edgevoice.bench.listening_accuracy import measure_overhead

    if run.cpu_s is None or not run.cpu_wall_s or run.plan.cpu_window is None:
        raise BenchError(f"the idle CPU of run '{run.plan.name}' was not read (did the daemon start?)\n{run.explain()}")
    idle = run.cpu_s / run.cpu_wall_s
    # The window is counted from READY=1 (the first frame heard); the recording starts a little earlier.
    bare = measure_overhead(idle_audio(pcm, run.plan.cpu_window), listening, repeats=repeats)
    bare_per_s = bare.bare_cpu_s / bare.audio_s
    where = (f"the whole `edgevoice run` process on the real device path (PyAudio reading ALSA's file "
             f"plugin, fed from a FIFO at real-time pace in 20 ms chunks; the speaker's stream stopped while nothing plays), "
             f"listening to a noisy room (pink noise at -45 dBFS, people chatting at -40 dBFS, no wake word), a "
             f"spare session open; read over {run.cpu_wall_s:.1f} s")
    out = [
        Figure("idle_cpu_ratio", idle / bare_per_s, "x",
               f"CPU seconds (user + system, /proc/PID/stat) of {where}, divided by the CPU of the bare library "
               f"calls (webrtc-noise-gain, webrtcvad, pymicro-wakeword) on the same {bare.audio_s:.1f} s of audio "
               f"back to back ({bare_per_s:.4f} CPU s per audio s, best of {repeats}); the same calls fed at the "
               f"microphone's pace cost far more (see idle_cpu_vs_minimal_listener)", target=IDLE_RATIO_TARGET),
        Figure("idle_cpu_vs_minimal_listener", idle / minimal.per_audio_s, "x",
               f"the same idle CPU of {where}, divided by that of the minimal listener "
               f"(edgevoice.bench.minimal_listener: PyAudio's blocking reads of 20 ms on its own copy of the same "
               f"device path, the same recording at the same pace, every frame through the same bare library calls "
               f"and nothing else, run beside the daemons) over the same part of the recording "
               f"({minimal.per_audio_s:.4f} CPU s per audio s over {minimal.audio_s:.1f} s): what the daemon costs "
               f"beyond listening at all"),
        Figure("minimal_listener_cpu_per_audio_s", minimal.per_audio_s, "cpu s/audio s",
               f"CPU seconds per audio second of the minimal listener above ({minimal.per_audio_s / bare_per_s:.1f}x "
               f"the same calls back to back: woken every 20 ms, each call finds its caches cold and each wake-up "
               f"costs the kernel)"),
        Figure("idle_device_cpu_per_audio_s", idle, "cpu s/audio s",
               f"CPU seconds per audio second (x100 = % of one core) of {where}"),
    ]
    playback = latency.reply_to_playback_ms(run)
    if not playback:
        raise BenchError(f"no turn of run '{run.plan.name}' was played on the device path\n{run.explain()}")
    median, p95 = latency.median_p95(playback)
    out.append(Figure(
        "reply_to_playback_device_ms", median, "ms",
        "first reply audio delta received to the reply becoming audible on the real speaker path (PyAudio "
        "through ALSA's file plugin): the daemon's reply_audio_first and playback_start milestones, both on "
        "its monotonic clock; playback_start is stamped by the speaker's thread when its played position (what "
        "was written less what the device reports still queued, capped by real time) passes the reply's start: "
        "it includes the loop's hand-over, the jitter hold (60 ms of audio gathered first; the emulator sends a "
        "short reply at once, so it is met at once), the speaker thread's wake-up and its first write; ALSA's "
        "file plugin over the null device reports nothing queued, so a sound card's output buffer comes on top; "
        "median and "
        f"p95 of every answered turn of run '{run.plan.name}'", target=PLAYBACK_TARGET_MS, p95=p95,
        n=len(playback)))
    return out
