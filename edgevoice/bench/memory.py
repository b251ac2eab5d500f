"""Memory: the daemon's peak resident memory over a conversation, beside the floor of its libraries."""

from __future__ import annotations

import subprocess
import sys

from edgevoice.bench.audio import BenchError
from edgevoice.bench.figures import Figure
from edgevoice.bench.runs import RunResult

ABOVE_FLOOR_MB = 10.0  # the target: the floor of the libraries plus this

#: The third-party libraries a running ``edgevoice run`` has loaded (systemd-python: sd_notify).
DAEMON_LIBRARIES = ("numpy", "soxr", "pyaudio", "webrtcvad", "webrtc_noise_gain", "pymicro_wakeword",
                    "websocket", "systemd.daemon")


def floor_mb() -> float:
    """Peak resident memory of a Python process that only imports the daemon's libraries.

    The process reads its own VmHWM (``wait4``'s ru_maxrss would include the bench it was forked from).
    """
    code = ("import " + ", ".join(DAEMON_LIBRARIES) + "\n"
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))")
    done = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise BenchError(f"importing the daemon's libraries failed (exit {done.returncode}): {done.stderr[-1000:]}")
    return int(done.stdout.split()[-1]) / 1024


def figures(runs: list[RunResult], floor: float) -> list[Figure]:
    """The largest peak of the daemon runs, and the floor beside it."""
    peak = max(runs, key=lambda r: r.peak_rss_kb)
    others = ", ".join(f"{r.plan.name} {r.peak_rss_kb / 1024:.1f}" for r in runs)
    turns = sum(1 for r in [peak] for e in r.events if e["event"] == "commit")
    device = [r.plan.name for r in runs if r.plan.capture == "alsa"]
    portaudio = (f"run{'s' if len(device) > 1 else ''} {', '.join(repr(n) for n in device)} capture and play "
                 f"through PortAudio (started, with its ALSA devices open); the others use WAV files"
                 if device else "no run started PortAudio (WAV files only)")
    return [
        Figure("rss_mb", peak.peak_rss_kb / 1024, "MB",
               f"peak resident memory (VmHWM, read from /proc every 0.1 s) of the `edgevoice run` process over a "
               f"{turns}-turn conversation against the emulator (the largest of the runs, '{peak.plan.name}'; "
               f"all runs in MB: {others}; {portaudio}); target: rss_floor_mb + {ABOVE_FLOOR_MB:g} MB",
               target=floor + ABOVE_FLOOR_MB),
        Figure("rss_floor_mb", floor, "MB",
               "peak resident memory of a Python process that only imports the daemon's libraries ("
               + ", ".join(DAEMON_LIBRARIES) + "): what no daemon can go below"),
    ]
