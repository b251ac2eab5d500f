"""The soak: hundreds of turns with the real daemon, faster than real time; does anything grow?

``run_soak(SoakOptions(turns=500))`` runs the whole assistant in this process -- the listening
front-end with the wake word and push-to-talk, the state machine, the session link with real
Voice Live sessions over loopback WebSockets, a speaker writing a WAV (or nothing) -- against
``edgevoice emulator`` in a process of its own (so its memory is not counted). A scripted person
(:mod:`edgevoice.bench.soak_user`) talks to it: wake word turns, follow-ups, barge-ins, button
turns, and after every ``CYCLE`` of turns a pause until the idle timeout closes the session and a
fresh one opens (or, if asked, a config reload as SIGHUP does). The audio runs at up to ``speed``
times real time and is the daemon's clock, so its timers keep to the audio.

Between turns, while the daemon rests, the soak reads this process's resident memory, thread
count and open file descriptors from /proc. After ``warmup_turns`` (libraries loaded, caches
and buffers at their working size) these must stay put: memory growth under ``GROWTH_LIMIT_MB``,
the same threads and descriptors. Every turn must be answered (its reply starts to play).
"""

from __future__ import annotations

import gc
import logging
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevoice.bench.conversations import LONG_REPLY, SHORT_REPLY
from edgevoice.bench.runs import CLEARED_ENV, proc_status
from edgevoice.bench.toml_config import bench_config, toml_text
from edgevoice.bench.soak_user import DaemonWatch, Move, SoakUser, UserHooks

logger = logging.getLogger(__name__)

GROWTH_LIMIT_MB = 2.0

#: One session's worth of turns; a pause for the idle timeout (a fresh session) follows each, or
#: (``reload_every``) a config reload: a fresh front-end, link and session, as SIGHUP gives.
CYCLE: tuple[Move, ...] = (
    Move.WAKE, Move.FOLLOW_UP, Move.FOLLOW_UP, Move.BARGE_IN, Move.WAKE,
    Move.BUTTON, Move.BARGE_IN, Move.FOLLOW_UP, Move.WAKE, Move.FOLLOW_UP,
)

#: The [assistant] settings of a soak: a short follow-up window and the shortest idle timeout make
#: room for many turns and sessions.
ASSISTANT = {"chimes": True, "follow_up_s": 1.0, "idle_timeout_s": 5.0}


def script(turns: int, reload_every: int = 0) -> list[Move]:
    """``turns`` turns: the cycle over and over, a fresh session between cycles; after every
    ``reload_every``-th cycle (0: never) a config reload instead."""
    moves: list[Move] = []
    spoken = cycles = 0
    while spoken < turns:
        for move in CYCLE:
            if spoken == turns:
                break
            moves.append(move)
            spoken += 1
        cycles += 1
        if spoken < turns:
            moves.append(Move.RELOAD if reload_every and cycles % reload_every == 0 else Move.NEW_SESSION)
    return moves


def replies() -> list[str]:
    """What the emulator answers in each session, in order: long where the next turn interrupts."""
    return [LONG_REPLY if nxt is Move.BARGE_IN else SHORT_REPLY for nxt in (*CYCLE[1:], None)] + [SHORT_REPLY] * 5


@dataclass(frozen=True)
class SoakOptions:
    """How long and how fast to soak, and where to leave what the speaker played and the milestones."""

    turns: int = 500
    warmup_turns: int = 50
    speed: float = 20.0  # at most this many times real time (0: as fast as the daemon listens)
    # Cycles between config reloads (0: none). A reload's allocations (wake word model, phrases) move
    # memory around by several hundred kB either way, which blurs the growth figure.
    reload_every: int = 0
    output_wav: Path | None = None  # what the speaker played (None: nowhere)
    events: Path | None = None  # the events file (None: none)
    growth_limit_mb: float = GROWTH_LIMIT_MB
    progress_every: int = 50  # turns between progress lines


@dataclass
class Usage:
    """Resident memory, threads and open descriptors at the moments the soak looked, kept in fixed
    arrays (the soak runs in the process it measures: its own bookkeeping must not grow)."""

    size: int
    rss_kb: array = field(init=False)
    threads: array = field(init=False)
    fds: array = field(init=False)

    def __post_init__(self) -> None:
        self.rss_kb, self.threads, self.fds = (array("q", [-1]) * self.size for _ in range(3))

    def take(self, index: int, settle_s: float = 2.0) -> None:
        """Read them now. A thread or a socket of a moment's work (a replaced session's thread ending)
        is given up to ``settle_s`` to go (a loaded machine can take that long to end one): while
        threads or descriptors differ from the last reading, the reading is repeated, and it ends as
        soon as they match. One that stays is counted."""
        last = max((i for i in range(index) if self.threads[i] >= 0), default=None)
        deadline = time.monotonic() + settle_s
        while True:
            rss, threads = proc_status("self", "VmRSS:", "Threads:")
            fds = len(os.listdir("/proc/self/fd"))
            if last is None or (threads, fds) == (self.threads[last], self.fds[last]) or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        self.rss_kb[index], self.threads[index], self.fds[index] = rss, threads, fds

    def taken(self, start: int = 0) -> list[int]:
        """The indexes with a reading, from ``start`` on."""
        return [i for i in range(start, self.size) if self.rss_kb[i] >= 0]


@dataclass
class SoakReport:
    """What a soak did and whether anything grew."""

    turns: int  # planned
    turns_heard: int  # turns the daemon started (telemetry turns)
    answered: int  # turns whose reply started to play
    moves: dict[str, int]
    sessions_opened: int
    reloads: int
    barge_ins: int
    errors: int
    cached_replies: int
    last_error: str
    stuck: str | None
    exit_code: int
    warmup_turns: int
    rss_warm_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    threads: list[int]  # after warm-up: at warm-up, min, max, at the end
    fds: list[int]
    rss_mb_by_turn: dict[int, float]  # every progress_every turns
    thread_names_warm: list[str]
    thread_names_end: list[str]
    emulator_rss_mb: list[float]  # the emulator process's resident memory after warm-up and at the end
    python_blocks: int  # memory blocks the Python allocator holds, end minus warm-up: a Python-level leak shows here
    seconds: float
    audio_s: float
    growth_limit_mb: float

    @property
    def growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_warm_mb

    def problems(self) -> list[str]:
        """Everything that is not as it must be; empty when the soak passed."""
        out = []
        if self.stuck:
            out.append(f"the soak stopped early: {self.stuck}")
        if self.exit_code != 0:
            out.append(f"the daemon exited with status {self.exit_code}")
        if self.turns_heard != self.turns:
            out.append(f"the daemon started {self.turns_heard} turns of {self.turns}")
        if self.answered != self.turns:
            out.append(f"{self.turns - self.answered} of {self.turns} turns got no reply")
        if self.errors or self.cached_replies:
            out.append(f"{self.errors} errors, {self.cached_replies} cached replies (last error: {self.last_error})")
        if self.growth_mb >= self.growth_limit_mb:
            out.append(f"resident memory grew by {self.growth_mb:.2f} MB after warm-up "
                       f"(limit {self.growth_limit_mb} MB)")
        if len(set(self.threads)) != 1:
            out.append(f"thread count changed after warm-up (warm-up, min, max, end: {self.threads}; "
                       f"at warm-up {self.thread_names_warm}, at the end {self.thread_names_end})")
        if len(set(self.fds)) != 1:
            out.append(f"open file descriptors changed after warm-up (warm-up, min, max, end: {self.fds})")
        return out

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items()}
        out["growth_mb"] = round(self.growth_mb, 3)
        out["speed"] = round(self.audio_s / self.seconds, 1) if self.seconds else None
        out["problems"] = self.problems()
        return out

    def table(self) -> str:
        def steady(values: list[int]) -> str:
            return f"{values[0]} after warm-up, {values[1]}..{values[2]} since, {values[3]} at the end"

        moves = ", ".join(f"{n} {k}" for k, n in self.moves.items())
        problems = self.problems()
        rows = [
            ("turns", f"{self.answered} answered of {self.turns} ({moves})"),
            ("sessions", f"{self.sessions_opened} opened, {self.reloads} config reloads, {self.barge_ins} barge-ins"),
            ("memory", f"{self.rss_warm_mb:.1f} MB after {self.warmup_turns} turns, {self.rss_end_mb:.1f} MB at the "
                       f"end: {self.growth_mb:+.2f} MB (limit {self.growth_limit_mb:g}); peak {self.rss_peak_mb:.1f} MB"),
            ("threads", steady(self.threads)),
            ("file descriptors", steady(self.fds)),
            ("time", f"{self.seconds:.1f} s for {self.audio_s:.0f} s of audio "
                     f"({self.audio_s / max(self.seconds, 1e-9):.1f} x real time)"),
            ("result", "ok" if not problems else "FAILED"),
        ]
        return "\n".join([f"{name:<17}{text}" for name, text in rows] + [f"  - {p}" for p in problems])


class EmulatorProcess:
    """``edgevoice emulator`` in a process of its own, on a free port, answering ``replies`` in order."""

    def __init__(self, api_key: str, replies: Sequence[str], *, timeout: float = 30.0) -> None:
        env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
        env["AZURE_VOICELIVE_API_KEY"] = api_key
        argv = [sys.executable, "-m", "edgevoice", "emulator", "--port", "0", "--pacing", "fast"]
        for text in replies:
            argv += ["--reply", text]
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=_end_with_parent)
        self.sessions: int | None = None
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        found = re.search(r"on (http://\S+)", line)
        if found is None:
            self.stop()
            raise RuntimeError(f"the emulator did not start (exit {self.proc.poll()}): {line.strip()!r}")
        self.url = found.group(1)

    def rss_mb(self) -> float:
        """The emulator process's resident memory now (-1 once it has gone)."""
        try:
            rss_kb = proc_status(self.proc.pid, "VmRSS:")[0]
        except (OSError, ValueError):
            return -1.0
        return rss_kb / 1024 if rss_kb >= 0 else -1.0

    def stop(self) -> None:
        """Stop it (SIGTERM) and read how many sessions it served."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
        found = re.search(r"stopped: (\d+) sessions", rest or "")
        self.sessions = int(found.group(1)) if found else None


def _end_with_parent() -> None:
    """In the emulator's process before it starts: SIGTERM when the soak dies, however it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the soak's own clean-up stops it


def run_soak(options: SoakOptions, *, api_key: str, progress: Callable[[str], None] | None = None) -> SoakReport:
    """Soak the daemon; ``api_key`` is the one the daemon and the emulator share."""
    from edgevoice.config.load import parse_config
    from edgevoice.config.secrets import ApiKey
    from edgevoice.daemon.daemon import Daemon, DaemonHooks
    from edgevoice.daemon.sessions import session_factory
    from edgevoice.daemon.telemetry import Telemetry
    from edgevoice.playback.wav_speaker import WavSpeaker

    say = progress or (lambda text: None)
    moves = script(options.turns, options.reload_every)
    emulator = EmulatorProcess(api_key, replies())
    tmp = tempfile.TemporaryDirectory(prefix="edgevoice-soak-")
    try:
        config = parse_config(toml_text(bench_config(emulator.url, Path(tmp.name) / "cache", {"assistant": ASSISTANT})),
                              "the soak's config")
        watch = DaemonWatch()
        wiring = _Wiring(config)
        usage = Usage(len(moves) + 1)
        sampler = _Sampler(usage, moves, options, watch, say, emulator)
        hooks = UserHooks(heard=wiring.heard, sessions_opened=wiring.sessions_opened, button=wiring.button,
                          reload=wiring.request_reload, between_turns=sampler.between_turns,
                          awaiting_service=lambda: watch.state == "thinking" or wiring.session_opening())
        user = SoakUser(moves, watch, hooks, speed=options.speed)
        sampler.user = user
        telemetry = Telemetry(options.events, clock=user.clock)
        telemetry.add_listener(watch)
        rate = config.voicelive.output_sample_rate
        speaker = WavSpeaker(options.output_wav or os.devnull, rate=rate, volume=config.assistant.volume)
        credential = ApiKey(api_key, "the soak's key")
        daemon = Daemon(config, source=user, speaker=speaker, sessions=lambda cfg: session_factory(cfg, credential),
                        telemetry=telemetry, finish_with_input=True, clock=user.clock,
                        hooks=DaemonHooks(on_frame=wiring.on_frame, take_reload=wiring.take_reload))
        wiring.daemon = daemon
        pace = f"up to {options.speed:g} x real time" if options.speed > 0 else "as fast as the daemon listens"
        say(f"{options.turns} turns, {pace}, against the emulator at {emulator.url} ...")
        started = time.monotonic()
        try:
            code = daemon.run()
        finally:
            speaker.close()
            telemetry.close()
        seconds = time.monotonic() - started
    finally:
        emulator.stop()
        tmp.cleanup()
    return sampler.report(code, seconds, wiring.sessions_opened(), wiring.reloads, emulator.sessions)


class _Wiring:
    """The soak's ends of the daemon's hooks: frames it heard, sessions it opened, the button, reloads."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.daemon: Any = None
        self.frames = 0
        self.reloads = 0
        self._reload = threading.Event()
        self._link: Any = None  # the link last looked at, and the sessions opened by the links before it
        self._opened_before = 0

    def on_frame(self) -> None:
        self.frames += 1

    def heard(self) -> int:
        return self.frames

    def sessions_opened(self) -> int:
        """Sessions opened so far, over every link (a reload replaces the link; the old one's count is final)."""
        link = self.daemon.link if self.daemon is not None else None
        if link is None:
            return 0
        if link is not self._link:
            self._opened_before += self._link.connects if self._link is not None else 0
            self._link = link
        return self._opened_before + link.connects

    def session_opening(self) -> bool:
        return self.daemon is not None and self.daemon.link.is_opening

    def button(self, down: bool) -> None:
        frontend = self.daemon.frontend  # the current one (a reload replaces it)
        if down:
            frontend.press_button()
        else:
            frontend.release_button()

    def request_reload(self) -> None:
        self._reload.set()

    def take_reload(self) -> Any:
        """The daemon's reload hook (what SIGHUP feeds): the same config again, when asked for."""
        if not self._reload.is_set():
            return None
        self._reload.clear()
        self.reloads += 1
        return self.config


class _Sampler:
    """Reads /proc between turns, remembers what the report needs, tells how far the soak has got."""

    def __init__(self, usage: Usage, moves: list[Move], options: SoakOptions, watch: DaemonWatch,
                 say: Callable[[str], None], emulator: EmulatorProcess) -> None:
        self.usage = usage
        self.moves = moves
        self.options = options
        self.watch = watch
        self.say = say
        self.user: SoakUser | None = None
        self.warm_index: int | None = None  # the usage index of the warm-up reading
        self.names_warm: list[str] = []
        self.names_end: list[str] = []
        self.blocks_warm = 0
        self.blocks_end = 0
        self.emulator = emulator
        self.emulator_mb = [-1.0, -1.0]
        self.turn_of_index = array("q", [-1]) * (len(moves) + 1)  # turns spoken before each reading
        self.started = time.monotonic()

    def between_turns(self, index: int) -> None:
        user = self.user
        spoken = user.turns_spoken if user is not None else 0
        warm = self.warm_index is None and spoken >= self.options.warmup_turns
        end = index == len(self.moves)  # the last reply has played
        if warm or end:
            gc.collect()  # the two readings that count both follow a full collection: garbage is no leak
        self.usage.take(index)
        self.turn_of_index[index] = spoken
        # ... and name the threads, count the Python allocator's blocks (finding a leak, if there is one;
        # nothing heavier: whatever the soak allocates here stays in the readings after).
        if warm:
            self.warm_index = index
            self.names_warm, self.blocks_warm = _thread_names(), sys.getallocatedblocks()
            self.emulator_mb[0] = self.emulator.rss_mb()
        if end:
            self.names_end, self.blocks_end = _thread_names(), sys.getallocatedblocks()
            self.emulator_mb[1] = self.emulator.rss_mb()
        every = self.options.progress_every
        if every and spoken and spoken % every == 0 and index < len(self.moves):
            u = self.usage
            self.say(f"turn {spoken}/{self.options.turns}: {u.rss_kb[index] / 1024:.1f} MB resident, "
                     f"{u.threads[index]} threads, {u.fds[index]} open files, "
                     f"{time.monotonic() - self.started:.0f} s")

    def report(self, code: int, seconds: float, connects: int, reloads: int, served: int | None) -> SoakReport:
        u, last = self.usage, len(self.moves)
        watch, user = self.watch, self.user
        assert user is not None
        warm = self.warm_index if self.warm_index is not None else last
        after = u.taken(warm)
        if u.rss_kb[last] < 0:  # stopped early: the last reading stands for the end
            last = after[-1] if after else warm
        threads = [u.threads[i] for i in after] or [-1]
        fds = [u.fds[i] for i in after] or [-1]
        every = self.options.progress_every or self.options.turns
        by_turn = {self.turn_of_index[i]: round(u.rss_kb[i] / 1024, 2) for i in u.taken()
                   if self.turn_of_index[i] % every == 0}
        counts = Counter(m.value for m in self.moves)
        if served is not None and served != connects:
            logger.warning("the emulator served %d sessions; the daemon opened %d", served, connects)
        return SoakReport(
            turns=self.options.turns, turns_heard=watch.turn, answered=watch.answered, moves=dict(counts),
            sessions_opened=connects, reloads=reloads, barge_ins=watch.barge_ins, errors=watch.errors,
            cached_replies=watch.cached_replies, last_error=watch.last_error, stuck=user.stuck, exit_code=code,
            warmup_turns=self.turn_of_index[warm] if warm < len(self.turn_of_index) else self.options.warmup_turns,
            rss_warm_mb=u.rss_kb[warm] / 1024, rss_end_mb=u.rss_kb[last] / 1024,
            rss_peak_mb=proc_status("self", "VmHWM:")[0] / 1024,
            threads=[threads[0], min(threads), max(threads), u.threads[last]],
            fds=[fds[0], min(fds), max(fds), u.fds[last]],
            rss_mb_by_turn=by_turn, thread_names_warm=self.names_warm, thread_names_end=self.names_end,
            python_blocks=self.blocks_end - self.blocks_warm,
            emulator_rss_mb=[round(mb, 2) for mb in self.emulator_mb], seconds=seconds, audio_s=user.audio_s,
            growth_limit_mb=self.options.growth_limit_mb,
        )


def _thread_names() -> list[str]:
    return sorted(t.name for t in threading.enumerate())


__all__ = ["CYCLE", "GROWTH_LIMIT_MB", "EmulatorProcess", "SoakOptions", "SoakReport", "Usage", "run_soak", "script"]
