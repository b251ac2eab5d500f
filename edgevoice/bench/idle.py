"""The daemon on the real device path: idle CPU against the bare library calls, and reply to playback.

The run is ``edgevoice run`` with no WAV options: PyAudio captures through ALSA's file plugin from
a FIFO the bench feeds at real-time pace, and the speaker plays through PyAudio into a file
(:class:`edgevoice.bench.runs.AlsaDevice`). What it costs to sit in a room listening is compared
with what the bare library calls (noise suppression and gain, VAD, wake word) cost on the very
same audio, frames back to back.
"""

from __future__ import annotations

from edgevoice.bench import latency
from edgevoice.bench.audio import BenchError
from edgevoice.bench.figures import Figure
from edgevoice.bench.runs import RunResult

IDLE_RATIO_TARGET = 2.0
PLAYBACK_TARGET_MS = 15.0  # the same target as the WAV path's reply_to_playback_ms


def idle_audio(pcm: bytes, window: tuple[float, float]) -> bytes:
    """The part of a recording (16 kHz mono int16) that the idle CPU was read over."""
    start, end = (int(s * 16000) * 2 for s in window)
    return pcm[start:end]


def figures(run: RunResult, pcm: bytes, listening, *, repeats: int = 3) -> list[Figure]:
    """idle_device_cpu_per_audio_s, idle_cpu_ratio and reply_to_playback_device_ms from an ALSA-path run."""
    from edgevoice.bench.listening_accuracy import measure_overhead

    if run.cpu_s is None or not run.cpu_wall_s or run.plan.cpu_window is None:
        raise BenchError(f"the idle CPU of run '{run.plan.name}' was not read (did the daemon start?)\n{run.explain()}")
    idle = run.cpu_s / run.cpu_wall_s
    # The window is counted from READY=1 (the first frame heard); the recording starts a little earlier.
    bare = measure_overhead(idle_audio(pcm, run.plan.cpu_window), listening, repeats=repeats)
    bare_per_s = bare.bare_cpu_s / bare.audio_s
    where = (f"the whole `edgevoice run` process on the real device path (PyAudio capturing through ALSA's file "
             f"plugin from a FIFO fed at real-time pace in 20 ms chunks, the speaker open on PyAudio and silent), "
             f"listening to a noisy room (pink noise at -45 dBFS, people chatting at -40 dBFS, no wake word), a "
             f"spare session open; read over {run.cpu_wall_s:.1f} s")
    playback = latency.reply_to_playback_ms(run)
    out = [
        Figure("idle_cpu_ratio", idle / bare_per_s, "x",
               f"CPU seconds (user + system, /proc/PID/stat) of {where}, divided by the CPU of the bare library "
               f"calls (webrtc-noise-gain, webrtcvad, pymicro-wakeword) on the same {bare.audio_s:.1f} s of audio "
               f"back to back ({bare_per_s:.4f} CPU s per audio s, best of {repeats})", target=IDLE_RATIO_TARGET),
        Figure("idle_device_cpu_per_audio_s", idle, "cpu s/audio s",
               f"CPU seconds per audio second (x100 = % of one core) of {where}"),
    ]
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
