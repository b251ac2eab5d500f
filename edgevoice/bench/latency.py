"""Latencies of real turns, read from a daemon run's events file and output WAV.

All milestone times are ``time.monotonic()`` in the daemon (see :mod:`edgevoice.daemon.telemetry`);
speech starts and ends are back-dated to where they happened in the audio. Barge-in is read
from the sound itself: the output WAV lines up sample for sample with the input, so the time
from where an interruption starts in the input to where the reply stops in the output is what
the person would hear.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgevoice.bench.audio import Placed
from edgevoice.bench.runs import RunResult

#: A speaker that writes exact zeros this long has stopped (espeak-ng replies have no such gaps).
SILENT_GAP_S = 0.05


def median_p95(values: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile (linear between the closest ranks), NaN for no values."""
    if not values:
        return math.nan, math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0], ordered[0]
    return statistics.median(ordered), statistics.quantiles(ordered, n=20, method="inclusive")[18]


def _turns(events: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    turns: dict[int, list[dict[str, Any]]] = {}
    for record in events:
        turns.setdefault(record["turn"], []).append(record)
    return turns


def _first(records: list[dict[str, Any]], event: str) -> dict[str, Any] | None:
    return next((r for r in records if r["event"] == event), None)


def wake_to_audio_ms(result: RunResult) -> list[float]:
    """Per turn started by the wake word: its detection (in the audio), or, as the audio after a wake word is
    held until the person's words start, their start being known (``words``), to the first audio sent."""
    out = []
    for records in _turns(result.events).values():
        wake, sent, words = _first(records, "wake"), _first(records, "audio_sent"), _first(records, "words")
        if wake is not None and sent is not None:
            start = max(wake["t"], words["t"]) if words is not None else wake["t"]
            out.append((sent["t"] - start) * 1000)
    return out


def commit_after_silence_ms(result: RunResult, silence_ms: float) -> list[float]:
    """Per turn the device ended: the service receiving the commit - the end of speech (in the audio)
    - the configured silence (the endpointer's own, intended wait).

    The commit's time is when the emulator got it (the daemon's ``commit`` milestone only tells
    which commit belongs to which turn: the first one received at or after it).
    """
    out = []
    arrivals = list(result.commits_at)
    for records in _turns(result.events).values():
        commit = _first(records, "commit")
        if commit is None or commit.get("by") != "device":
            continue
        ends = [r["t"] for r in records if r["event"] == "speech_end" and r["t"] <= commit["t"]]
        received = next((t for t in arrivals if t >= commit["t"] - 0.001), None)
        if ends and received is not None:
            arrivals.remove(received)
            out.append((received - ends[-1]) * 1000 - silence_ms)
    return out


def reply_to_playback_ms(result: RunResult) -> list[float]:
    """Per answered turn: the reply's first audio delta arriving to the speaker starting it."""
    out = []
    for records in _turns(result.events).values():
        first, start = _first(records, "reply_audio_first"), _first(records, "playback_start")
        if first is not None and start is not None:
            out.append((start["t"] - first["t"]) * 1000)
    return out


@dataclass(frozen=True)
class BargeIns:
    """Interruption onset (in the input) to the reply's last sound (in the output), per interruption."""

    delays_ms: tuple[float, ...]  # one per interruption spoken while the reply was sounding
    spoken: int  # interruptions in the recording
    not_playing: int  # of them, spoken when no reply was sounding (left out: nothing to stop)
    detected: int  # barge_in milestones the daemon wrote


def barge_ins(result: RunResult, interruptions: Sequence[Placed]) -> BargeIns:
    """Where each interruption starts in the input and where the reply it cut stops in the output."""
    rate, out = result.output_rate, result.output
    gap = int(SILENT_GAP_S * rate)
    delays, not_playing = [], 0
    for cut in interruptions:
        onset = int(round(cut.start * rate))
        ahead = np.flatnonzero(out[onset : onset + 15 * rate])
        if not np.any(out[max(0, onset - gap) : onset]) or not len(ahead) or ahead[0] >= gap:
            not_playing += 1  # no reply sounding around the onset: it had not started, or was over
            continue
        breaks = np.flatnonzero(np.diff(ahead) > gap)
        last = ahead[breaks[0]] if len(breaks) else ahead[-1]
        delays.append(float(last + 1) / rate * 1000)
    detected = sum(r["event"] == "barge_in" for r in result.events)
    return BargeIns(tuple(delays), len(interruptions), not_playing, detected)


def endpoints_ms(result: RunResult, questions: Sequence[Placed]) -> list[float]:
    """Per question answered: its last word (in the input) to the end of the utterance, on the input's clock.

    The reply's first sound in the output WAV is on the input's clock; the daemon's own milestones
    say how long after the end of the utterance (its commit) the speaker started it, which is taken
    off. Replies are matched to turns in order (no reply is interrupted in such a run).
    """
    rate, out = result.output_rate, result.output
    sounding = np.flatnonzero(out)
    starts = []
    if len(sounding):
        breaks = np.flatnonzero(np.diff(sounding) > SILENT_GAP_S * 4 * rate)
        starts = [sounding[0] / rate, *(sounding[breaks + 1] / rate)]
    turns = [records for records in _turns(result.events).values()
             if _first(records, "playback_start") is not None and _first(records, "commit") is not None]
    delays = []
    for start, records in zip(starts, turns):
        commit, playback = _first(records, "commit"), _first(records, "playback_start")
        if commit.get("by") != "device":  # type: ignore[union-attr]
            continue
        said = [q for q in questions if q.end < start]
        if not said:
            continue
        ended_at = start - (playback["t"] - commit["t"])  # type: ignore[index]
        delays.append((ended_at - said[-1].end) * 1000)
    return delays
