"""Measurements for ``edgevoice bench`` and the tests: CPU overhead, and accuracy on the corpus.

``measure_overhead(pcm, listening)`` runs the audio through ``ListeningFrontend`` (the always-on
path: gate closed) and through the plain library calls a minimal script would make for the same
configuration
(``AudioProcessor.Process10ms``, ``webrtcvad.Vad.is_speech``,
``MicroWakeWordFeatures.process_streaming`` and ``MicroWakeWord.process_streaming_prob``
per model), and compares CPU time. Target: ratio <= 1.15.

``evaluate_corpus(dir, listening)`` runs a corpus made by ``scripts/make_corpus.py`` the way the
daemon would (gate opened on the wake word) and reports detection per noise condition, false
accepts per hour of negative speech and endpoint timing; ``python -m edgevoice.bench.listening_accuracy DIR``
prints it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

from edgevoice.audio.frames import FRAME_BYTES, FRAME_SECONDS, SAMPLE_RATE


@dataclass(frozen=True)
class OverheadReport:
    """CPU seconds for the same audio: bare library calls vs the whole front-end."""

    audio_s: float
    bare_cpu_s: float
    frontend_cpu_s: float

    @property
    def ratio(self) -> float:
        """Front-end CPU / bare-library CPU (1.0 = no overhead)."""
        return self.frontend_cpu_s / self.bare_cpu_s

    @property
    def frontend_cpu_per_audio_s(self) -> float:
        """CPU seconds per second of audio (x100 = % of one core)."""
        return self.frontend_cpu_s / self.audio_s

    def __str__(self) -> str:
        return (
            f"{self.audio_s:.1f} s of audio: bare libraries {self.bare_cpu_s * 1000:.1f} ms CPU, "
            f"front-end {self.frontend_cpu_s * 1000:.1f} ms CPU ({self.frontend_cpu_per_audio_s * 100:.2f}% of a core), "
            f"ratio {self.ratio:.3f}"
        )


def whole_frames(pcm: bytes) -> list[bytes]:
    """16 kHz mono int16 audio as its whole 10 ms frames (a part frame at the end is left out)."""
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def bare_runner(listening) -> Callable[[list[bytes]], None]:
    """The bare library calls for this [listening] config, ready to run over a list of frames."""
    import webrtcvad
    from pymicro_wakeword import MicroWakeWordFeatures
    from webrtc_noise_gain import AudioProcessor

    from edgevoice.listening.wake import load_model

    noise = listening.noise
    use_noise = noise.enabled and (noise.suppression or noise.auto_gain_dbfs)
    processor = AudioProcessor(noise.auto_gain_dbfs, noise.suppression) if use_noise else None
    vad = webrtcvad.Vad(listening.vad.aggressiveness)
    models = [load_model(n) for n in [*listening.wake.words, *listening.wake.model_files]]
    features = MicroWakeWordFeatures()

    def run(frames: list[bytes]) -> None:
        for frame in frames:
            if processor is not None:
                frame = processor.Process10ms(frame).audio
            vad.is_speech(frame, SAMPLE_RATE)
            for f in features.process_streaming(frame):
                for m in models:
                    m.process_streaming_prob(f)

    return run


def frontend_runner(listening) -> Callable[[list[bytes]], None]:
    """The whole front-end for this [listening] config, ready to run over a list of frames."""
    from edgevoice.listening.frontend import ListeningFrontend

    frontend = ListeningFrontend.from_config(listening)

    def run(frames: list[bytes]) -> None:
        process = frontend.process
        for frame in frames:
            process(frame)

    return run


def _cpu(run: Callable[[list[bytes]], None], frames: list[bytes]) -> float:
    gc.collect()
    start = time.process_time()
    run(frames)
    return time.process_time() - start


def measure_overhead(pcm: bytes, listening=None, *, repeats: int = 3) -> OverheadReport:
    """Compare CPU for ``pcm`` (16 kHz mono int16): best of ``repeats`` runs each, interleaved.

    Fresh components each run (fair: both start cold); model loading is not timed.
    """
    if listening is None:
        from edgevoice.config.listening import ListeningConfig

        listening = ListeningConfig()
    frames = whole_frames(pcm)
    if not frames:
        raise ValueError("no audio to measure")
    bare, front = [], []
    for _ in range(repeats):
        bare.append(_cpu(bare_runner(listening), frames))
        front.append(_cpu(frontend_runner(listening), frames))
    return OverheadReport(len(frames) * FRAME_SECONDS, min(bare), min(front))


# -- accuracy on the generated corpus (scripts/make_corpus.py) ------------------------------------

#: A wake word detected this long after the word ended still counts as that word.
DETECTION_WINDOW_S = 1.0


@dataclass(frozen=True)
class ClipResult:
    """One positive clip through the front-end, with the gate opened on the wake word like the daemon does."""

    file: str
    group: str
    noise: str
    snr_db: float | None
    detected: bool
    detection_latency_s: float | None  # detection time - end of the wake word
    other_detections: int  # wrong word, or outside the wake word's window
    end_reason: str | None  # how the utterance ended (None: not within the clip)
    utterance_end_s: float | None  # when the gate closed itself
    endpoint_error_s: float | None  # detected end of speech - true end of the command (silence endings)
    preroll_covers_command: bool | None  # the audio sent starts before the command does


@dataclass(frozen=True)
class NegativeResult:
    """One file of negative speech: how many wake words were (wrongly) detected."""

    file: str
    noise: str
    snr_db: float | None
    duration_s: float
    false_accepts: int
    detections: tuple[tuple[float, str, float], ...]


def _condition(noise: str, snr: float | None) -> str:
    return noise if snr is None else f"{noise} {snr:g} dB"


def evaluate_clip(corpus: str, clip: dict, listening) -> ClipResult:
    """Run one positive clip (see ``evaluate_corpus``)."""
    from pathlib import Path

    from edgevoice.audio.wav import read_wav_16k
    from edgevoice.listening import frontend_events as ev
    from edgevoice.listening.frontend import ListeningFrontend

    frontend = ListeningFrontend.from_config(listening)
    pcm = read_wav_16k(Path(corpus) / clip["file"])
    detected_at = None
    others = 0
    opened_at = None
    speech_end = None
    end_reason = None
    end_t = None
    try:
        for i in range(0, len(pcm), FRAME_BYTES):
            for e in frontend.process(pcm[i : i + FRAME_BYTES]):
                if isinstance(e, ev.WakeWordDetected):
                    in_window = clip["wake_start_s"] <= e.t <= clip["wake_end_s"] + DETECTION_WINDOW_S
                    if e.name == clip["wake_word"] and in_window and detected_at is None:
                        detected_at = e.t
                        if opened_at is None:
                            preroll = frontend.open_gate("wake")  # nothing: held until the words start
                            if preroll:
                                opened_at = e.t - len(preroll) / (2 * SAMPLE_RATE)
                    elif not (e.name == clip["wake_word"] and in_window):
                        others += 1
                elif isinstance(e, ev.UtteranceAudio) and opened_at is None:
                    opened_at = e.t - len(e.pcm) / (2 * SAMPLE_RATE)  # where the audio sent starts
                elif isinstance(e, ev.SpeechEnded):
                    speech_end = e.t
                elif isinstance(e, ev.UtteranceEnded) and end_reason is None:
                    end_reason, end_t = e.reason, e.t
                    if e.reason != "silence":
                        speech_end = None
    finally:
        frontend.close()
    endpoint_error = (speech_end - clip["command_end_s"]) if (end_reason == "silence" and speech_end) else None
    return ClipResult(
        file=clip["file"],
        group=clip["group"],
        noise=clip["noise"],
        snr_db=clip["snr_db"],
        detected=detected_at is not None,
        detection_latency_s=None if detected_at is None else detected_at - clip["wake_end_s"],
        other_detections=others,
        end_reason=end_reason,
        utterance_end_s=end_t,
        endpoint_error_s=endpoint_error,
        preroll_covers_command=None if opened_at is None else opened_at <= clip["command_start_s"],
    )


def evaluate_negative(corpus: str, item: dict, listening) -> NegativeResult:
    """Run one negative file: every wake word detection is a false accept."""
    from pathlib import Path

    from edgevoice.audio.wav import WavSource
    from edgevoice.listening import frontend_events as ev
    from edgevoice.listening.frontend import ListeningFrontend

    frontend = ListeningFrontend.from_config(listening)
    found = []
    try:
        for frame in WavSource(Path(corpus) / item["file"]).frames():
            for e in frontend.process(frame):
                if isinstance(e, ev.WakeWordDetected):
                    found.append((round(e.t, 2), e.name, round(e.probability, 3)))
    finally:
        frontend.close()
    return NegativeResult(item["file"], item["noise"], item["snr_db"], item["duration_s"], len(found), tuple(found))


@dataclass(frozen=True)
class AccuracyReport:
    """Detection per condition, false accepts per hour, endpoint timing error."""

    clips: tuple[ClipResult, ...]
    negatives: tuple[NegativeResult, ...]

    def detection_rate(self, group: str = "core", noise: str | None = None, snr_db: float | None = None) -> float:
        chosen = [c for c in self.clips if c.group == group and (noise is None or (c.noise == noise and c.snr_db == snr_db))]
        return sum(c.detected for c in chosen) / len(chosen) if chosen else float("nan")

    def conditions(self, group: str = "core") -> list[tuple[str, float | None]]:
        return list(dict.fromkeys((c.noise, c.snr_db) for c in self.clips if c.group == group))

    @property
    def negative_hours(self) -> float:
        return sum(n.duration_s for n in self.negatives) / 3600

    @property
    def false_accepts(self) -> int:
        return sum(n.false_accepts for n in self.negatives)

    @property
    def false_accepts_per_hour(self) -> float:
        return self.false_accepts / self.negative_hours if self.negatives else float("nan")

    def endpoint_errors_ms(self, noise: str | None = None, snr_db: float | None = None, group: str = "core") -> list[float]:
        """Detected end of speech minus the true end of the command, for utterances that ended on silence."""
        return [
            c.endpoint_error_s * 1000
            for c in self.clips
            if c.group == group and c.endpoint_error_s is not None
            and (noise is None or (c.noise == noise and c.snr_db == snr_db))
        ]

    def summary(self) -> str:
        import statistics

        lines = ["detection rate (wake word found within 1 s of its end):"]
        for group in dict.fromkeys(c.group for c in self.clips):
            for noise, snr in self.conditions(group):
                chosen = [c for c in self.clips if c.group == group and c.noise == noise and c.snr_db == snr]
                lat = [c.detection_latency_s * 1000 for c in chosen if c.detection_latency_s is not None]
                eps = [abs(x) for x in self.endpoint_errors_ms(noise, snr, group)]
                ends = [c.end_reason for c in chosen if c.end_reason]
                lines.append(
                    f"  {group:5s} {_condition(noise, snr):13s} {sum(c.detected for c in chosen):3d}/{len(chosen):<3d}"
                    f" = {100 * self.detection_rate(group, noise, snr):5.1f}%"
                    + (f"  latency median {statistics.median(lat):4.0f} ms" if lat else "")
                    + (f"  endpoint |error| median {statistics.median(eps):4.0f} ms, max {max(eps):4.0f} ms"
                       f" ({len(eps)}/{len(ends)} ended on silence)" if eps else "")
                )
        lines.append(
            f"false accepts: {self.false_accepts} in {self.negative_hours * 60:.1f} min of negative speech"
            f" = {self.false_accepts_per_hour:.2f}/hour"
        )
        for n in self.negatives:
            if n.false_accepts:
                lines.append(f"  {n.file}: {list(n.detections)}")
        cut = [c.file for c in self.clips if c.preroll_covers_command is False]
        lines.append(f"utterances whose audio missed the start of the command: {len(cut)} {cut if cut else ''}")
        return "\n".join(lines)


def evaluate_corpus(corpus, listening=None, *, jobs: int = 2, groups=None, negatives: bool = True) -> AccuracyReport:
    """Run the positive clips (of the configured wake words) and the negative files of a corpus.

    The corpus is one made by ``scripts/make_corpus.py``; ``groups`` limits the clips to some
    groups (``core``, ``hard``, ``multi``); ``negatives=False`` skips the negative speech.
    """
    import json
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    if listening is None:
        from edgevoice.config.listening import ListeningConfig

        listening = ListeningConfig()
    manifest = json.loads((Path(corpus) / "manifest.json").read_text())
    words = {*listening.wake.words, *(Path(f).stem for f in listening.wake.model_files)}
    clips = [c for c in manifest["positives"] if (groups is None or c["group"] in groups) and c["wake_word"] in words]
    negs = manifest["negatives"] if negatives else []
    corpus = str(corpus)
    if jobs <= 1:
        clip_results = [evaluate_clip(corpus, c, listening) for c in clips]
        neg_results = [evaluate_negative(corpus, n, listening) for n in negs]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            neg_futures = [pool.submit(evaluate_negative, corpus, n, listening) for n in negs]
            clip_results = list(pool.map(evaluate_clip, [corpus] * len(clips), clips, [listening] * len(clips),
                                         chunksize=16))
            neg_results = [f.result() for f in neg_futures]
    return AccuracyReport(tuple(clip_results), tuple(neg_results))


if __name__ == "__main__":  # python -m edgevoice.bench.listening_accuracy CORPUS_DIR
    import sys

    from dataclasses import replace

    from edgevoice.config.listening import BUILTIN_WAKE_WORDS, ListeningConfig, WakeConfig

    config = ListeningConfig()
    print(evaluate_corpus(sys.argv[1], config).summary())
    print("\nall four built-in wake words at once, multi group:")
    config = replace(config, wake=WakeConfig(words=BUILTIN_WAKE_WORDS))
    print(evaluate_corpus(sys.argv[1], config, groups=("multi",), negatives=False).summary())
