"""How fast a person hears the cached reply when Voice Live cannot answer: two latencies, measured for real.

``measure_offline_latency()`` is meant for ``edgevoice bench`` (and the tests). It runs the real
daemon on a spoken recording at real-time pace against the local Voice Live emulator, with a
:class:`~edgevoice.bench.blackhole.BlackholeRelay` in between, and reads the events file:

1. *The device did not know*: a warm spare session is open when the network silently goes dark.
   The person wakes the device and asks; audio goes into the void; after the commit the service
   does not answer, and the cached reply must start within the connect deadline plus 100 ms of the
   end of the utterance (``unknown_offline_ms``).
2. *The device knew*: the network is still dark at the next question (the device is showing
   offline); the cached reply must start within 300 ms of the end of the utterance
   (``known_offline_ms``).

"The end of the utterance" is the moment the device's endpointer ends it (where an online turn
commits: the ``commit`` milestone, or ``offline_reply`` when the device answers at once); "the
reply starts" is the ``cached_playback_start`` milestone, reported when the speaker starts playing
the phrase. Both are timed when the daemon's loop writes them (one clock, whatever time each
milestone records for itself), so the figures include the loop's own queueing. The speaker is a
WAV recorder on the input's clock (10 ms blocks), not a sound card.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevoice.bench.toml_config import bench_config, toml_text
from edgevoice.config.assistant import AssistantConfig

KNOWN_TARGET_MS = 300.0
UNKNOWN_MARGIN_MS = 100.0
SAMPLE_RATE = 16000

#: Short phrases keep the run short; the latency does not depend on their length.
SHORT_PHRASES: Mapping[str, str] = {"offline": "Sorry, I am offline.", "service_error": "Sorry, that went wrong."}


class MeasureError(RuntimeError):
    """The measuring run did not go as planned (no wake word heard, a milestone missing ...)."""


@dataclass(frozen=True)
class OfflineLatency:
    """End of utterance to the first audio of the cached reply, in milliseconds."""

    known_offline_ms: float  # the device already knew the service was unreachable
    unknown_offline_ms: float  # the device believed it was online (a warm session had gone silent)
    connect_timeout_s: float

    @property
    def known_target_ms(self) -> float:
        return KNOWN_TARGET_MS

    @property
    def unknown_target_ms(self) -> float:
        return self.connect_timeout_s * 1000 + UNKNOWN_MARGIN_MS

    def __str__(self) -> str:
        return (
            f"cached reply after the end of the utterance: {self.known_offline_ms:.0f} ms when the device knew it was "
            f"offline (target {self.known_target_ms:.0f} ms), {self.unknown_offline_ms:.0f} ms when it did not "
            f"(target {self.unknown_target_ms:.0f} ms: the {self.connect_timeout_s:g} s connect deadline + "
            f"{UNKNOWN_MARGIN_MS:.0f} ms)"
        )


def measure_offline_latency(
    workdir: str | Path | None = None,
    *,
    connect_timeout_s: float = 1.5,
    phrases: Mapping[str, str] | None = SHORT_PHRASES,
    settle_timeout_s: float = 30.0,
) -> OfflineLatency:
    """Run the daemon through both situations and return the two latencies (see the module docstring).

    ``workdir`` keeps the recording, config, events file and output WAV (a temporary directory by
    default). Takes about 12 s of real time. Raises MeasureError if the run went wrong.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="edgevoice-offline-") as tmp:
            return _measure(Path(tmp), connect_timeout_s, phrases, settle_timeout_s)
    path = Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    return _measure(path, connect_timeout_s, phrases, settle_timeout_s)


# When the two questions are asked, in seconds of the recording.
_FIRST_AT = 2.0
_SECOND_AT = 8.0
_LENGTH = 11.0


def _measure(workdir: Path, connect_timeout_s: float, phrases: Mapping[str, str] | None, settle_timeout_s: float) -> OfflineLatency:
    from edgevoice.audio.wav import WavSource
    from edgevoice.config.load import parse_config
    from edgevoice.config.secrets import ApiKey
    from edgevoice.daemon.daemon import Daemon
    from edgevoice.daemon.sessions import session_factory
    from edgevoice.daemon.telemetry import Telemetry
    from edgevoice.bench.blackhole import BlackholeRelay
    from edgevoice.playback.wav_speaker import WavSpeaker
    from edgevoice.voicelive.emulator import Emulator

    recording = workdir / "questions.wav"
    _write_recording(recording)
    key = secrets.token_urlsafe(18)
    events_path = workdir / "events.jsonl"
    events_path.unlink(missing_ok=True)
    records: list[dict[str, Any]] = []
    with Emulator(api_key=key) as emulator, BlackholeRelay(emulator.port) as relay:
        config = parse_config(_config_text(relay.url, workdir / "cache", connect_timeout_s, phrases), "<measure>")
        telemetry = Telemetry(events_path)
        telemetry.add_listener(lambda record: records.append({**record, "written": time.monotonic()}))
        speaker = WavSpeaker(workdir / "out.wav", rate=config.voicelive.output_sample_rate)
        daemon = Daemon(
            config,
            source=WavSource(recording, realtime=True),
            speaker=speaker,
            sessions=lambda cfg: session_factory(cfg, ApiKey(key)),
            telemetry=telemetry,
            finish_with_input=True,
            settle_timeout_s=settle_timeout_s,
        )
        problems: list[str] = []
        cutter = threading.Thread(target=_cut_when_warm, args=(daemon, relay, problems), name="measure-cut", daemon=True)
        try:
            cutter.start()
            code = daemon.run()
        finally:
            speaker.close()
            telemetry.close()
        cutter.join(timeout=5)
    if problems:
        raise MeasureError(problems[0])
    if code != 0:
        raise MeasureError(f"the daemon run ended with status {code}; events: {_summary(records)}")
    return _latencies(records, connect_timeout_s)


def _cut_when_warm(daemon: Any, relay: Any, problems: list[str]) -> None:
    """Let the network go dark once the spare session is open, well before the first question."""
    deadline = time.monotonic() + _FIRST_AT - 0.5
    while not daemon.link.is_open:
        if time.monotonic() > deadline:
            problems.append("the spare session did not open before the first question")
            relay.cut()
            return
        time.sleep(0.01)
    relay.cut()


def _latencies(records: list[dict[str, Any]], connect_timeout_s: float) -> OfflineLatency:
    turns = sorted({r["turn"] for r in records if r["event"] == "offline_reply"})
    if len(turns) < 2:
        raise MeasureError(f"expected two questions answered from the cache; events: {_summary(records)}")
    first, second = turns[:2]

    def first_of(turn: int, *names: str) -> dict[str, Any]:
        found = [r for r in records if r["turn"] == turn and r["event"] in names]
        if not found:
            raise MeasureError(f"turn {turn} has no {' or '.join(names)} milestone; events: {_summary(records)}")
        return found[0]

    if not any(r["turn"] == first and r["event"] == "commit" for r in records):
        raise MeasureError("the first question was not sent: the device knew it was offline too early")
    if any(r["turn"] == second and r["event"] == "commit" for r in records):
        raise MeasureError("the second question was sent: the device did not know it was offline")
    # Both ends on the daemon's loop clock ("t"): the endpoint where it happened in the audio, and the
    # cached reply's first audio handed to the speaker (not when the records were written: one loop pass apart).
    unknown = first_of(first, "cached_playback_start")["t"] - first_of(first, "commit")["t"]
    known = first_of(second, "cached_playback_start")["t"] - first_of(second, "commit", "offline_reply")["t"]
    return OfflineLatency(round(known * 1000, 1), round(unknown * 1000, 1), connect_timeout_s)


def _summary(records: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['event']}({r['turn']})" for r in records if r["event"] not in ("turn_latency",))[:2000]


def _config_text(endpoint: str, cache_dir: Path, connect_timeout_s: float, phrases: Mapping[str, str] | None) -> str:
    tables: dict[str, dict[str, Any]] = {
        "voicelive": {"connect_timeout_s": connect_timeout_s},
        "voicelive.transcription": {"model": "none"},
        "assistant": {"prewarm": True, "follow_up_s": AssistantConfig().follow_up_s},
    }
    if phrases:
        tables["offline.phrases"] = dict(phrases)
    return toml_text(bench_config(endpoint, cache_dir, tables))


def _write_recording(path: Path) -> None:
    """A quiet room; at _FIRST_AT and _SECOND_AT someone says "okay nabu ... what time is it"."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(int(_LENGTH * SAMPLE_RATE)) * 10 ** (-60 / 20)).astype(np.float32)
    wake, question = _speech("okay nabu"), _speech("what time is it")
    for start in (_FIRST_AT, _SECOND_AT):
        at = int(start * SAMPLE_RATE)
        for piece in (wake, question):
            x[at : at + len(piece)] += piece
            at += len(piece) + int(0.35 * SAMPLE_RATE)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm)


def _speech(text: str, level_dbfs: float = -26.0) -> np.ndarray:
    """espeak-ng's en-us voice (the one the okay_nabu model hears reliably), trimmed, at ``level_dbfs`` RMS."""
    import soxr

    from edgevoice.audio.speech import parse_wav

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise MeasureError("measuring the offline latency needs espeak-ng (to speak the questions)")
    wav = subprocess.run([espeak, "-v", "en-us", "-s", "160", "--stdout", text], capture_output=True, check=True, timeout=30).stdout
    rate, samples = parse_wav(wav)
    y = soxr.resample(samples.astype(np.float32) / 32768.0, rate, SAMPLE_RATE).astype(np.float32)
    idx = np.flatnonzero(np.abs(y) > 1e-3)
    y = y[idx[0] : idx[-1] + 1]
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    return y * (10 ** (level_dbfs / 20) / rms)
