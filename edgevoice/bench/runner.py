"""Run every measurement and collect the figures: ``run_bench(BenchOptions()) -> BenchReport``.

1. Front-end CPU, in this process and alone (nothing else runs, so CPU time is not disturbed),
   and the memory floor (a subprocess that only imports the daemon's libraries).
2. The conversations with the daemon (see :mod:`edgevoice.bench.conversations`) and the offline
   measurement, each in its own subprocess, all at once (``jobs`` at a time): they happen in real
   time, so running them side by side is what keeps the bench under two minutes. Each daemon
   is mostly waiting for its next 10 ms frame; the figures say when they shared the machine.
3. The figures, from the events files, the output WAVs and the processes' resource usage.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevoice.bench import conversations, frontend, latency, memory
from edgevoice.bench.audio import BenchError, Voice
from edgevoice.bench.figures import Figure, format_table
from edgevoice.bench.machine import Machine, this_machine
from edgevoice.bench.offline import OfflineRun
from edgevoice.bench.runs import DaemonRun, RunResult

logger = logging.getLogger(__name__)

WAKE_TARGET_MS = 10.0
COMMIT_TARGET_MS = 10.0
PLAYBACK_TARGET_MS = 15.0
BARGE_IN_TARGET_MS = 120.0


@dataclass(frozen=True)
class BenchOptions:
    """How much to measure: the full bench (>= 20 turns per latency) or a quick check that it all works."""

    warm_turns: int = 20
    idle_s: float = 8.0
    cold_runs: int = 3
    cold_turns: int = 7  # per cold run
    interruptions: int = 20
    frontend_s: float = 60.0
    frontend_repeats: int = 3
    jobs: int = 6  # daemon subprocesses at once (the offline measurement counts as one)
    workdir: Path | None = None  # keep recordings, configs, events and logs here (default: a temporary directory)

    @classmethod
    def quick(cls, **changes: Any) -> BenchOptions:
        """Every figure from a few turns: for a smoke test, not for numbers to quote."""
        base = dict(warm_turns=3, idle_s=4.0, cold_runs=1, cold_turns=2, interruptions=3, frontend_s=10.0,
                    frontend_repeats=1)
        base.update(changes)
        return cls(**base)


@dataclass
class BenchReport:
    machine: Machine
    figures: list[Figure]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        summary = str(self.machine)
        out: dict[str, Any] = {f.key: f.as_json(summary) for f in self.figures}
        out["machine"] = {**self.machine.as_json(), "bench_seconds": round(self.seconds, 1), "notes": self.notes}
        return out

    def table(self) -> str:
        text = format_table(self.figures, str(self.machine))
        return text + "".join(f"\nnote: {n}" for n in self.notes) + f"\n\nmeasured in {self.seconds:.0f} s"


def run_bench(options: BenchOptions | None = None, *, progress: Callable[[str], None] | None = None) -> BenchReport:
    """Measure everything; raises BenchError when a measurement could not be made."""
    options = options or BenchOptions()
    say = progress or (lambda text: None)
    started = time.monotonic()
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        return _run(options, options.workdir, say, started)
    tmp = Path(tempfile.mkdtemp(prefix="edgevoice-bench-"))
    try:
        report = _run(options, tmp, say, started)
    except BaseException:
        say(f"the bench's files are kept in {tmp}")
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return report


def _run(options: BenchOptions, workdir: Path, say: Callable[[str], None], started: float) -> BenchReport:
    from edgevoice.config.load import load_default_config

    machine = this_machine()
    voice = Voice()
    listening = load_default_config().listening
    silence_ms = listening.vad.silence_ms
    say(f"measuring on {machine}")

    say(f"front-end CPU on {options.frontend_s:.0f} s of speech in noise ...")
    figures = frontend.measure(voice, listening, seconds=options.frontend_s, repeats=options.frontend_repeats)
    floor = memory.floor_mb()

    warm = conversations.warm(voice, options.warm_turns, options.idle_s)
    colds = [conversations.cold(voice, options.cold_turns, f"cold{i + 1}", seed=10 + i) for i in range(options.cold_runs)]
    barge = conversations.barge(voice, options.interruptions)
    plans = [warm, *colds, barge]
    longest = max(c.plan.recording.seconds for c in plans)
    say(f"{len(plans)} conversations with `edgevoice run` and the offline measurement, side by side "
        f"(about {longest + 5:.0f} s) ...")
    results = _converse(plans, workdir, options.jobs)
    by_name = {r.plan.name: r for r in results if isinstance(r, RunResult)}
    offline = next(r for r in results if isinstance(r, list))

    warm_run, barge_run = by_name["warm"], by_name["barge"]
    cold_runs = [by_name[c.plan.name] for c in colds]
    shared = (f"{len(plans)} daemons and the offline measurement ran side by side on {machine.cores} cores "
              f"(each in its own process, the emulators in the bench's)")
    figures += _idle(warm_run, options.idle_s)
    figures += memory.figures([warm_run, *cold_runs, barge_run], floor)
    figures += _latencies(warm_run, cold_runs, barge_run, barge.interruptions, silence_ms, shared)
    figures += offline
    notes = [f"latencies: {shared}; the speaker is a WAV recorder on the input's clock (no sound card), so "
             "playback figures leave out a real output buffer"]
    return BenchReport(machine, figures, time.monotonic() - started, notes)


def _converse(plans: list[conversations.Conversation], workdir: Path, jobs: int) -> list[Any]:
    """Run the daemon on every conversation and the offline measurement, ``jobs`` at a time."""
    started: list[DaemonRun | OfflineRun] = []

    def daemon(conversation: conversations.Conversation) -> RunResult:
        run = DaemonRun(conversation.plan, workdir / conversation.plan.name)
        started.append(run)
        result = run.result(timeout=conversation.plan.recording.seconds + 60)
        if result.code != 0:
            raise BenchError(f"the daemon run '{conversation.plan.name}' failed\n{result.explain()}")
        return result

    def offline() -> list[Figure]:
        run = OfflineRun(workdir / "offline")
        started.append(run)
        return run.figures(timeout=90)

    tasks: list[Callable[[], Any]] = [offline, *[lambda c=c: daemon(c) for c in plans]]
    try:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            futures = [pool.submit(task) for task in tasks]
            return [f.result() for f in futures]
    finally:
        for run in started:
            run.kill()


def _idle(run: RunResult, idle_s: float) -> list[Figure]:
    if run.cpu_s is None or not run.cpu_wall_s:
        raise BenchError(f"the idle CPU of run '{run.plan.name}' was not read (did the daemon start?)\n{run.explain()}")
    window_end = (run.ready_at or 0.0) + idle_s
    false_wakes = sum(1 for e in run.events if e["event"] == "wake" and e["t"] < window_end)
    return [
        Figure("idle_cpu_per_audio_s", run.cpu_s / run.cpu_wall_s, "cpu s/audio s",
               f"CPU seconds (user + system, /proc/PID/stat) of the whole `edgevoice run` process per second of "
               f"audio while it listens to a noisy room (pink noise at -45 dBFS, people chatting at -40 dBFS, no "
               f"wake word; {false_wakes} false wakes), a spare session open; read over {run.cpu_wall_s:.1f} s of "
               f"real-time input, WAV in and out instead of a sound card"),
    ]


def _latencies(warm: RunResult, colds: list[RunResult], barge: RunResult, interruptions, silence_ms: float,
               shared: str) -> list[Figure]:
    def figure(key: str, values: list[float], target: float, what: str) -> Figure:
        if not values:
            raise BenchError(f"no turn gave a value for {key}; see the runs' logs")
        median, p95 = latency.median_p95(values)
        return Figure(key, median, "ms", f"{what}; median and p95 (target on the p95); {shared}", target=target, p95=p95,
                      n=len(values))

    everything = [warm, *colds, barge]
    cold = [v for r in colds for v in latency.wake_to_audio_ms(r)]
    barged = latency.barge_ins(barge, interruptions)
    missed = barged.spoken - barged.not_playing - barged.detected
    return [
        figure("wake_to_audio_ms", latency.wake_to_audio_ms(warm), WAKE_TARGET_MS,
               "wake word detected (its moment in the audio) to the first audio sent to Voice Live, warm: a spare "
               "session already open (the default); emulator on loopback, no server delay"),
        figure("wake_to_audio_cold_ms", cold, WAKE_TARGET_MS,
               "the same with no session open ([assistant] prewarm = false, each turn after the idle timeout "
               "closed the last one): includes TCP connect, WebSocket upgrade and session.update on loopback"),
        figure("speech_end_to_commit_ms", [v for r in everything for v in latency.commit_after_silence_ms(r, silence_ms)],
               COMMIT_TARGET_MS,
               f"end of speech (in the audio) to the service receiving input_audio_buffer.commit, minus the "
               f"configured {silence_ms} ms of silence the endpointer waits for by design; every device-ended turn "
               f"of all runs"),
        figure("reply_to_playback_ms", [v for r in everything for v in latency.reply_to_playback_ms(r)],
               PLAYBACK_TARGET_MS,
               "first reply audio delta received to the speaker starting it (the daemon's reply_audio_first and "
               "playback_start milestones); every answered turn of all runs"),
        figure("barge_in_ms", list(barged.delays_ms), BARGE_IN_TARGET_MS,
               f"the user starting to speak over a long reply (where the interruption starts in the input) to the "
               f"last sample of that reply in the output WAV, which is sample-aligned with the input; barge-in by "
               f"voice (VAD), replies streamed at speaking pace; {barged.detected} barge-ins detected of "
               f"{barged.spoken - barged.not_playing} interruptions over a sounding reply"
               + (f", {missed} missed" if missed > 0 else "")
               + (f", {barged.not_playing} spoken when no reply sounded (left out)" if barged.not_playing else "")),
    ]


def print_progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)
