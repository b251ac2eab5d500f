"""Run the real PyAudio output path against ALSA's file plugin, in a subprocess with its own HOME.

ALSA reads ``$HOME/.asoundrc`` once per process, so each scenario runs in a fresh interpreter:
``run_scenario(tmp_path, "name", **args)`` writes an .asoundrc whose default playback device
writes raw 16-bit mono PCM to a file, runs the scenario function of that name from this module,
and returns what it reported (JSON) together with the samples the "device" received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASOUNDRC = """pcm.!default {{
  type asym
  playback.pcm {{ type file; slave.pcm "null"; file "{out}"; format "raw" }}
  capture.pcm  {{ type file; slave.pcm "null"; file "/dev/null"; infile "/dev/zero"; format "raw" }}
}}
"""


@dataclass
class ScenarioResult:
    report: dict
    device_samples: np.ndarray  # what PortAudio/ALSA wrote to the file
    stderr: str


def run_scenario(tmp_path: Path, name: str, *, out: Path | None = None, **args: object) -> ScenarioResult:
    """Run scenario ``name`` with the ALSA default device writing to ``out`` (default tmp_path/out.raw)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    out = out or tmp_path / "out.raw"
    (home / ".asoundrc").write_text(ASOUNDRC.format(out=out))
    env = {k: v for k, v in os.environ.items() if k not in ("ALSA_CONFIG_PATH",)}
    env["HOME"] = str(home)
    env["JACK_NO_START_SERVER"] = "1"
    proc = subprocess.run(
        [sys.executable, __file__, name, json.dumps({**args, "out": str(out), "tmp": str(tmp_path)})],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, (
        f"scenario {name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    )
    samples = np.fromfile(out, dtype="<i2") if out.exists() else np.zeros(0, dtype=np.int16)
    return ScenarioResult(json.loads(lines[-1]), samples, proc.stderr)


def noise(n: int, seed: int = 1) -> np.ndarray:
    """Noise with no zero samples, so the reply can be found in the device's output exactly."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-12000, 12000, n).astype(np.int16)
    x[x == 0] = 1
    return x


def tone(freq: float, seconds: float, rate: int, amplitude: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude).astype(np.int16)


def dominant_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def find(haystack: np.ndarray, needle: np.ndarray) -> int:
    """Where ``needle`` starts in ``haystack`` (exact match), or -1."""
    first = np.flatnonzero(haystack == needle[0])
    for i in first:
        if np.array_equal(haystack[i : i + len(needle)], needle):
            return int(i)
    return -1


# --- scenarios (run in the subprocess) -----------------------------------------------------


class _Events:
    """Collects speaker callbacks with the time they came."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.log: list[tuple[str, float]] = []
        self.finished = threading.Event()

    def start(self) -> None:
        self.log.append(("start", time.monotonic() - self.t0))

    def finish(self) -> None:
        self.log.append(("finished", time.monotonic() - self.t0))
        self.finished.set()

    def names(self) -> list[str]:
        return [name for name, _ in self.log]


def _speaker(events: _Events, **kwargs):
    from edgevoice.playback.speaker import Speaker

    return Speaker(on_start=events.start, on_finished=events.finish, **kwargs)


def _play_in_chunks(speaker, x: np.ndarray, rate: int, chunk_ms: int = 100) -> None:
    step = rate * chunk_ms // 1000
    for i in range(0, len(x), step):
        speaker.play(x[i : i + step].tobytes(), rate)


# A jitter hold longer than any test reply: playback starts at finish(), so a busy test machine
# cannot starve the buffer halfway (which would, rightly, insert silence) and the device's output
# can be compared with the reply sample for sample.
WHOLE_REPLY_JITTER_MS = 60_000


def scenario_reply(args: dict) -> dict:
    """One reply, queued in chunks at ``volume``, played to the end."""
    events = _Events()
    x = noise(int(args.get("seconds", 0.5) * 16000))
    with _speaker(events, rate=16000, volume=args.get("volume", 1.0), jitter_ms=WHOLE_REPLY_JITTER_MS) as speaker:
        _play_in_chunks(speaker, x, 16000)
        speaker.finish()
        finished = events.finished.wait(10)
        time.sleep(0.05)
        return {"finished": finished, "events": events.names(), "played_ms": speaker.played_ms,
                "playing": speaker.playing, "device_buffer_ms": speaker.device_buffer_ms}


def scenario_starts_early(args: dict) -> dict:
    """Playback starts with the first chunk, before the rest of the reply exists."""
    events = _Events()
    x = noise(16000)
    with _speaker(events, rate=16000) as speaker:
        speaker.play(x[:1600].tobytes(), 16000)  # 100 ms: more than the 60 ms jitter hold
        deadline = time.monotonic() + 10
        while "start" not in events.names() and time.monotonic() < deadline:
            time.sleep(0.002)
        started_early = events.names() == ["start"]
        speaker.play(x[1600:].tobytes(), 16000)
        speaker.finish()
        finished = events.finished.wait(10)
        return {"started_early": started_early, "finished": finished, "events": events.names()}


def scenario_stop(args: dict) -> dict:
    """A long reply stopped once some of it has played; then a second, short reply."""
    events = _Events()
    x = noise(16000 * 10)
    with _speaker(events, rate=16000) as speaker:
        speaker.play(x.tobytes(), 16000)  # all at once: nothing can starve it before the stop
        while speaker.played_ms < 200 and time.monotonic() - events.t0 < 10:
            time.sleep(0.005)
        seen = speaker.played_ms
        stopped_ms = speaker.stop()
        while speaker.playing and time.monotonic() - events.t0 < 10:
            time.sleep(0.005)
        after_stop = list(events.names())
        y = noise(1600, seed=2)
        speaker.play(y.tobytes(), 16000)
        speaker.finish()
        finished = events.finished.wait(10)
        return {"seen_before_stop": seen, "stopped_ms": stopped_ms, "events_after_stop": after_stop,
                "finished_second": finished, "played_second_ms": speaker.played_ms}


def scenario_resample(args: dict) -> dict:
    """A reply at ``in_rate`` played on a device opened at ``device_rate``."""
    events = _Events()
    in_rate, device_rate = args["in_rate"], args["device_rate"]
    x = tone(440, 1.0, in_rate)
    with _speaker(events, rate=device_rate, jitter_ms=WHOLE_REPLY_JITTER_MS) as speaker:
        _play_in_chunks(speaker, x, in_rate, chunk_ms=40)
        speaker.finish()
        finished = events.finished.wait(10)
        return {"finished": finished, "rate": speaker.rate, "played_ms": speaker.played_ms}


def scenario_failing_device(args: dict) -> dict:
    """The output file's folder is missing (writes fail), then appears: the speaker recovers."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    events = _Events()
    x = noise(4800)
    with _speaker(events, rate=16000, retry_s=0.05) as speaker:
        speaker.play(x.tobytes(), 16000)
        speaker.finish()
        first = events.finished.wait(10)
        Path(args["out"]).parent.mkdir()
        time.sleep(0.1)  # past the retry interval: the next reply reopens the device at once
        events.finished.clear()
        y = noise(4800, seed=3)
        speaker.play(y.tobytes(), 16000)
        speaker.finish()
        second = events.finished.wait(10)
        return {"first_finished": first, "second_finished": second, "events": events.names()}


def scenario_missing_device(args: dict) -> dict:
    """A device name that matches nothing: logged, and replies still 'play' (into silence) and finish."""
    import logging

    import pyaudio

    from edgevoice.playback.speaker import DeviceNotFound, find_output_device

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    pa = pyaudio.PyAudio()
    found = {"EFAU": find_output_device(pa, "EFAU"), "0": find_output_device(pa, "0"),
             "default": find_output_device(pa, "default"), "none": find_output_device(pa, None)}
    errors = []
    for bad in ("usb speaker", 99):
        try:
            find_output_device(pa, bad)
        except DeviceNotFound as exc:
            errors.append(str(exc))
    events = _Events()
    with _speaker(events, device="usb speaker", rate=16000, pyaudio_instance=pa) as speaker:
        speaker.play(noise(3200).tobytes(), 16000)
        speaker.finish()
        finished = events.finished.wait(10)
        played = speaker.played_ms
    pa.terminate()
    return {"found": found, "errors": errors, "finished": finished, "played_ms": played}


def scenario_sound(args: dict) -> dict:
    """A chime on its own: it reaches the device, with no reply callbacks."""
    from edgevoice.playback.sound import load_chime

    events = _Events()
    chime = load_chime("wake")
    with _speaker(events, rate=16000) as speaker:
        speaker.play_sound(chime.pcm, chime.rate)
        while speaker.playing and time.monotonic() - events.t0 < 10:
            time.sleep(0.005)
        return {"events": events.names()}


if __name__ == "__main__":
    result = globals()[f"scenario_{sys.argv[1]}"](json.loads(sys.argv[2]))
    print(json.dumps(result), flush=True)
