"""Offline answers: from the end of a question to the first sample of its cached answer, known offline.

The real daemon (in-process, in the bench's offline subprocess) runs on a spoken recording at
real-time pace with ``[[offline.answers]]`` configured and an endpoint where nothing listens, so
the device knows it is offline from the start (its spare session is refused). Two turns ask a
configured question. For each, the figure runs from the end of the utterance (the device's
endpointer ends it: the ``state`` milestone leaving "listening") to ``cached_playback_start`` of
the answer, both on the time their audio frame arrived (the milestones' ``t``: pocketsphinx holds
the GIL while it decodes, so the loop writes the first milestone only after the decode); it
includes the on-device recognition (on a worker thread) and the match. The speaker is a WAV
recorder on the input's clock.
"""

from __future__ import annotations

import socket
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevoice.bench.toml_config import bench_config, toml_text
from edgevoice.config.assistant import AssistantConfig

TARGET_MS = 400.0
RATE = 16000
QUESTION = "what is the wifi password"
ANSWERS = [
    {"id": "wifi", "questions": ["what is the wifi password", "how do I get on the wifi"],
     "answer": "The password is on the card by the door."},
    {"id": "toilets", "questions": ["where are the toilets", "where is the bathroom"],
     "answer": "The toilets are down the hall."},
]
_TURNS_AT = (2.0, 7.0)
_LENGTH = 12.0


class AnswerMeasureError(RuntimeError):
    """The measuring run did not go as planned (no wake word heard, an answer missing ...)."""


@dataclass(frozen=True)
class AnswerLatency:
    """End of the question to the first sample of its cached answer, per turn (ms), and the recogniser's CPU."""

    answer_ms: list[float]
    recognise_cpu_ms: float

    @property
    def median_ms(self) -> float:
        return float(np.median(self.answer_ms))


def measure_offline_answer(workdir: str | Path | None = None) -> AnswerLatency:
    """Run the daemon through two offline questions; raises AnswerMeasureError if it went wrong."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="edgevoice-answers-") as tmp:
            return _measure(Path(tmp))
    path = Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    return _measure(path)


def _measure(workdir: Path) -> AnswerLatency:
    from edgevoice.audio.wav import WavSource
    from edgevoice.config.load import parse_config
    from edgevoice.config.secrets import ApiKey
    from edgevoice.daemon.daemon import Daemon
    from edgevoice.daemon.sessions import session_factory
    from edgevoice.daemon.telemetry import Telemetry
    from edgevoice.playback.wav_speaker import WavSpeaker

    recording = workdir / "answers.wav"
    _write_recording(recording)
    events_path = workdir / "answers-events.jsonl"
    events_path.unlink(missing_ok=True)
    records: list[dict[str, Any]] = []
    config = parse_config(_config_text(_closed_port_url(), workdir / "answers-cache"), "<measure answers>")
    telemetry = Telemetry(events_path)
    telemetry.add_listener(lambda record: records.append({**record, "written": time.monotonic()}))
    speaker = WavSpeaker(workdir / "answers-out.wav", rate=config.voicelive.output_sample_rate)
    daemon = Daemon(config, source=WavSource(recording, realtime=True), speaker=speaker,
                    sessions=lambda cfg: session_factory(cfg, ApiKey("not-sent")), telemetry=telemetry,
                    finish_with_input=True, settle_timeout_s=30.0)
    try:
        code = daemon.run()
    finally:
        speaker.close()
        telemetry.close()
    if code != 0:
        raise AnswerMeasureError(f"the daemon run ended with status {code}")
    latencies = []
    for turn in sorted({r["turn"] for r in records if r["event"] == "offline_reply"}):
        of_turn = [r for r in records if r["turn"] == turn]
        reply = next(r for r in of_turn if r["event"] == "offline_reply")
        if reply.get("kind") != "answer":
            raise AnswerMeasureError(f"turn {turn} was not answered from the cache: {reply}")
        ended = next((r for r in of_turn if r["event"] == "state" and r.get("previous") == "listening"), None)
        started = next((r for r in of_turn if r["event"] == "cached_playback_start"), None)
        if ended is None or started is None:
            raise AnswerMeasureError(f"turn {turn} lacks the end of the utterance or the answer's start")
        latencies.append(round((started["t"] - ended["t"]) * 1000, 1))
    if len(latencies) < len(_TURNS_AT):
        raise AnswerMeasureError(f"expected {len(_TURNS_AT)} answered questions, got {len(latencies)}")
    cpu = daemon.answers.last_cpu_s
    return AnswerLatency(latencies, round((cpu or 0.0) * 1000, 1))


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _config_text(endpoint: str, cache_dir: Path) -> str:
    tables = {
        "voicelive.transcription": {"model": "none"},
        "assistant": {"follow_up_s": AssistantConfig().follow_up_s},
        "offline": {"phrases": {"offline": "Sorry, I am offline."}, "answers": [dict(entry) for entry in ANSWERS]},
    }
    return toml_text(bench_config(endpoint, cache_dir, tables))


def _write_recording(path: Path) -> None:
    """A quiet room; at each of _TURNS_AT someone says "okay nabu", then the question."""
    from edgevoice.audio.speech import Speech

    speech = Speech()
    if not speech.real:
        raise AnswerMeasureError("measuring offline answers needs espeak-ng (to speak the questions)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(int(_LENGTH * RATE)) * 10 ** (-60 / 20)
    for start in _TURNS_AT:
        at = int(start * RATE)
        for text in ("okay nabu", QUESTION):
            piece = np.frombuffer(speech.render(text, RATE), "<i2").astype(np.float64)
            piece = piece[np.flatnonzero(np.abs(piece) > 30)[0]:]
            piece *= 10 ** (-26 / 20) / np.sqrt(np.mean(piece**2))
            x[at:at + len(piece)] += piece
            at += len(piece) + int(0.35 * RATE)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
