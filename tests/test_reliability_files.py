"""Bad files: a damaged phrase cache and credential files that cannot be used, on the real daemon.

Each scenario is a real ``edgevoice run --input-wav IN --output-wav OUT`` process on a spoken
recording, against an emulator of its own, started together when the module starts (the module
costs its longest run). What must hold in each: exit status 0, a clear warning naming the file and
the problem (never the key), no traceback, the answers audible in OUT, and the planted API key in
no output at all.

- the cache: damaged phrase files (garbage, cut short, wrong checksum, missing) and damaged
  manifest entries, or a manifest that is not JSON at all: the bad entries are removed, the local
  voice answers a turn while the service cannot be reached, and once it can the phrases are
  rendered again in the background (the files are healthy after the run);
- a key file the daemon cannot read (mode 000; as root the daemon runs without the capabilities
  that override permissions), and a key file readable by others (refused, naming file and mode): the
  daemon starts anyway, in the error state (STATUS, LED), apologises for every request, and heals
  without a restart once the file is fixed (by looking again, and on SIGHUP).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from daemon_helpers import Events, Output, Recordings, Say, Scene, config_text, recordings  # noqa: F401 - fixture
from edgevoice.config.load import parse_config
from edgevoice.offline.cache import MANIFEST, PhraseCache, Status, VoiceKey
from edgevoice.playback.sound import Sound
from edgevoice.voicelive.emulator import Emulator
from offline_helpers import closed_port_url, wait_for
from secret_helpers import PLANTED_KEY, assert_no_leak, assert_no_leak_in_files
from service_helpers import NotifyLog

EDGEVOICE = [sys.executable, "-m", "edgevoice"]
REPLY = "It is noon."
WAKE, QUESTION = "okay nabu", "what time is it"
#: Short phrases: the local voice renders them quickly and the emulator speaks them quickly.
PHRASES = {"offline": "Sorry, I am offline.", "busy": "Sorry, I am busy.", "service_error": "Sorry, that went wrong.",
           "not_heard": "Say that again.", "muted": "I am muted.", "resting": "I am resting.", "welcome": "Hello there."}
#: Root reads any file whatever its mode: run the daemon as root without the two capabilities that let it
#: (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a file's permissions stop it as they stop any user.
WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                    "--inh-caps=-dac_override,-dac_read_search", "--"]
LEDS = {"listening": 22, "speaking": 23, "offline": 24, "error": 25}  # gpiozero's mock pins


def two_turns(rec: Recordings, name: str, second_at: float = 8.0) -> Scene:
    """A turn at 1 s and another at ``second_at``, each the wake word then a question."""
    return rec.make(name, second_at + 4.0, Say(1.0, WAKE), Say(2.2, QUESTION), Say(second_at, WAKE),
                    Say(second_at + 1.2, QUESTION))


# --- a real `edgevoice run`, with its own notify socket ----------------------------------------------------------


@dataclass
class Finished:
    """What one run did, read after the process ended."""

    name: str
    code: int
    stdout: str
    stderr: str
    events: Events
    output: Output
    statuses: list[str]
    directory: Path
    notes: dict[str, Any]

    def explain(self) -> str:
        return (f"[{self.name}] exit {self.code}\nevents: {self.events.summary()}\nstatuses: {self.statuses}\n"
                f"log:\n{self.stderr[-6000:]}")


@dataclass
class CliRun:
    """``edgevoice run`` on ``scene`` in a fresh directory; ``during(run)`` acts alongside."""

    name: str
    scene: Scene
    endpoint: str
    directory: Path
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    bound_by_permissions: bool = False  # as root: run without the capabilities that override them
    env: dict[str, str] = field(default_factory=dict)
    during: Callable[[CliRun], None] | None = None

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True)
        self.recording = self.scene.path
        self.cache = self.directory / "cache"
        self.cache.mkdir()
        tables = {"offline": {"cache_dir": str(self.cache), "warm": False, **self.tables.get("offline", {})},
                  "offline.phrases": PHRASES, "leds": LEDS}
        tables.update({table: keys for table, keys in self.tables.items() if table != "offline"})
        self.config = self.directory / "edgevoice.toml"
        self.config.write_text(config_text(self.endpoint, tables=tables))
        self.parsed = parse_config(self.config.read_text(), str(self.config))
        self.notes: dict[str, Any] = {}
        self.proc: subprocess.Popen[str] | None = None
        self._done = threading.Event()
        self._result: Finished | None = None

    @property
    def events_path(self) -> Path:
        return self.directory / "events.jsonl"

    def start(self) -> CliRun:
        self.notify = NotifyLog(self.directory / "notify.sock")
        env = {k: v for k, v in os.environ.items()
               if k not in ("EDGEVOICE_CONFIG", "CREDENTIALS_DIRECTORY", "JOURNAL_STREAM", "INVOCATION_ID",
                            "AZURE_VOICELIVE_API_KEY", "WATCHDOG_USEC", "WATCHDOG_PID")}
        env.update(NOTIFY_SOCKET=self.notify.path, GPIOZERO_PIN_FACTORY="mock", PYTHONUNBUFFERED="1",
                   PYTHONDONTWRITEBYTECODE="1", **self.env)
        argv = [*EDGEVOICE, "run", "--config", str(self.config), "--input-wav", str(self.recording),
                "--output-wav", str(self.directory / "out.wav"), "--events", str(self.events_path)]
        self._outputs = [open(self.directory / name, "w") for name in ("stdout.txt", "stderr.txt")]  # noqa: SIM115
        if self.bound_by_permissions and os.geteuid() == 0:
            argv = [*WITHOUT_OVERRIDE, *argv]
        self.proc = subprocess.Popen(argv, env=env, cwd=self.directory, stdout=self._outputs[0], stderr=self._outputs[1],
                                     text=True)
        if self.during is not None:
            threading.Thread(target=self._during, name=f"during-{self.name}", daemon=True).start()
        return self

    def _during(self) -> None:
        try:
            assert self.during is not None
            self.during(self)
        except BaseException as exc:  # reported by result()
            self.notes["during_error"] = exc

    def records(self) -> Events:
        """The events file as it is now (the run is still going)."""
        try:
            return Events.read(self.events_path)
        except (json.JSONDecodeError, OSError):  # a line being written
            return Events([])

    def wait_for_event(self, name: str, timeout: float = 30.0) -> bool:
        return wait_for(lambda: bool(self.records().named(name)), timeout=timeout, step=0.05)

    def result(self, timeout: float = 90.0) -> Finished:
        if self._result is None:
            assert self.proc is not None
            try:
                code = self.proc.wait(timeout=timeout)
            finally:
                self.close()
            d = self.directory
            self._result = Finished(self.name, code, (d / "stdout.txt").read_text(), (d / "stderr.txt").read_text(),
                                    Events.read(self.events_path), Output.read(d / "out.wav"), self.notify.statuses(),
                                    d, self.notes)
            if "during_error" in self.notes:
                raise self.notes["during_error"]
        return self._result

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if hasattr(self, "notify"):
            self.notify.close()
        for output in getattr(self, "_outputs", []):
            output.close()


# --- the scenarios --------------------------------------------------------------------------------------------


def tone(seconds: float, freq: float = 440.0, rate: int = 16000) -> Sound:
    """A plain tone: what the "rendered" phrases hold before the test damages them (easy to tell apart)."""
    t = np.arange(int(seconds * rate)) / rate
    return Sound((np.sin(2 * np.pi * freq * t) * 8000).astype("<i2").tobytes(), rate)


def damage_each_file(cache_dir: Path, voice: VoiceKey) -> dict[str, str]:
    """Phrases cached, then each damaged its own way; returns phrase -> what was done."""
    cache = PhraseCache(cache_dir)
    entries = {name: cache.store(name, text, voice, tone(0.5, 300 + 50 * i)) for i, (name, text) in enumerate(PHRASES.items())}
    path = {name: cache_dir / entry.file for name, entry in entries.items()}
    path["offline"].write_bytes(os.urandom(path["offline"].stat().st_size))  # garbage of the right size
    path["busy"].write_bytes(path["busy"].read_bytes()[:300])  # cut short
    path["not_heard"].unlink()  # the entry points at a missing file
    manifest = json.loads((cache_dir / MANIFEST).read_text())
    manifest["entries"][entries["service_error"].key]["sha256"] = "0" * 64  # a wrong checksum
    manifest["entries"][entries["muted"].key]["rate"] = "fast"  # an entry of the wrong shape
    manifest["entries"]["not-a-key"] = ["garbage"]
    (cache_dir / MANIFEST).write_text(json.dumps(manifest))
    (cache_dir / ("phrase-" + "ab" * 32 + ".wav")).write_bytes(b"stray")  # a file no entry names
    return {"offline": "garbage", "busy": "cut short", "not_heard": "missing", "service_error": "checksum",
            "muted": "malformed entry", "welcome": "intact"}


def garbage_manifest(cache_dir: Path, voice: VoiceKey) -> dict[str, str]:
    cache = PhraseCache(cache_dir)
    for name, text in PHRASES.items():
        cache.store(name, text, voice, tone(0.5))
    (cache_dir / MANIFEST).write_bytes(b'{"version": 1, "entries": {"x": ' + os.urandom(64))
    return {name: "manifest" for name in PHRASES}


class Runs:
    """Every run of the module, started at once."""

    def __init__(self, rec: Recordings, base: Path) -> None:
        self.base = base
        self.emulators: list[Emulator] = []
        self.runs: dict[str, CliRun] = {}
        one_turn_then_heal = rec.make("files-cache", 11.0, Say(1.0, WAKE), Say(2.2, QUESTION))
        for name, damage in (("cache-files", damage_each_file), ("cache-manifest", garbage_manifest)):
            endpoint = closed_port_url()  # nothing listens there until the emulator starts, mid-run
            run = CliRun(name, one_turn_then_heal, endpoint, base / name, tables={"offline": {"warm": True, "probe_min_s": 0.5, "probe_max_s": 1.0}},
                         env={"AZURE_VOICELIVE_API_KEY": PLANTED_KEY}, during=self._service_comes_back)
            run.notes["damage"] = damage(run.cache, VoiceKey.from_config(run.parsed.voicelive))
            run.notes["port"] = int(endpoint.rsplit(":", 1)[1])
            self.runs[name] = run
        scene = two_turns(rec, "files-credential")
        unreadable = self._credential_run("unreadable", scene, self._make_readable)
        unreadable.notes["key_file"].chmod(0o000)
        readable = self._credential_run("world-readable", scene, self._chmod_and_reload)
        readable.notes["key_file"].chmod(0o644)
        for run in self.runs.values():
            run.start()

    def _credential_run(self, name: str, scene: Scene, during: Callable[[CliRun], None]) -> CliRun:
        emu = Emulator(api_key=PLANTED_KEY, replies=[REPLY]).start()
        self.emulators.append(emu)
        key_file = self.base / f"{name}.key"
        key_file.write_text(PLANTED_KEY + "\n")
        run = CliRun(name, scene, emu.url, self.base / name, bound_by_permissions=True, during=during,
                     tables={"voicelive": {"api_key_file": str(key_file)}})
        run.notes.update(key_file=key_file, emulator=emu)
        self.runs[name] = run
        return run

    def _service_comes_back(self, run: CliRun) -> None:
        """Once the offline turn has been answered, the service appears at the configured port."""
        assert run.wait_for_event("cached_playback_start"), "no offline answer"
        emu = Emulator(api_key=PLANTED_KEY, port=run.notes["port"]).start()
        self.emulators.append(emu)
        run.notes["emulator"] = emu

    @staticmethod
    def _error_answered(run: CliRun) -> None:
        """Wait until the first request was answered in the error state (the apology started)."""
        assert run.wait_for_event("cached_playback_start"), "no apology in the error state"
        time.sleep(0.5)

    def _make_readable(self, run: CliRun) -> None:
        self._error_answered(run)
        run.notes["key_file"].chmod(0o600)

    def _chmod_and_reload(self, run: CliRun) -> None:
        self._error_answered(run)
        run.notes["key_file"].chmod(0o600)
        assert run.proc is not None
        run.proc.send_signal(signal.SIGHUP)

    def close(self) -> None:
        for run in self.runs.values():
            run.close()
        for emu in self.emulators:
            emu.stop()


@pytest.fixture(scope="module")
def runs(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:  # noqa: F811
    all_runs = Runs(recordings, tmp_path_factory.mktemp("files-runs"))
    yield all_runs
    all_runs.close()


def clean(result: Finished) -> None:
    """Exit 0, no traceback, and the planted key nowhere the run left anything."""
    assert result.code == 0, result.explain()
    assert "Traceback" not in result.stderr, result.explain()
    assert_no_leak(f"run {result.name}", result.stdout, result.stderr, result.statuses)
    assert_no_leak_in_files(*result.directory.glob("*.txt"), *result.directory.glob("*.jsonl"),
                            *result.directory.glob("*.toml"), *(result.directory / "cache").glob("*"))


# --- the phrase cache -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cache-files", "cache-manifest"])
def test_a_damaged_cache_is_answered_from_the_local_voice_and_heals_itself(runs: Runs, name: str) -> None:
    run = runs.runs[name]
    result = run.result()
    clean(result)
    damage: dict[str, str] = result.notes["damage"]
    log = result.stderr
    # Each damaged file or entry: one clear warning naming it and what is wrong (never the key).
    if name == "cache-manifest":
        assert f"phrase cache manifest {run.cache / MANIFEST} is unreadable" in log, result.explain()
    else:
        problems = {"offline": "does not match its checksum", "busy": "does not match its checksum",
                    "service_error": "does not match its checksum", "not_heard": "is missing"}
        for phrase, problem in problems.items():
            line = next((line for line in log.splitlines() if f"(phrase {phrase!r})" in line), "")
            assert problem in line and str(run.cache / "phrase-") in line, (phrase, result.explain())
        assert "is malformed (rate is not a count)" in log and "entry not-a-key is malformed" in log, result.explain()
    # The turn came while the service could not be reached: the local voice answered it, audibly.
    reply = result.events.first("offline_reply", 1)
    assert reply["phrase"] == "offline"
    spans = result.output.spans()
    question_end = run.scene.utterance(QUESTION).end
    assert spans and spans[0][0] >= question_end, spans
    assert spans[0][1] - spans[0][0] > 0.8, "the local voice, not the half-second tone that was cached"
    # The service came back: the cache healed itself in the background, in the service's voice.
    emu: Emulator = result.notes["emulator"]
    rendered = [e["response"]["pre_generated_assistant_message"]["content"][0]["text"]
                for s in emu.sessions for e in s.events("response.create")]
    damaged = {PHRASES[p] for p, how in damage.items() if how != "intact"}
    assert damaged <= set(rendered), (rendered, result.explain())
    if name == "cache-files":
        assert PHRASES["welcome"] not in rendered, "an intact phrase is kept, not rendered again"
    cache = PhraseCache(run.cache)
    voice = VoiceKey.from_config(run.parsed.voicelive)
    states = {s.name: s.status for s in cache.states(PHRASES, voice)}
    assert states == {p: Status.CACHED for p in PHRASES}, (states, result.explain())
    files = {p.name for p in run.cache.glob("phrase-*.wav")}
    assert files == {e.file for e in cache.entries().values()} and len(files) == len(PHRASES), "no stray files left"


# --- credential files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, problem", [
    ("unreadable", "cannot be read: permission denied"),
    ("world-readable", "is readable by group and others (mode 0644); run: chmod 600"),
])
def test_a_bad_key_file_is_an_error_state_that_heals_without_a_restart(runs: Runs, name: str, problem: str) -> None:
    run = runs.runs[name]
    result = run.result()
    clean(result)
    key_file: Path = result.notes["key_file"]
    # The daemon started (no exit 78), said exactly what is wrong with which file, in the log and in STATUS.
    error = f"voicelive.api_key_file: {str(key_file)!r} {problem}"
    assert f"the Voice Live credential cannot be used: {error}" in result.stderr, result.explain()
    assert any(status.startswith(f"error: {error}") for status in result.statuses), result.explain()
    # The error state shows on its LED; the request made meanwhile was answered with the cached apology.
    states = [r for r in result.events.records if r["event"] == "state"]
    assert states[0]["state"] == "error" and states[0].get("led", "error") == "error", result.explain()
    assert result.events.first("cached_playback_start")
    spans = result.output.spans()
    first_question = run.scene.said[1]
    assert spans and spans[0][0] < first_question.end + 1.5, (spans, result.explain())
    # Fixed while running: back to listening within seconds, and the next request is answered live.
    back = [s for s in result.statuses if s == "listening for the wake word"]
    assert back, result.explain()
    emu: Emulator = result.notes["emulator"]
    answered = [s for s in emu.sessions if s.events("response.create")]
    assert len(answered) == 1, result.explain()
    assert result.events.first("playback_start") and result.events.first("playback_end")
    second_question = run.scene.said[3]
    assert spans[-1][0] >= second_question.end and spans[-1][1] - spans[-1][0] > 0.5, (spans, result.explain())
    assert emu.rejected == [], "the service never saw a bad key"
    if name == "world-readable":
        assert "configuration reloaded" in result.stderr, result.explain()


# --- `edgevoice check` on the same files: exit 78 and one line ----------------------------------------------------


def _check_process(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("EDGEVOICE_CONFIG", "CREDENTIALS_DIRECTORY",
                                                              "AZURE_VOICELIVE_API_KEY")}
    argv = [*EDGEVOICE, "check", "--config", str(config)]
    if os.geteuid() == 0:
        argv = [*WITHOUT_OVERRIDE, *argv]
    return subprocess.run(argv, env={**base, **env}, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("source", ["api_key_file", "token_file", "systemd", "world-readable"])
def test_check_fails_on_a_bad_credential_file_with_one_line(tmp_path: Path, source: str) -> None:
    secret = tmp_path / ("voicelive-api-key" if source == "systemd" else "secret")
    secret.write_text(PLANTED_KEY + "\n")
    secret.chmod(0o644 if source == "world-readable" else 0o000)
    key = {"token_file": "voicelive.token_file", "systemd": ""}.get(source, "voicelive.api_key_file")
    tables: dict[str, Any] = {} if source == "systemd" else {key.split(".")[1]: str(secret)}
    config = tmp_path / "edgevoice.toml"
    config.write_text(config_text("https://my-resource.services.ai.azure.com", tables={"voicelive": tables}))
    result = _check_process(config, {"CREDENTIALS_DIRECTORY": str(tmp_path)} if source == "systemd" else {})
    assert result.returncode == 78, (result.stdout, result.stderr)
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    problem = "(mode 0644); run: chmod 600" if source == "world-readable" else "cannot be read: permission denied"
    assert line.startswith("edgevoice: config error:") and str(secret) in line and problem in line, line
    assert key in line or source == "systemd", line
    assert_no_leak("edgevoice check", result.stdout, result.stderr)


# --- the credential watch, on its own ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_credential_watch_retries_once_the_file_changes_and_never_for_an_unchanged_key(tmp_path: Path) -> None:
    from edgevoice.daemon.sessions import CredentialWatch, session_factory

    key_file = tmp_path / "key"
    cfg = parse_config(config_text("https://x.example", tables={"voicelive": {"api_key_file": str(key_file)}}),
                       "x").voicelive
    clock = Clock()
    watch = CredentialWatch(session_factory(cfg), every_s=2.0, clock=clock)
    # Missing at first: the problem names the file; nothing changes, nothing to retry.
    problem = watch.failed()
    assert problem is not None and f"{str(key_file)!r} does not exist" in problem and watch.watching
    clock.now = 5
    assert not watch.changed()
    # Written readable by others: still a problem, a different one (STATUS follows it); not a retry.
    key_file.write_text(PLANTED_KEY)
    key_file.chmod(0o644)
    clock.now = 10
    assert not watch.changed() and "mode 0644" in (watch.problem or "")
    # Fixed: one retry, then the watch stops.
    key_file.chmod(0o600)
    clock.now = 11
    assert not watch.changed(), "looks only every 2 s"
    clock.now = 12
    assert watch.changed() and not watch.watching and watch.problem is None
    # The service refused this key (401): the file reads fine, so no problem and no retry while it
    # stays the same (no retry storm) ...
    assert watch.failed() is None
    for clock.now in (20, 40, 60):
        assert not watch.changed()
    # ... until someone puts another key in the file.
    key_file.write_text("another-key-0123456789")
    clock.now = 70
    assert watch.changed()
    assert_no_leak("the watch", repr(watch), vars(watch))
