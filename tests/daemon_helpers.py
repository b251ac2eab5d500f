"""End-to-end pieces for the daemon tests: spoken recordings, configs, background runs, events, output WAVs.

Recordings are composed from real espeak-ng speech placed at exact times (seconds) over a quiet
room's noise floor, written once per test session (``recordings`` fixture) and fed to the daemon
at real-time pace by ``edgevoice run --input-wav`` (or by ``WavSource`` in-process).

Real-time runs are slow one by one, so a test module describes its runs as ``Scenario``s and
starts them together (``BackgroundRun``: a subprocess and its own emulator each); every test then
waits for the result of its own run. Use::

    scene = recordings.make("turn", 6.0, Say(0.5, "okay nabu"), Say(2.2, "what time is it"))
    run = BackgroundRun("turn", Scenario(scene, replies=("It is noon.",)), tmp_dir).result()
    assert run.code == 0, run.explain()
    in_order(run.events, 1, TURN_MILESTONES)
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgevoice.audio.speech import Speech
from edgevoice.bench.audio import babble
from edgevoice.bench.toml_config import toml_text, toml_value, with_tables
from edgevoice.voicelive.emulator import Emulator
from edgevoice.voicelive.emulator.tool_calls import parse_tool_call
from listening_helpers import pcm16, tts
from service_helpers import stream_header

KEY = "daemon-test-key"
RATE = 16000
VOICE = "alloy"  # the voice the test configs ask for

#: One renderer for every emulator of these tests: the replies are rendered before a run starts, so
#: how long espeak-ng takes on a busy machine never shifts a reply on the recording's timeline.
SPEECH = Speech(cache_size=256)
EDGEVOICE = [sys.executable, "-m", "edgevoice"]

#: The milestones every answered turn writes to the events file, in the order they happen (after a
#: pause, the audio is sent once the person's words start: the wake word's tail is never sent).
TURN_MILESTONES = ("wake", "speech_start", "audio_sent", "speech_end", "commit", "reply_audio_first",
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
            seed: int = 0, babble_db: float | None = None) -> tuple[np.ndarray, tuple[Placed, ...]]:
    """``duration`` seconds of a quiet room (white noise at ``floor_dbfs``) with each ``Say`` placed in it;
    with ``babble_db``, people talking across the room that much below the speech the whole time."""
    n = int(round(duration * RATE))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 10 ** (floor_dbfs / 20)).astype(np.float32)
    if babble_db is not None:
        x += babble(duration, seed=seed)[:n] * 10 ** ((level_dbfs - babble_db) / 20)
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


class OpenEndedInput:
    """A recording that goes on until the test ends it: a FIFO for ``--input-wav`` that carries a
    scene, then its quiet room for as long as the test needs the daemon, then ends (``end()``).

    Why: a run that tests talk to (its control socket, its state) would otherwise need a recording
    longer than the slowest machine takes for them, and every run waits out that tail. The daemon
    reads the FIFO as a stream at its own real-time pace; the pipe holds at most a few seconds.
    """

    _QUIET_S = 0.1

    def __init__(self, scene: Scene, path: Path) -> None:
        os.mkfifo(path)
        self.scene = dataclasses.replace(scene, path=path)  # what a Scenario runs on
        with wave.open(str(scene.path), "rb") as w:
            assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
            self._pcm = w.readframes(w.getnframes())
        self._quiet = pcm16(np.random.default_rng(1).standard_normal(int(RATE * self._QUIET_S)) * 10 ** (-60 / 20))
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._feed, name=f"input-{path.name}", daemon=True)
        self._thread.start()

    def end(self) -> None:
        """Stop the quiet room: the daemon reads to the end of the stream (input over) and settles."""
        self._ended.set()

    def _feed(self) -> None:
        try:
            with open(self.scene.path, "wb") as fifo:  # waits for the daemon to open it
                fifo.write(stream_header() + self._pcm)
                while not self._ended.is_set():
                    fifo.write(self._quiet)  # blocks while the pipe is full: paced by the reader
                    fifo.flush()
        except BrokenPipeError:  # the daemon went away first (killed, or failed): nothing more to feed
            pass


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
    """An output WAV (what the speaker played), for "sound here, silence there" checks."""

    rate: int
    samples: np.ndarray  # float, -1..1

    @classmethod
    def read(cls, path: Path) -> Output:
        rate, samples = read_wav(path)
        return cls(rate, samples)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def spans(self, gap_s: float = 0.3) -> list[tuple[float, float]]:
        """Where anything at all was played (a speaker writes exact zeros when it plays nothing):
        (start, end) seconds, to the sample; pauses shorter than ``gap_s`` bridged."""
        idx = np.flatnonzero(self.samples != 0)
        if not len(idx):
            return []
        breaks = np.flatnonzero(np.diff(idx) > gap_s * self.rate)
        starts = np.concatenate([[idx[0]], idx[breaks + 1]])
        ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
        return [(a / self.rate, b / self.rate) for a, b in zip(starts, ends)]


# --- configs ------------------------------------------------------------------------------------


def config_text(endpoint: str, *, turn_detection: str = "none", tables: Mapping[str, Mapping[str, Any]] = {}) -> str:
    """A complete config for the emulator at ``endpoint``; ``tables`` adds or overrides keys per table."""
    base: dict[str, dict[str, Any]] = {
        "voicelive": {"endpoint": endpoint, "model": "gpt-realtime", "voice": VOICE,
                      "output_audio_format": "pcm16_16000hz"},
        "voicelive.turn_detection": {"type": turn_detection},
        "voicelive.transcription": {"model": "azure-speech"},
        "assistant": {"chimes": False, "follow_up_s": 1.5},
        # No background warm-up of the phrase cache: the emulator sees only the conversation's
        # sessions, and a test never writes the machine's cache directory.
        "offline": {"warm": False},
    }
    return toml_text(with_tables(with_tables({}, base), tables))


SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "config" / "edgevoice.toml"


def shipped_config_text(endpoint: str, tables: Mapping[str, Mapping[str, Any]] = {}) -> str:
    """The shipped example config, as a new user has it, pointed at ``endpoint``; ``tables`` adds keys
    to its tables (the phrase cache is never warmed: the emulator sees only the conversation)."""
    text = SHIPPED_CONFIG.read_text()
    example = 'endpoint = "https://my-resource.services.ai.azure.com"'
    assert example in text, "the shipped config's endpoint line changed"
    text = text.replace(example, f"endpoint = {json.dumps(endpoint)}", 1)
    added = {"offline": {"warm": False}}
    for table, keys in tables.items():
        added.setdefault(table, {}).update(keys)
    for table, keys in added.items():
        header = f"\n[{table}]\n"
        assert header in text, f"the shipped config has no [{table}] table"
        lines = "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())
        text = text.replace(header, header + lines, 1)
    return text


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


# --- running the CLI in the background ----------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One ``edgevoice run`` on a recording, against an emulator of its own (or ``edgevoice demo``)."""

    scene: Scene | None
    replies: tuple[str, ...] = ()
    pacing: str = "fast"  # the emulator's: "realtime" streams replies at speaking pace, like the service
    turn_detection: str = "none"
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    command: str = "run"  # or "demo"
    offline: bool = False  # the service cannot be reached: nothing listens on the endpoint's port
    argv: tuple[str, ...] = ()  # more `edgevoice run` options, e.g. ("--room-echo", "-12@40")
    shipped: bool = False  # the shipped config/edgevoice.toml (endpoint set, `tables` added), not config_text's
    tool_calls: tuple[str, ...] = ()  # the emulator's --tool-call NAME:JSON_ARGS, in order
    config_extra: str = ""  # TOML appended to the config (arrays of tables: [[tools.gpio]] ...)
    prepare: Callable[[Path], None] | None = None  # called with the written config file, before the run starts
    transcripts: tuple[str, ...] = ()  # the emulator's scripted user transcripts (n-th user audio of a session)
    faults: Any = None  # the emulator's FaultPlan (a slow service: response_delay_ms ...)


@dataclass
class Run:
    """What one background run did, read after the process ended."""

    name: str
    code: int
    stdout: str
    stderr: str
    events: Events
    output: Output | None
    scene: Scene | None
    started: float  # time.monotonic() just before the process started (the events' clock)
    sessions: list[Any]  # the emulator's SessionRecords, in connection order
    opened_at: dict[int, float]  # session index -> monotonic time the emulator saw it open
    closed_at: dict[int, float]  # session index -> monotonic time the emulator saw it closed

    def explain(self) -> str:
        """For assertion messages: exit status, the events in short, the end of the log."""
        return f"[{self.name}] exit {self.code}\nevents: {self.events.summary()}\nlog:\n{self.stderr[-5000:]}"

    def client_events(self, kind: str) -> list[dict[str, Any]]:
        return [e for s in self.sessions for e in s.client_events if e.get("type") == kind]


class BackgroundRun:
    """A scenario running in a subprocess, with its emulator in this process; ``result()`` waits for it."""

    def __init__(self, name: str, scenario: Scenario, directory: Path) -> None:
        self.name = name
        self.scenario = scenario
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.output_path = directory / "out.wav"
        self.events_path = directory / "events.jsonl"
        self.emulator: Emulator | None = None
        self.opened_at: dict[int, float] = {}
        self.closed_at: dict[int, float] = {}
        self._done = threading.Event()
        self._result: Run | None = None
        env = {k: v for k, v in os.environ.items() if k not in ("EDGEVOICE_CONFIG", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET")}
        if scenario.command == "run":
            assert scenario.scene is not None
            ready_replies(scenario.replies)
            calls = tuple(parse_tool_call(spec) for spec in scenario.tool_calls)
            self.emulator = Emulator(api_key=KEY, replies=scenario.replies, transcripts=scenario.transcripts,
                                     pacing=scenario.pacing, speech=SPEECH, tool_calls=calls,
                                     faults=scenario.faults).start()
            if scenario.offline:
                self.emulator.stop()  # its port stays in the config: connections are refused
            if scenario.shipped:
                config = directory / "edgevoice.toml"
                config.write_text(shipped_config_text(self.emulator.url, scenario.tables))
            else:
                config = write_config(directory / "edgevoice.toml", self.emulator.url,
                                      turn_detection=scenario.turn_detection, tables=scenario.tables)
            if scenario.config_extra:
                config.write_text(config.read_text() + "\n" + scenario.config_extra)
            if scenario.prepare is not None:
                scenario.prepare(config)
            argv = [*EDGEVOICE, "run", "--config", str(config), "--input-wav", str(scenario.scene.path),
                    "--output-wav", str(self.output_path), "--events", str(self.events_path), *scenario.argv]
            env["AZURE_VOICELIVE_API_KEY"] = KEY
            threading.Thread(target=self._watch_sessions, name=f"watch-{name}", daemon=True).start()
        else:
            argv = [*EDGEVOICE, "demo", "--output-wav", str(self.output_path), "--events", str(self.events_path)]
        self._stdout = open(directory / "stdout.txt", "w+")  # noqa: SIM115 - closed in result()
        self._stderr = open(directory / "stderr.txt", "w+")  # noqa: SIM115
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, cwd=directory, stdout=self._stdout, stderr=self._stderr, text=True)

    def _watch_sessions(self) -> None:
        """Note when the emulator saw each session open and close (the daemon's own view is in its log)."""
        emu = self.emulator
        assert emu is not None

        def changed(e: Emulator) -> bool:
            return len(e.sessions) != len(self.opened_at) or sum(s.closed for s in e.sessions) != len(self.closed_at)

        while not self._done.is_set():
            try:
                emu.wait_until(changed, timeout=0.2)
            except TimeoutError:
                continue
            now = time.monotonic()
            for i, record in enumerate(list(emu.sessions)):
                self.opened_at.setdefault(i, now)
                if record.closed:
                    self.closed_at.setdefault(i, now)

    def result(self, timeout: float = 120.0) -> Run:
        if self._result is None:
            try:
                code = self.proc.wait(timeout=timeout)
            finally:
                self.close()
            self._stdout.seek(0)
            self._stderr.seek(0)
            sessions = list(self.emulator.sessions) if self.emulator is not None else []
            self._result = Run(
                self.name, code, self._stdout.read(), self._stderr.read(), Events.read(self.events_path),
                Output.read(self.output_path) if self.output_path.exists() else None, self.scenario.scene,
                self.started, sessions, dict(self.opened_at), dict(self.closed_at),
            )
            self._stdout.close()
            self._stderr.close()
        return self._result

    def close(self) -> None:
        """Stop the process (if still running) and the emulator."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.emulator is not None:
            self.emulator.stop()
        self._done.set()


class StartedRuns(dict):
    """A module's background runs, started together (each takes real time) and closed together when
    the ``with`` block ends, also when starting one of them failed."""

    def start(self, name: str, scenario: Scenario, directory: Path, *, key: Any = None) -> BackgroundRun:
        """Start one run, kept under ``key`` (its name unless given)."""
        run = self[name if key is None else key] = BackgroundRun(name, scenario, directory)
        return run

    def __enter__(self) -> StartedRuns:
        return self

    def __exit__(self, *exc: object) -> None:
        for run in self.values():
            run.close()


def ready_replies(texts: Any) -> None:
    """Render the emulator's replies now (into ``SPEECH``'s cache), before the conversation needs them."""
    for text in texts:
        SPEECH.render(text, RATE, VOICE)


def reply_pcm(text: str) -> np.ndarray:
    """The emulator's spoken reply ``text`` as int16 samples (the same renderer, voice and rate)."""
    return np.frombuffer(SPEECH.render(text, RATE, VOICE), "<i2")


@functools.cache
def reply_seconds(text: str) -> float:
    """How long the emulator's spoken reply ``text`` lasts."""
    return len(reply_pcm(text)) / RATE


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


def in_order(events: Events, turn: int, names: tuple[str, ...]) -> list[float]:
    """The times of ``names`` in ``turn`` (first of each; speech_end: the last, as telemetry counts it),
    asserting they are all there and in this order."""
    times = []
    for name in names:
        record = events.last(name, turn) if name == "speech_end" else events.first(name, turn)
        times.append(record["t"])
    assert times == sorted(times), f"turn {turn} milestones out of order: {list(zip(names, times))}"
    return times


class AudioCues:
    """Acts at chosen points of the recording, on the daemon's own loop, between two frames.

    A test thread that polls ``frontend.t`` acts late on a loaded machine (and the loop may be
    catching up a backlog in bursts); a cue runs right before the first frame at or after its time
    goes through the front-end, so a button press lands on the frame it names, however busy the
    machine is. Instrumentation of the in-process daemon, for tests only.
    """

    def __init__(self, daemon: Any) -> None:
        self._cues: list[tuple[float, int, Callable[[], None]]] = []
        self._frontend = daemon.frontend
        self._process = self._frontend.process
        self.done = threading.Event()
        self._frontend.process = self._process_with_cues

    def at(self, seconds: float, action: Callable[[], None]) -> AudioCues:
        """Run ACTION once the daemon has heard SECONDS of audio (before the next frame is processed)."""
        heapq.heappush(self._cues, (seconds, len(self._cues), action))
        self.done.clear()
        return self

    def _process_with_cues(self, frame: bytes, *args: Any) -> Any:
        while self._cues and self._frontend.t >= self._cues[0][0] - 1e-9:
            heapq.heappop(self._cues)[2]()
            if not self._cues:
                self.done.set()
        return self._process(frame, *args)


class InProcessDaemon:
    """The real Daemon on a thread of this process: a recording at real-time pace in, a WAV out, events
    to ``events.jsonl``, and gpiozero pins from ``pin_factory`` (MockFactory).

    Build it, set up what must be in place before the first frame (listeners, :class:`AudioCues`),
    then ``with run:`` starts it; leaving waits for it to finish by itself (stopping it after
    ``finish_s``) and closes the speaker and the events file. ``run.codes`` holds its exit status.
    """

    def __init__(self, config: Any, recording: Path, directory: Path, pin_factory: Any,
                 on_record: Callable[[dict[str, Any]], None] | None = None, finish_s: float = 90.0) -> None:
        from edgevoice.audio.wav import WavSource
        from edgevoice.config.secrets import ApiKey
        from edgevoice.daemon.daemon import Daemon
        from edgevoice.daemon.sessions import session_factory
        from edgevoice.daemon.telemetry import Telemetry
        from edgevoice.playback.wav_speaker import WavSpeaker

        self.events_path = directory / "events.jsonl"
        self.telemetry = Telemetry(self.events_path)
        if on_record is not None:
            self.telemetry.add_listener(on_record)
        self.speaker = WavSpeaker(directory / "out.wav", rate=config.voicelive.output_sample_rate)
        self.daemon = Daemon(config, source=WavSource(recording, realtime=True), speaker=self.speaker,
                             sessions=lambda cfg: session_factory(cfg, ApiKey(KEY)), telemetry=self.telemetry,
                             pin_factory=pin_factory, finish_with_input=True)
        self.codes: list[int] = []
        self.finish_s = finish_s
        self._thread = threading.Thread(target=lambda: self.codes.append(self.daemon.run()), name="daemon")

    def __enter__(self) -> InProcessDaemon:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=self.finish_s)
        if self._thread.is_alive():
            self.daemon.stop()
            self._thread.join(timeout=10)
        self.speaker.close()
        self.telemetry.close()

    def events(self) -> Events:
        return Events.read(self.events_path)
