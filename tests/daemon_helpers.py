"""End-to-end pieces for the daemon tests: spoken recordings, configs, the CLI, events files, output WAVs.

Recordings are composed from real espeak-ng speech placed at exact times (seconds) over a quiet
room's noise floor, written once per test session (``recordings`` fixture) and fed to the daemon
at real-time pace by ``edgevoice run --input-wav`` (or by ``WavSource`` in-process).

Use in a test module::

    from daemon_helpers import KEY, Say, recordings, run_daemon  # noqa: F401

    def test_x(recordings, make_emulator, tmp_path):
        scene = recordings.make("turn", 6.0, Say(0.5, "okay nabu"), Say(1.6, "what time is it"))
        emu = make_emulator(replies=["It is noon."])
        run = run_daemon(tmp_path, scene, emu)
        assert run.code == 0 and run.first("commit")
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import wave
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from listening_helpers import pcm16, tts

KEY = "daemon-test-key"
RATE = 16000
EDGEVOICE = [sys.executable, "-m", "edgevoice"]

#: The milestones every answered turn writes to the events file, in the order they happen.
TURN_MILESTONES = ("wake", "audio_sent", "speech_start", "speech_end", "commit", "reply_audio_first",
                   "playback_start", "playback_end")


# --- recordings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """``text`` spoken by espeak-ng ``voice`` starting exactly ``at`` seconds into the recording."""

    at: float
    text: str
    voice: str = "en-us"
    speed: int = 160


@dataclass(frozen=True)
class Placed:
    """Where an utterance ended up: start and end in seconds of the recording."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Scene:
    """A composed recording on disk and where each utterance sits in it."""

    path: Path
    duration: float
    said: tuple[Placed, ...]

    def utterance(self, text: str) -> Placed:
        return next(p for p in self.said if p.text == text)


def compose(duration: float, *says: Say, level_dbfs: float = -26.0, floor_dbfs: float = -60.0,
            seed: int = 0) -> tuple[np.ndarray, tuple[Placed, ...]]:
    """``duration`` seconds of a quiet room (white noise at ``floor_dbfs``) with each ``Say`` placed in it."""
    n = int(round(duration * RATE))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 10 ** (floor_dbfs / 20)).astype(np.float32)
    placed = []
    last_end = 0.0
    for say in sorted(says, key=lambda s: s.at):
        speech = tts(say.text, say.voice, say.speed)
        rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2)))
        start = int(round(say.at * RATE))
        end = start + len(speech)
        assert say.at >= last_end, f"{say.text!r} at {say.at} s overlaps the utterance before it (ends {last_end:.2f} s)"
        assert end <= n, f"{say.text!r} ends at {end / RATE:.2f} s, after the recording ({duration} s)"
        x[start:end] += speech * (10 ** (level_dbfs / 20) / rms)
        last_end = end / RATE
        placed.append(Placed(say.text, start / RATE, end / RATE))
    return x, tuple(placed)


class Recordings:
    """Composed recordings, written once per test session into one directory (keyed by content)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._made: dict[str, Scene] = {}

    def make(self, name: str, duration: float, *says: Say, **kwargs: Any) -> Scene:
        key = hashlib.sha256(repr((duration, says, sorted(kwargs.items()))).encode()).hexdigest()[:12]
        if key not in self._made:
            x, placed = compose(duration, *says, **kwargs)
            path = self.directory / f"{name}-{key}.wav"
            write_wav(path, pcm16(x))
            self._made[key] = Scene(path, duration, placed)
        return self._made[key]


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Recordings:
    return Recordings(tmp_path_factory.mktemp("daemon-recordings"))


def write_wav(path: Path, pcm: bytes, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """Rate and float samples (-1..1) of a mono 16-bit WAV."""
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


# --- what the speaker played --------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """An output WAV as windows of RMS level, for "sound here, silence there" checks."""

    rate: int
    samples: np.ndarray
    window_s: float = 0.02

    @classmethod
    def read(cls, path: Path) -> Output:
        rate, samples = read_wav(path)
        return cls(rate, samples)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def rms_dbfs(self, start: float, end: float) -> float:
        """RMS level of ``start``..``end`` seconds in dBFS (-120 for digital silence)."""
        a, b = int(start * self.rate), int(end * self.rate)
        seg = self.samples[max(0, a) : max(0, b)].astype(np.float64)
        if not len(seg):
            return -120.0
        rms = float(np.sqrt(np.mean(seg**2)))
        return 20 * np.log10(rms) if rms > 1e-6 else -120.0

    def sound_spans(self, threshold_dbfs: float = -45.0, gap_s: float = 0.3) -> list[tuple[float, float]]:
        """Where the output is audible: (start, end) seconds, pauses shorter than ``gap_s`` bridged."""
        w = int(self.window_s * self.rate)
        n = len(self.samples) // w
        frames = self.samples[: n * w].reshape(n, w).astype(np.float64)
        loud = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-9) > threshold_dbfs
        spans: list[tuple[float, float]] = []
        for i in np.flatnonzero(loud):
            t0, t1 = i * self.window_s, (i + 1) * self.window_s
            if spans and t0 - spans[-1][1] <= gap_s:
                spans[-1] = (spans[-1][0], t1)
            else:
                spans.append((t0, t1))
        return spans


# --- configs ------------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def config_text(endpoint: str, *, turn_detection: str = "none", tables: Mapping[str, Mapping[str, Any]] = {}) -> str:
    """A complete config for the emulator at ``endpoint``; ``tables`` adds or overrides keys per table."""
    base: dict[str, dict[str, Any]] = {
        "voicelive": {"endpoint": endpoint, "model": "gpt-realtime", "voice": "alloy",
                      "output_audio_format": "pcm16_16000hz"},
        "voicelive.turn_detection": {"type": turn_detection},
        "voicelive.transcription": {"model": "azure-speech"},
        "assistant": {"chimes": False, "follow_up_s": 1.5},
    }
    for table, keys in tables.items():
        base.setdefault(table, {}).update(keys)
    lines = []
    for table, keys in base.items():
        lines.append(f"[{table}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in keys.items())
        lines.append("")
    return "\n".join(lines)


def write_config(path: Path, endpoint: str, **kwargs: Any) -> Path:
    path.write_text(config_text(endpoint, **kwargs))
    return path


# --- the events file ----------------------------------------------------------------------------


@dataclass
class Events:
    """The records of an events file (one JSON object a line), with lookups by name and turn."""

    records: list[dict[str, Any]]

    @classmethod
    def read(cls, path: Path) -> Events:
        lines = path.read_text().splitlines() if path.exists() else []
        return cls([json.loads(line) for line in lines if line.strip()])

    def named(self, event: str, turn: int | None = None) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == event and (turn is None or r["turn"] == turn)]

    def first(self, event: str, turn: int | None = None) -> dict[str, Any]:
        found = self.named(event, turn)
        assert found, f"no {event!r} event{'' if turn is None else f' in turn {turn}'}; events: {self.summary()}"
        return found[0]

    def last(self, event: str, turn: int | None = None) -> dict[str, Any]:
        found = self.named(event, turn)
        assert found, f"no {event!r} event{'' if turn is None else f' in turn {turn}'}; events: {self.summary()}"
        return found[-1]

    def states(self) -> list[str]:
        return [r["state"] for r in self.records if r["event"] == "state"]

    def summary(self) -> str:
        return ", ".join(f"{r['event']}({r['turn']})" + (f"={r['state']}" if r["event"] == "state" else "")
                         for r in self.records)


# --- running the CLI ----------------------------------------------------------------------------


@dataclass
class Run:
    """What one ``edgevoice run`` did."""

    code: int
    stdout: str
    stderr: str
    events: Events
    output: Output | None
    scene: Scene
    started: float  # time.monotonic() just before the process started (same clock as the events)
    argv: list[str] = field(default_factory=list)

    def explain(self) -> str:
        return f"exit {self.code}\nevents: {self.events.summary()}\nstderr:\n{self.stderr[-6000:]}"


def run_cli(tmp_path: Path, scene: Scene, endpoint: str, *, key: str = KEY, timeout: float = 90.0,
            extra_args: tuple[str, ...] = (), **config: Any) -> Run:
    """``edgevoice run --config F --input-wav IN --output-wav OUT --events EV`` in a subprocess."""
    import time

    cfg = write_config(tmp_path / "edgevoice.toml", endpoint, **config)
    out, ev = tmp_path / "out.wav", tmp_path / "events.jsonl"
    argv = [*EDGEVOICE, "run", "--config", str(cfg), "--input-wav", str(scene.path), "--output-wav", str(out),
            "--events", str(ev), *extra_args]
    env = {k: v for k, v in os.environ.items() if k not in ("EDGEVOICE_CONFIG", "CREDENTIALS_DIRECTORY")}
    env["AZURE_VOICELIVE_API_KEY"] = key
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr, Events.read(ev),
               Output.read(out) if out.exists() else None, scene, started, argv)


def client_types(session: Any) -> list[str]:
    """The client event types an emulator session received, in order (appends included)."""
    return [e.get("type", "") for e in session.client_events]


def collapse(types: list[str]) -> list[str]:
    """Runs of the same type collapsed into one (many appends read as one)."""
    out: list[str] = []
    for t in types:
        if not out or out[-1] != t:
            out.append(t)
    return out


def iter_turns(events: Events) -> Iterator[int]:
    yield from sorted({r["turn"] for r in events.records if r["turn"] > 0})
