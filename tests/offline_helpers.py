"""In-process daemon runs for the offline tests: the real Daemon on a spoken recording at real-time pace.

A run is described by its recording, its endpoint and config tables; ``OfflineRun.start()`` runs it
on a background thread (the runs of a module go together, so they cost the time of the longest),
``result()`` waits. Every real connection attempt the daemon makes is counted on the client side
(when, how long, how it ended), so backoff and Retry-After can be checked.

    run = OfflineRun("refused", scene, closed_port_url()).start()
    result = run.result()
    assert result.code == 0 and result.events.first("offline_reply")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon_helpers import Events, Output, Scene
from edgevoice.bench.toml_config import toml_text, with_tables
from edgevoice.audio.wav import WavSource
from edgevoice.config.load import parse_config
from edgevoice.config.schema import Config
from edgevoice.config.secrets import ApiKey
from edgevoice.daemon.daemon import Daemon
from edgevoice.daemon.sessions import session_factory
from edgevoice.daemon.telemetry import Telemetry
from edgevoice.playback.wav_speaker import WavSpeaker
from edgevoice.voicelive.errors import SessionError

KEY = "offline-test-key"

#: Short phrases keep the runs short (what they say does not matter to the tests).
PHRASES = {
    "offline": "Sorry, I am offline.",
    "busy": "Sorry, I am busy.",
    "service_error": "Sorry, that went wrong.",
}


def closed_port_url() -> str:
    """``http://127.0.0.1:PORT`` where nothing listens (connecting is refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def config_text(endpoint: str, cache_dir: Path, *, tables: Mapping[str, Mapping[str, Any]] = {}) -> str:
    """A config for ``endpoint``: device endpointing, no chimes, a short follow-up, the cache in ``cache_dir``."""
    base: dict[str, dict[str, Any]] = {
        "voicelive": {"endpoint": endpoint, "model": "gpt-realtime", "voice": "alloy",
                      "output_audio_format": "pcm16_16000hz"},
        "voicelive.turn_detection": {"type": "none"},
        "voicelive.transcription": {"model": "none"},
        "assistant": {"chimes": False, "follow_up_s": 1.0},
        "offline": {"cache_dir": str(cache_dir), "warm": False},
        "offline.phrases": dict(PHRASES),
    }
    return toml_text(with_tables(with_tables({}, base), tables))


@dataclass(frozen=True)
class Attempt:
    """One real connection attempt (a VoiceLiveSession.connect()) the daemon made."""

    started: float
    ended: float
    error: SessionError | None

    @property
    def status(self) -> int | None:
        return getattr(self.error, "status", None)


@dataclass
class Result:
    name: str
    code: int
    events: Events
    output: Output
    attempts: list[Attempt]
    daemon: Daemon
    started: float
    error: BaseException | None = None

    def explain(self) -> str:
        tried = ", ".join(f"{a.started - self.started:.2f}s:{a.status or type(a.error).__name__ if a.error else 'ok'}"
                          for a in self.attempts)
        return f"[{self.name}] exit {self.code}; attempts {tried}\nevents: {self.events.summary()}"


@dataclass
class OfflineRun:
    """One daemon run on ``scene`` against ``endpoint``; ``during(daemon)`` runs alongside on its own thread."""

    name: str
    scene: Scene
    endpoint: str
    directory: Path
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    key: str = KEY
    during: Callable[[Daemon], None] | None = None
    settle_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "cache").mkdir(exist_ok=True)
        self.config: Config = parse_config(config_text(self.endpoint, self.directory / "cache", tables=self.tables), self.name)
        self.attempts: list[Attempt] = []
        self._done = threading.Event()
        self._result: Result | None = None

    def sessions(self, cfg: Any) -> Callable[..., Any]:
        """The daemon's session factory, counting every connect."""
        base = session_factory(cfg, ApiKey(self.key))

        def make(**callbacks: Any) -> Any:
            session = base(**callbacks)
            connect = session.connect

            def counted() -> None:
                started = time.monotonic()
                try:
                    connect()
                except SessionError as exc:
                    self.attempts.append(Attempt(started, time.monotonic(), exc))
                    raise
                self.attempts.append(Attempt(started, time.monotonic(), None))

            session.connect = counted
            return session

        return make

    def start(self) -> OfflineRun:
        threading.Thread(target=self._run, name=f"offline-run-{self.name}", daemon=True).start()
        return self

    def _run(self) -> None:
        out, events = self.directory / "out.wav", self.directory / "events.jsonl"
        telemetry = Telemetry(events)
        speaker = WavSpeaker(out, rate=self.config.voicelive.output_sample_rate)
        code, error, daemon = -1, None, None
        started = time.monotonic()
        try:
            daemon = Daemon(self.config, source=WavSource(self.scene.path, realtime=True), speaker=speaker,
                            sessions=self.sessions, telemetry=telemetry, finish_with_input=True,
                            settle_timeout_s=self.settle_timeout_s)
            if self.during is not None:
                threading.Thread(target=self.during, args=(daemon,), name=f"during-{self.name}", daemon=True).start()
            code = daemon.run()
        except BaseException as exc:  # reported by result()
            error = exc
        finally:
            speaker.close()
            telemetry.close()
        self._result = Result(self.name, code, Events.read(events), Output.read(out), list(self.attempts), daemon,  # type: ignore[arg-type]
                              started, error)
        self._done.set()

    def result(self, timeout: float = 90.0) -> Result:
        assert self._done.wait(timeout), f"run {self.name} did not finish within {timeout} s"
        assert self._result is not None
        if self._result.error is not None:
            raise self._result.error
        return self._result


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, step: float = 0.01) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def audible_spans(output: Output, gap_s: float = 0.3) -> list[tuple[float, float]]:
    """Where the speaker played anything (it writes exact zeros when it plays nothing): (start, end)
    seconds on the input's clock, pauses shorter than ``gap_s`` bridged."""
    import numpy as np

    idx = np.flatnonzero(output.samples != 0)
    if not len(idx):
        return []
    breaks = np.flatnonzero(np.diff(idx) > gap_s * output.rate)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return [(a / output.rate, b / output.rate) for a, b in zip(starts, ends)]
