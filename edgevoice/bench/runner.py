"""Run every measurement and collect the figures: ``run_bench(BenchOptions()) -> BenchReport``.

1. Front-end CPU, in this process, and the memory floor (a subprocess that only imports the
   daemon's libraries); meanwhile the offline measurement (:mod:`edgevoice.bench.offline`) runs
   in a subprocess of its own: it needs a core only now and then. The quick bench runs it beside
   the conversations instead: about 20 s less, and its figures are not ones to quote anyway.
2. The conversations with the daemon (see :mod:`edgevoice.bench.conversations`), each in its own
   subprocess, all at once (``jobs`` at a time): they happen in real time, so running them side
   by side is what keeps the bench under two minutes. Each daemon mostly waits for its next 10 ms
   frame; the figures say that they shared the machine, and a note says when one was still
   starting up while another was already talking.
3. The figures, from the events files, the output WAVs and the processes' /proc readings.
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

from edgevoice.bench import conversations, frontend, idle, knowledge, latency, memory, screen
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
BARGE_IN_ECHO_TARGET_MS = 150.0
FALSE_TURNS_TARGET = 0.0
ENDPOINT_MARGIN_MS = 300.0  # endpoint_babble_ms: silence_ms plus this


@dataclass(frozen=True)
class BenchOptions:
    """How much to measure: the full bench (>= 20 turns per latency) or a quick check that it all works."""

    warm_runs: int = 2  # the first starts with the noisy room the idle CPU is read over
    warm_turns: int = 10  # per warm run
    idle_s: float = 8.0
    cold_runs: int = 3
    cold_turns: int = 7  # per cold run
    interruptions: int = 20
    room_interruptions: int = 4  # in the simulated room's session
    hall_turns: int = 12  # turns among background talkers (endpoint_babble_ms)
    frontend_s: float = 60.0
    frontend_repeats: int = 3
    jobs: int = 9  # daemon runs at once (every conversation side by side)
    knowledge_searches: int = 300
    screen_samples: int = 200  # captions records pushed and metrics files written
    offline_apart: bool = True  # the offline measurement away from the conversations (False: beside them)
    workdir: Path | None = None  # keep recordings, configs, events and logs here (default: a temporary directory)

    @classmethod
    def quick(cls, **changes: Any) -> BenchOptions:
        """Every figure from a few turns: for a smoke test, not for numbers to quote."""
        base = dict(warm_runs=1, warm_turns=2, idle_s=4.0, cold_runs=1, cold_turns=2, interruptions=2,
                    room_interruptions=2, hall_turns=3, frontend_s=10.0, frontend_repeats=1, knowledge_searches=40,
                    screen_samples=20, offline_apart=False)
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

    # The offline measurement (two daemons in a subprocess, about 25 s) runs while the front-end CPU is
    # measured here: it needs little CPU, and it must not run beside the conversations, where its
    # phrase rendering would land on their turns. The quick bench, which only checks that it all works,
    # runs it beside them.
    offline_run = OfflineRun(workdir / "offline") if options.offline_apart else None
    try:
        say(f"front-end CPU on {options.frontend_s:.0f} s of speech in noise"
            + (", and the offline latencies ..." if offline_run is not None else " ..."))
        figures = frontend.measure(voice, listening, seconds=options.frontend_s, repeats=options.frontend_repeats)
        floor = memory.floor_mb()
        offline = offline_run.figures(timeout=120, beside="the front-end CPU") if offline_run is not None else []
    finally:
        if offline_run is not None:
            offline_run.kill()

    warms = [conversations.warm(voice, options.warm_turns, options.idle_s)]
    device = conversations.warm(voice, options.warm_turns, options.idle_s, name="device", seed=2, capture="alsa")
    warms += [conversations.warm_quiet(voice, options.warm_turns, f"warm{i + 1}", seed=20 + i)
              for i in range(1, options.warm_runs)]
    colds = [conversations.cold(voice, options.cold_turns, f"cold{i + 1}", seed=10 + i, offset_s=1.3 * i)
             for i in range(options.cold_runs)]
    barge = conversations.barge(voice, options.interruptions)
    room = conversations.room(voice, options.room_interruptions)
    hall = conversations.hall(voice, options.hall_turns)
    plans = [*warms, *colds, barge, hall, room, device]
    longest = max(c.plan.recording.seconds for c in plans)
    if options.jobs >= len(plans):
        say(f"{len(plans)} conversations with `edgevoice run`, side by side (about {longest + 5:.0f} s) ...")
    else:
        say(f"{len(plans)} conversations with `edgevoice run`, {options.jobs} at a time ...")
    # The minimal listener hears the device run's recording beside the daemons, over the same window.
    minimal_run = idle.MinimalListenerRun(workdir / "minimal", device.plan.recording.pcm(), device.plan.cpu_window)
    offline_beside = None if options.offline_apart else OfflineRun(workdir / "offline")
    try:
        results = _converse(plans, workdir, options.jobs, conversations.replies_speech())
        minimal = minimal_run.result(timeout=device.plan.cpu_window[1] + 60)
        if offline_beside is not None:
            say("the offline latencies ...")
            offline = offline_beside.figures(timeout=120, beside="the conversations (--quick)")
    finally:
        minimal_run.kill()
        if offline_beside is not None:
            offline_beside.kill()
    by_name = {r.plan.name: r for r in results}

    warm_runs = [by_name[c.plan.name] for c in warms]
    cold_runs = [by_name[c.plan.name] for c in colds]
    barge_run = by_name["barge"]
    at_once = min(len(plans), options.jobs)
    shared = (f"{at_once} daemons ran side by side on {machine.cores} cores (each in its own process, their "
              f"emulators in the bench's)" if at_once > 1 else "one daemon at a time")
    notes = [f"latencies: {shared}; the speaker is a WAV recorder on the input's clock (no sound card), so "
             "playback figures leave out a real output buffer, except the run 'device' (PyAudio through ALSA's "
             "file plugin): idle_cpu_ratio, idle_cpu_vs_minimal_listener, idle_device_cpu_per_audio_s, "
             "reply_to_playback_device_ms"]
    if at_once == len(plans):
        notes += _late_starts([by_name[c.plan.name] for c in plans], {c.plan.name: c.lead_s for c in plans})
    figures += _idle(warm_runs[0], options.idle_s)
    device_run = by_name["device"]
    figures += idle.figures(device_run, device.plan.recording.pcm(), listening, minimal,
                            repeats=options.frontend_repeats)
    figures += memory.figures([*warm_runs, *cold_runs, barge_run, device_run], floor)
    figures += memory.started_figures(listening.wake.words[0] if listening.wake.words else "okay_nabu")
    figures += _latencies(warm_runs, cold_runs, barge_run, barge.interruptions, silence_ms, shared)
    figures += _room(by_name["room"], room, shared)
    figures += _endpoints(by_name["hall"], hall, silence_ms, shared)
    figures += offline
    say("search_knowledge over 1,000 generated passages ...")
    figures += knowledge.measure(searches=options.knowledge_searches)
    say("the memory of the optional features (knowledge index, offline recogniser) ...")
    figures += memory.feature_figures()
    say("the captions page and the metrics file ...")
    figures += screen.measure(records=options.screen_samples, writes=options.screen_samples)
    return BenchReport(machine, figures, time.monotonic() - started, notes)


def _late_starts(runs: list[RunResult], leads: dict[str, float]) -> list[str]:
    """A note for every daemon still starting (loading, a core busy) when another one's first turn came."""
    ready = {r.plan.name: r.ready_at for r in runs if r.ready_at is not None}
    if not ready:
        return []
    last_name = max(ready, key=lambda n: ready[n])
    notes = []
    for name, at in ready.items():
        if ready[last_name] > at + leads[name]:
            notes.append(f"run '{last_name}' became ready {ready[last_name] - at - leads[name]:.1f} s after the first "
                         f"turn of run '{name}': that turn shared the machine with a daemon starting up")
    return notes


def _converse(plans: list[conversations.Conversation], workdir: Path, jobs: int, speech) -> list[RunResult]:
    """Run the daemon on every conversation, ``jobs`` at a time."""
    started: list[DaemonRun] = []

    def daemon(conversation: conversations.Conversation) -> RunResult:
        run = DaemonRun(conversation.plan, workdir / conversation.plan.name, speech=speech)
        started.append(run)
        result = run.result(timeout=conversation.plan.recording.seconds + 60)
        if result.code != 0:
            raise BenchError(f"the daemon run '{conversation.plan.name}' failed\n{result.explain()}")
        return result

    try:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            futures = [pool.submit(daemon, c) for c in plans]
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
               f"audio (x100 = % of one core) while it listens to a noisy room (pink noise at -45 dBFS, people "
               f"chatting at -40 dBFS, no wake word; {false_wakes} false wakes), a spare session open; read over "
               f"{run.cpu_wall_s:.1f} s of real-time input, WAV in and out instead of a sound card"),
    ]


def _latencies(warms: list[RunResult], colds: list[RunResult], barge: RunResult, interruptions,
               silence_ms: float, shared: str) -> list[Figure]:
    def figure(key: str, values: list[float], target: float, what: str) -> Figure:
        if not values:
            raise BenchError(f"no turn gave a value for {key}; see the runs' logs")
        median, p95 = latency.median_p95(values)
        return Figure(key, median, "ms", f"{what}; median and p95 (target on the p95); {shared}", target=target,
                      p95=p95, n=len(values))

    everything = [*warms, *colds, barge]
    warm = [v for r in warms for v in latency.wake_to_audio_ms(r)]
    cold = [v for r in colds for v in latency.wake_to_audio_ms(r)]
    barged = latency.barge_ins(barge, interruptions)
    missed = barged.spoken - barged.not_playing - barged.detected
    return [
        figure("wake_to_audio_ms", warm, WAKE_TARGET_MS,
               "wake word detected (its moment in the audio) to the first audio sent to Voice Live (after a pause, "
               "from when the person's words are known to have started: the audio is held until then, so the wake "
               "word's tail is never sent), warm: a spare session already open (the default); emulator on "
               "loopback, no server delay"),
        figure("wake_to_audio_cold_ms", cold, WAKE_TARGET_MS,
               "the same with no session open ([assistant] prewarm = false, each turn after the idle timeout "
               "closed the last one): includes TCP connect, WebSocket upgrade and session.update on loopback"),
        figure("speech_end_to_commit_ms",
               [v for r in everything for v in latency.commit_after_silence_ms(r, silence_ms)], COMMIT_TARGET_MS,
               f"end of speech (in the audio) to the service receiving input_audio_buffer.commit, minus the "
               f"configured {silence_ms} ms of silence the endpointer waits for by design; every device-ended turn "
               f"of all runs"),
        figure("reply_to_playback_ms", [v for r in everything for v in latency.reply_to_playback_ms(r)],
               PLAYBACK_TARGET_MS,
               "first reply audio delta received (reply_audio_first, stamped by the session's receive thread) to "
               "the loop handing that audio to the speaker (playback_start, stamped on the loop's clock when the "
               "WAV recorder is given the next frame's output): includes the wait for that frame and the loop's "
               "queue, not a sound card's output buffer or jitter hold (see reply_to_playback_device_ms); every "
               "answered turn of all runs"),
        figure("barge_in_ms", list(barged.delays_ms), BARGE_IN_TARGET_MS,
               f"the user starting to speak over a long reply (where the interruption starts in the input) to the "
               f"last sample of that reply in the output WAV, which is sample-aligned with the input: read on the "
               f"recording's timeline, where the WAV recorder stops at the next frame the loop renders, so a sound "
               f"card's output buffer (tens of ms) comes on top; barge-in by "
               f"voice (VAD), replies streamed at speaking pace; {barged.detected} barge-ins detected of "
               f"{barged.spoken - barged.not_playing} interruptions over a sounding reply"
               + (f", {missed} missed" if missed > 0 else "")
               + (f", {barged.not_playing} spoken when no reply sounded (left out)" if barged.not_playing else "")),
    ]


def _room(run: RunResult, room: conversations.Conversation, shared: str) -> list[Figure]:
    """False turns and barge-in with the echo, from the simulated room's session."""
    barged = latency.barge_ins(run, room.interruptions)
    heard = barged.spoken - barged.not_playing
    what_room = (f"a scripted session in a simulated room (`edgevoice run --room-echo={conversations.ROOM_ECHO}`: the "
                 f"microphone also hears the speaker 12 dB down, 40 ms later, with a reverberant tail), chimes on, "
                 f"service-side turn detection with the client echo reference, pauses of "
                 f"{', '.join(f'{p:g}' for p in conversations.ROOM_PAUSES)} s after the wake word and "
                 f"{len(room.interruptions)} interruptions over long replies")
    figures = [
        Figure("false_turns", max(0, run.committed - room.turns), "turns",
               f"user turns the service received that nobody said ({run.committed} received, {room.turns} said), over "
               f"{what_room}", target=FALSE_TURNS_TARGET),
    ]
    if barged.delays_ms:
        median, p95 = latency.median_p95(list(barged.delays_ms))
        figures.append(Figure(
            "barge_in_echo_ms", median, "ms",
            f"the user starting to speak over a long reply whose echo the microphone hears (in the input) to the "
            f"last sample of that reply (in the output WAV); {what_room}; {barged.detected} barge-ins of {heard} "
            f"interruptions over a sounding reply; median and p95 (target on the p95); {shared}",
            target=BARGE_IN_ECHO_TARGET_MS, p95=p95, n=len(barged.delays_ms)))
    else:
        raise BenchError(f"no interruption of the room run stopped a reply\n{run.explain()}")
    return figures


def _endpoints(run: RunResult, hall: conversations.Conversation, silence_ms: float, shared: str) -> list[Figure]:
    values = latency.endpoints_ms(run, hall.questions)
    if not values:
        raise BenchError(f"no turn of the hall run was ended by the device; see its log\n{run.explain()}")
    median, p95 = latency.median_p95(values)
    return [Figure(
        "endpoint_babble_ms", median, "ms",
        f"the visitor's last word (in the input) to the end of their utterance (the reply's first sound in the "
        f"output WAV, less the daemon's own commit-to-speaker time), while four other people talk at once "
        f"{conversations.HALL_BABBLE_DB:g} dB below them (espeak-ng voices); device endpointing, silence_ms = "
        f"{silence_ms:g} included; {len(values)} of {hall.turns} questions answered (a wake word the babble hid "
        f"is no turn); median and p95 (target on the p95); {shared}",
        target=silence_ms + ENDPOINT_MARGIN_MS, p95=p95, n=len(values))]


def print_progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)
