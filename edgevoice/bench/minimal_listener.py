"""The smallest program that listens the way the daemon does: what idle listening costs at all.

``python -m edgevoice.bench.minimal_listener START END`` reads the default capture device with
PyAudio's blocking reads (16 kHz mono, ``--buffer-ms`` a read) and puts every 10 ms frame through
the bare library calls of the default config's [listening] (noise suppression and gain, VAD, the wake
word: :func:`edgevoice.bench.listening_accuracy.bare_runner`) and nothing else. Between ``START``
and ``END`` seconds of audio read it takes its own CPU time (user + system, all threads), prints
``{"cpu_s": ..., "wall_s": ..., "audio_s": ...}`` and ends.

The bench runs it on the same device path as the daemon's idle run (ALSA's file plugin fed at
real-time pace, :class:`edgevoice.bench.runs.AlsaDevice`), so the two differ only by what the
daemon does beyond listening.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from edgevoice.audio.frames import SAMPLE_RATE


def listen(start_s: float, end_s: float, buffer_ms: int) -> dict[str, float]:
    """Listen until ``end_s`` seconds of audio were read; the CPU and wall time from ``start_s`` on."""
    import pyaudio

    from edgevoice.bench.listening_accuracy import bare_runner, whole_frames
    from edgevoice.config.load import load_default_config

    run = bare_runner(load_default_config().listening)
    frames_per_read = SAMPLE_RATE * buffer_ms // 1000
    pa = pyaudio.PyAudio()
    stream = pa.open(format=pyaudio.paInt16, channels=1, rate=SAMPLE_RATE, input=True,
                     frames_per_buffer=frames_per_read)
    try:
        read_s, marks = 0.0, []
        while read_s < end_s:
            data = stream.read(frames_per_read, exception_on_overflow=False)
            run(whole_frames(data))
            read_s += len(data) / 2 / SAMPLE_RATE
            if not marks and read_s >= start_s:
                marks.append((time.monotonic(), time.process_time(), read_s))
        marks.append((time.monotonic(), time.process_time(), read_s))
    finally:
        stream.stop_stream()
        stream.close()
        pa.terminate()
    (t0, c0, a0), (t1, c1, a1) = marks
    return {"cpu_s": c1 - c0, "wall_s": t1 - t0, "audio_s": a1 - a0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgevoice.bench.minimal_listener", description=__doc__.split("\n")[0])
    parser.add_argument("start", type=float, help="seconds of audio read before the CPU time is taken")
    parser.add_argument("end", type=float, help="seconds of audio read when it is taken again (then it ends)")
    parser.add_argument("--buffer-ms", type=int, default=20, help="audio per blocking read, in ms (default 20)")
    args = parser.parse_args(argv)
    if not 0 <= args.start < args.end:
        parser.error("START must be at least 0 and below END")
    print(json.dumps(listen(args.start, args.end, args.buffer_ms)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
