"""``edgevoice tune``: listen to the room, and say which wake word sensitivity suits it.

It listens (the microphone for ``--minutes``, or a recording) while nobody says the wake word,
through the same listening front-end as ``run``, and reports the highest score each wake word
reached and the false accepts per hour each preset would have given. With ``--wake-samples N``
it then asks for the wake word N times (or finds it N times in ``--samples-wav``) and reports
those scores. It recommends the most sensitive preset the room left quiet that still hears the
owner (without samples: ``default`` when the room allows it) and prints the config line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from itertools import islice

HELP = "listen to the room and recommend a wake word sensitivity (prints the config line)"

EX_NOINPUT = 66
SAMPLE_S = 3.0  # how long each spoken sample is listened for
MARGIN = 0.02  # a preset is safe when its cutoff is at least this far above the room's highest score


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="the config whose [listening] and [audio] to use "
                        "(default: built-in defaults)")
    parser.add_argument("--minutes", type=float, default=5.0, metavar="N",
                        help="listen to the microphone this long (default 5); nobody should say the wake word")
    parser.add_argument("--input-wav", metavar="FILE", help="a recording of the room instead of the microphone")
    parser.add_argument("--wake-samples", type=int, default=0, metavar="N",
                        help="then ask for the wake word N times and report its scores")
    parser.add_argument("--samples-wav", metavar="FILE",
                        help="with --wake-samples: the wake word said N times in this recording, not the microphone")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")


def _listening(args: argparse.Namespace):
    from edgevoice.config.listening import ListeningConfig
    from edgevoice.config.load import load_config

    config = load_config(args.config) if args.config else None
    listening = config.listening if config else ListeningConfig()
    return config, dataclasses.replace(listening, wake=dataclasses.replace(listening.wake, probability_cutoff=None))


def _source(path: str | None, config, minutes: float):
    """Frames of a recording, or of the microphone for ``minutes``."""
    from edgevoice.audio.frames import FRAME_SECONDS
    from edgevoice.audio.microphone import Microphone
    from edgevoice.audio.wav import WavSource
    from edgevoice.config.listening import AudioConfig

    if path is not None:
        return WavSource(path).frames(), None
    mic = Microphone.from_config(config.audio if config else AudioConfig())
    return islice(mic.frames(), round(minutes * 60 / FRAME_SECONDS)), mic


def _samples(args: argparse.Namespace, listening, config, say) -> dict[str, list[float]]:
    """Each wake word's scores for the samples: the N highest peaks of --samples-wav, or N prompts."""
    from edgevoice.bench.wake import ScoreReader, peak

    reader = ScoreReader(listening)
    try:
        if args.samples_wav:
            frames, _ = _source(args.samples_wav, config, 0)
            reader.feed_all(frames)
            return {name: peaks(trace, args.wake_samples) for name, trace in reader.traces.items()}
        scores: dict[str, list[float]] = {name: [] for name in reader.names}
        for i in range(args.wake_samples):
            say(f"say the wake word now ({i + 1}/{args.wake_samples}) ...")
            start = reader.frontend.t
            frames, mic = _source(None, config, SAMPLE_S / 60)
            try:
                reader.feed_all(frames)
            finally:
                mic.close()
            for name, trace in reader.traces.items():
                scores[name].append(peak(trace, start))
        return scores
    finally:
        reader.close()


def peaks(trace: list[tuple[float, float]], n: int, apart_s: float = 2.0) -> list[float]:
    """The ``n`` highest scores at least ``apart_s`` apart (one per time the word was said), highest first."""
    left = sorted(trace, key=lambda tp: -tp[1])
    found: list[tuple[float, float]] = []
    for t, p in left:
        if len(found) == n:
            break
        if all(abs(t - u) >= apart_s for u, _ in found):
            found.append((t, p))
    return [p for _, p in found]


def recommend(cutoffs: dict[str, dict[str, float]], room_peaks: dict[str, float],
              samples: dict[str, list[float]] | None) -> tuple[str | None, str]:
    """The preset to use and why (``cutoffs``: preset -> wake word -> cutoff, least sensitive first);
    None when even the strictest leaves the room's own sounds above a cutoff."""

    def cutoff(preset: str, name: str) -> float:
        return cutoffs[preset][name]

    safe = [s for s in cutoffs if all(cutoff(s, n) >= p + MARGIN for n, p in room_peaks.items())]
    if not safe:
        return None, "the room itself scores above every preset's cutoff"
    if not samples or not any(samples.values()):
        choice = "default" if "default" in safe else safe[0]
        return choice, "the room is quiet for it (say the wake word with --wake-samples to tune further)"

    def heard(preset: str) -> int:
        return sum(p > cutoff(preset, n) for n, scores in samples.items() for p in scores)

    total = sum(len(v) for v in samples.values())
    for preset in safe:  # least sensitive first
        if heard(preset) == total:
            return preset, f"it hears all {total} samples and no false accept in the room"
    best = max(safe, key=heard)
    return best, f"it hears {heard(best)} of {total} samples, the most of the presets the room allows"


def main(args: argparse.Namespace) -> int:
    from edgevoice.audio.wav import WavError
    from edgevoice.bench.wake import SCORE_FLOOR, ScoreReader, detections
    from edgevoice.config.listening import SENSITIVITIES, preset_cutoff

    def say(text: str) -> None:
        print(f"tune: {text}", file=sys.stderr, flush=True)

    config, listening = _listening(args)
    if args.samples_wav and not args.wake_samples:
        print("edgevoice: --samples-wav needs --wake-samples N", file=sys.stderr)
        return 2
    try:
        reader = ScoreReader(listening)
    except ValueError:
        print("edgevoice: no wake word to tune (listening.wake.words is empty)", file=sys.stderr)
        return 2
    own = {m.name: float(m.model.probability_cutoff) for m in reader.frontend.wake.models}
    try:
        frames, mic = _source(args.input_wav, config, args.minutes)
    except WavError as exc:
        print(f"edgevoice: {exc}", file=sys.stderr)
        return EX_NOINPUT
    say("listening to the room (nobody should say the wake word) ..."
        if args.input_wav is None else f"listening to {args.input_wav} ...")
    try:
        reader.feed_all(frames)
    except KeyboardInterrupt:
        say("stopped: reporting what was heard so far")
    finally:
        if mic is not None:
            mic.close()
        reader.close()
    hours = reader.frontend.t / 3600
    room = {name: max((p for _, p in trace), default=0.0) for name, trace in reader.traces.items()}
    presets = {s: {n: preset_cutoff(s, n, own[n]) for n in reader.names} for s in SENSITIVITIES}
    false_accepts = {s: {n: len(detections(reader.traces[n], presets[s][n])) for n in reader.names}
                     for s in SENSITIVITIES}
    samples = _samples(args, listening, config, say) if args.wake_samples else None
    choice, why = recommend(presets, room, samples)
    line = f'sensitivity = "{choice}"' if choice else None
    if args.json:
        print(json.dumps({"listened_s": round(hours * 3600, 2), "room_peak": room, "cutoffs": presets,
                          "false_accepts": false_accepts,
                          "false_accepts_per_hour": {s: {n: round(v / hours, 2) if hours else None for n, v in fa.items()}
                                                     for s, fa in false_accepts.items()},
                          "samples": samples, "recommended": choice, "why": why, "config_line": line}))
        return 0
    print(f"listened to the room for {hours * 60:.1f} min")
    for name in reader.names:
        highest = f"{room[name]:.2f}" if room[name] else f"below {SCORE_FLOOR:.2f}"
        print(f"\n{name}: highest score in the room {highest}")
        if samples is not None:
            shown = ", ".join(f"{p:.2f}" for p in samples[name]) or "none found"
            print(f"  your samples: {shown}")
        for s in SENSITIVITIES:
            fa = false_accepts[s][name]
            heard = "" if samples is None else f", hears {sum(p > presets[s][name] for p in samples[name])}/{args.wake_samples}"
            print(f"  {s:15s} cutoff {presets[s][name]:.2f}: {fa} false accepts"
                  f" ({fa / hours if hours else 0:.1f}/hour){heard}")
    if choice is None:
        print(f"\nno preset is safe here: {why}. Set listening.wake.probability_cutoff above the room's "
              "highest score, or choose another wake word.")
        return 0
    print(f"\nrecommended: {choice}: {why}\n\n[listening.wake]\n{line}")
    return 0
