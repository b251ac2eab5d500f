"""Wake word scores and curves: how often each model finds its word, and how often it fires on nothing.

The listening front-end (``ListeningFrontend``, the one ``edgevoice run`` uses) runs with every
model's cutoff out of reach, and the score of every model is read after each frame: a score
trace. A cutoff's detections and false accepts are then counted from the traces exactly as the
detector would fire (the first score above the cutoff, then ``refractory_s`` of quiet), so one
pass over the audio gives the whole curve. ``edgevoice tune`` reads a room the same way.

``python -m edgevoice.bench.wake CORPUS_DIR`` prints the curves of a corpus made by
``scripts/make_corpus.py`` and the cutoffs each sensitivity preset would take from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

#: Scores below this are kept out of a trace: no cutoff that low is ever worth counting.
SCORE_FLOOR = 0.2
#: A wake word detected this long after the word ended still counts as that word.
DETECTION_WINDOW_S = 1.0
#: The cutoffs a curve is drawn at.
CUTOFFS = tuple(round(0.30 + 0.01 * i, 2) for i in range(70))
UNREACHABLE = 2.0  # a cutoff no score reaches: the models never fire while a trace is read


Trace = list[tuple[float, float]]  # (stream time s, score) for every frame with a score >= SCORE_FLOOR


class ScoreReader:
    """The daemon's listening front-end with every wake word model listening but never firing.

    ``feed(frame)`` after ``feed`` the scores of the last frame are in ``scores``; ``traces`` keeps
    every score of at least ``SCORE_FLOOR`` with its time, per wake word.
    """

    def __init__(self, listening) -> None:  # listening: edgevoice.config.listening.ListeningConfig
        from edgevoice.listening.frontend import ListeningFrontend

        self.frontend = ListeningFrontend.from_config(listening)
        if self.frontend.wake is None:
            raise ValueError("no wake word to score")
        for model in self.frontend.wake.models:
            model.cutoff = UNREACHABLE
        self.names = self.frontend.wake.names
        self.scores = self.frontend.wake.last_probabilities
        self.traces: dict[str, Trace] = {name: [] for name in self.names}

    def feed(self, frame: bytes) -> None:
        self.frontend.process(frame)
        t = self.frontend.t
        for name, p in self.scores.items():
            if p >= SCORE_FLOOR:
                self.traces[name].append((t, p))

    def feed_all(self, frames: Iterable[bytes]) -> None:
        for frame in frames:
            self.feed(frame)

    def close(self) -> None:
        self.frontend.close()


def detections(trace: Trace, cutoff: float, refractory_s: float = 2.0) -> list[tuple[float, float]]:
    """Where the detector would fire at ``cutoff``: (time, score), ``refractory_s`` apart at least."""
    fired = []
    quiet_until = -1.0
    for t, p in trace:
        if p > cutoff and t >= quiet_until:
            fired.append((t, p))
            quiet_until = t + refractory_s
    return fired


def peak(trace: Trace, start: float = 0.0, end: float = float("inf")) -> float:
    """The highest score between ``start`` and ``end`` seconds (0 when none reached SCORE_FLOOR)."""
    return max((p for t, p in trace if start <= t <= end), default=0.0)


# -- the corpus ------------------------------------------------------------------------------------


def _listening(words: Sequence[str], noise=None):
    from edgevoice.config.listening import ListeningConfig, WakeConfig

    base = ListeningConfig()
    return replace(base, wake=WakeConfig(words=tuple(words)), noise=noise or base.noise)


def _frames(path: Path) -> Iterable[bytes]:
    from edgevoice.audio.wav import WavSource

    return WavSource(path).frames()


def score_clip(corpus: str, clip: dict) -> float:
    """A wake clip's own model's highest score from the start of its word to 1 s after it ended."""
    reader = ScoreReader(_listening([clip["wake_word"]]))
    try:
        reader.feed_all(_frames(Path(corpus) / clip["file"]))
    finally:
        reader.close()
    return peak(reader.traces[clip["wake_word"]], clip["wake_start_s"], clip["wake_end_s"] + DETECTION_WINDOW_S)


def trace_negative(corpus: str, item: dict, words: Sequence[str]) -> dict[str, Trace]:
    """Every model's score trace over a negative file."""
    reader = ScoreReader(_listening(words))
    try:
        reader.feed_all(_frames(Path(corpus) / item["file"]))
    finally:
        reader.close()
    return reader.traces


@dataclass(frozen=True)
class CurvePoint:
    cutoff: float
    detection: float  # fraction of the wake clips found
    false_accepts: int  # in the negative audio chosen
    per_hour: float


#: The negative audio a room has every day (speech, TV, an empty room); the near-miss files, phrases
#: like "okay now" or "a lexus" again and again, are counted on their own.
EVERYDAY = ("speech", "tv", "room")
NEAR_MISS = ("near_miss",)


@dataclass(frozen=True)
class Negative:
    kind: str
    hours: float
    trace: Trace


@dataclass(frozen=True)
class WakeCurves:
    """Per built-in wake word: the clips' peak scores and the negative traces; curves drawn from them."""

    clips: dict[str, list[tuple[dict, float]]]  # word -> (clip, peak score)
    negatives: dict[str, list[Negative]]  # word -> one per negative file

    def hours(self, kinds: Sequence[str] = EVERYDAY) -> float:
        first = next(iter(self.negatives.values()))
        return sum(n.hours for n in first if n.kind in kinds)

    def at(self, word: str, cutoff: float, noise: str | None = None, kinds: Sequence[str] = EVERYDAY,
           snr_db: float | None = None) -> CurvePoint:
        """Detection (of the clips in ``noise`` at ``snr_db``, or all) and false accepts (in the negatives
        of ``kinds``)."""
        scores = [p for clip, p in self.clips[word]
                  if noise is None or (clip["noise"] == noise and (snr_db is None or clip["snr_db"] == snr_db))]
        chosen = [n for n in self.negatives[word] if n.kind in kinds]
        fa = sum(len(detections(n.trace, cutoff)) for n in chosen)
        hours = sum(n.hours for n in chosen)
        return CurvePoint(cutoff, sum(p > cutoff for p in scores) / len(scores) if scores else float("nan"), fa,
                          fa / hours if hours else float("nan"))

    def curve(self, word: str, noise: str | None = None, kinds: Sequence[str] = EVERYDAY) -> list[CurvePoint]:
        return [self.at(word, cutoff, noise, kinds) for cutoff in CUTOFFS]


def choose_presets(curves: WakeCurves, own: dict[str, float]) -> dict[str, dict[str, float]]:
    """The rule the presets' cutoffs come from (``edgevoice.config.listening.SENSITIVITY_CUTOFFS``),
    applied to measured curves; ``own``: each model's own cutoff. False accepts are counted in the
    everyday negative audio."""
    out: dict[str, dict[str, float]] = {"strict": {}, "default": {}, "sensitive": {}, "very_sensitive": {}}
    for word, default in own.items():
        points = curves.curve(word)

        def lowest(most: int, floor: float) -> float:
            return min(p.cutoff for p in points if p.false_accepts <= most and p.cutoff >= round(floor, 2) - 1e-9)

        out["strict"][word] = round((default + 0.99) / 2, 2)
        out["default"][word] = default
        out["sensitive"][word] = lowest(1, default - 0.25)
        out["very_sensitive"][word] = lowest(3, default - 0.5)
    return out


def measure_corpus(corpus: str | Path, words: Sequence[str] | None = None, *, jobs: int = 2,
                   positives: str = "wake_clips", groups: Sequence[str] | None = None) -> WakeCurves:
    """Score every wake clip and trace every negative file of a corpus (``scripts/make_corpus.py``).

    ``positives``: the manifest's list of clips to score ("wake_clips": every voice of every engine;
    "positives": the accuracy clips, of ``groups``).
    """
    from concurrent.futures import ProcessPoolExecutor

    from edgevoice.config.listening import BUILTIN_WAKE_WORDS

    words = tuple(words or BUILTIN_WAKE_WORDS)
    manifest = json.loads((Path(corpus) / "manifest.json").read_text())
    clips = [c for c in manifest[positives] if c["wake_word"] in words and (groups is None or c.get("group") in groups)]
    negs = manifest["negatives"]
    corpus = str(corpus)
    with ProcessPoolExecutor(max(1, jobs)) as pool:
        neg_futures = [pool.submit(trace_negative, corpus, n, words) for n in negs]
        scores = list(pool.map(score_clip, [corpus] * len(clips), clips, chunksize=16))
        traces = [f.result() for f in neg_futures]
    by_word: dict[str, list[tuple[dict, float]]] = {w: [] for w in words}
    for clip, p in zip(clips, scores):
        by_word[clip["wake_word"]].append((clip, p))
    negatives = {w: [Negative(n.get("kind", "speech"), n["duration_s"] / 3600, t[w]) for n, t in zip(negs, traces)]
                 for w in words}
    return WakeCurves(by_word, negatives)


if __name__ == "__main__":  # python -m edgevoice.bench.wake CORPUS_DIR
    import sys

    from pymicro_wakeword import MicroWakeWord, Model

    from edgevoice.config.listening import SENSITIVITY_CUTOFFS

    curves = measure_corpus(sys.argv[1])
    own = {}
    for model in Model:
        loaded = MicroWakeWord.from_builtin(model)
        own[model.value] = round(float(loaded.probability_cutoff), 2)
        loaded.close()
    print(f"the rule gives: {choose_presets(curves, own)}")
    print(f"{curves.hours():.2f} h of everyday negative audio, {curves.hours(NEAR_MISS):.2f} h of near misses")
    for word in curves.clips:
        print(f"\n{word}: {len(curves.clips[word])} clips")
        for point in curves.curve(word):
            by_noise = "  ".join(f"{n} {curves.at(word, point.cutoff, n).detection:.3f}" for n in ("clean", "pink", "babble"))
            near = curves.at(word, point.cutoff, kinds=NEAR_MISS)
            print(f"  cutoff {point.cutoff:.2f}  found {point.detection:.3f} ({by_noise})  "
                  f"false accepts {point.false_accepts:3d} = {point.per_hour:5.2f}/h, near misses {near.per_hour:5.1f}/h")
        print("  presets: " + ", ".join(f"{k} {v[word]:.2f}" for k, v in SENSITIVITY_CUTOFFS.items()))
