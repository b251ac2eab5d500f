"""A fault run for the reliability tests: ``edgevoice run`` as a subprocess, the planted API key in its
environment, a real NOTIFY_SOCKET collecting its STATUS lines, and an emulator of its own that
misbehaves by a :class:`FaultPlan`.

    run = FaultRun("drop", scene, base / "drop", faults=FaultPlan(drop_after_audio_deltas=3, connections=1))
    result = run.start().result()
    assert result.code == 0, result.explain()
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon_helpers import EDGEVOICE, SPEECH, Events, Output, Scene, ready_replies, write_config
from edgevoice.voicelive.emulator import Emulator, FaultPlan
from secret_helpers import PLANTED_KEY
from service_helpers import NotifyLog, daemon_environment

#: STATUS text of the state in which the wake word starts a turn with the service.
WAKE_READY = "listening for the wake word"


@dataclass
class FaultResult:
    """What one fault run did, read after the process ended."""

    name: str
    code: int
    stdout: str
    stderr: str
    events: Events
    output: Output | None
    scene: Scene
    notify: list[tuple[float, str]]  # (monotonic arrival time, datagram)
    connections: int  # upgrade requests (and plain HTTP checks) the emulator saw
    rejected: list[int]
    sessions: list[Any]  # the emulator's SessionRecords
    files: list[Path]  # everything the run wrote: for the leak check

    def explain(self) -> str:
        return (f"[{self.name}] exit {self.code}; emulator connections {self.connections}, rejected {self.rejected}\n"
                f"statuses: {self.statuses()}\nevents: {self.events.summary()}\nlog:\n{self.stderr[-6000:]}")

    def statuses(self) -> list[tuple[float, str]]:
        """Every STATUS= text with the time it arrived."""
        out = []
        for at, message in self.notify:
            for line in message.splitlines():
                if line.startswith("STATUS="):
                    out.append((at, line.removeprefix("STATUS=")))
        return out

    def status_at(self, t: float) -> str | None:
        """The STATUS in force at monotonic time ``t`` (the last one that arrived before it)."""
        before = [text for at, text in self.statuses() if at <= t]
        return before[-1] if before else None

    def wake_ready_after(self, t: float) -> float | None:
        """When the daemon was next (or still) listening for the wake word at or after ``t``."""
        if self.status_at(t) == WAKE_READY:
            return t
        return next((at for at, text in self.statuses() if at > t and text == WAKE_READY), None)


@dataclass
class FaultRun:
    """One run on ``scene`` against an emulator of its own with ``faults``; ``start()``, then ``result()``."""

    name: str
    scene: Scene
    directory: Path
    faults: FaultPlan
    replies: tuple[str, ...] = ()
    pacing: str = "fast"
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def start(self) -> FaultRun:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        ready_replies(self.replies)
        self.emulator = Emulator(api_key=PLANTED_KEY, replies=self.replies, pacing=self.pacing, faults=self.faults,
                                 speech=SPEECH).start()
        tables = {table: dict(keys) for table, keys in self.tables.items()}
        tables.setdefault("offline", {}).setdefault("cache_dir", str(d / "cache"))
        config = write_config(d / "edgevoice.toml", self.emulator.url, tables=tables)
        self.notify = NotifyLog(d / "notify.sock")
        argv = [*EDGEVOICE, "run", "--config", str(config), "--input-wav", str(self.scene.path),
                "--output-wav", str(d / "out.wav"), "--events", str(d / "events.jsonl")]
        env = daemon_environment(self.notify.path, key=PLANTED_KEY, watchdog_usec=None)
        self._result: FaultResult | None = None
        with open(d / "stdout.txt", "w") as stdout, open(d / "stderr.txt", "w") as stderr:
            self.proc = subprocess.Popen(argv, env=env, cwd=d, stdout=stdout, stderr=stderr)
        return self

    def result(self, timeout: float = 90.0) -> FaultResult:
        if self._result is None:
            try:
                code = self.proc.wait(timeout=timeout)
            finally:
                self.close()
            d, emu = self.directory, self.emulator
            out = d / "out.wav"
            self._result = FaultResult(
                self.name, code, (d / "stdout.txt").read_text(), (d / "stderr.txt").read_text(),
                Events.read(d / "events.jsonl"), Output.read(out) if out.exists() else None, self.scene,
                list(self.notify.messages), emu.connections, list(emu.rejected), list(emu.sessions),
                sorted(p for p in d.rglob("*") if p.is_file()),
            )
        return self._result

    def close(self) -> None:
        """Stop the process (if it still runs), the emulator and the notify socket."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.emulator.stop()
        self.notify.close()
