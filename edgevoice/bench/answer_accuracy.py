"""How well offline answers work: the recogniser and matcher on the spoken-question corpus.

    python scripts/make_corpus.py --questions --out tests/.corpus      # builds OUT/questions-<fp>/
    python -m edgevoice.bench.answer_accuracy tests/.corpus/questions-<fp> [--json] [--min-score 0.75]

For every clip the real :class:`~edgevoice.offline.recogniser.QuestionRecogniser` (built from the
corpus's configured questions, as the daemon builds it) decodes the audio and the
:class:`~edgevoice.offline.matcher.QuestionMatcher` decides. A configured question (said in
other words than the config's) is *right* when its answer plays, *wrong* when another answer
plays, and an *apology* otherwise; an unconfigured question should get the apology. Reported per
noise condition and per engine, with the recogniser's CPU time per utterance and its memory
(this process's resident memory before loading, after loading, and its peak while decoding).

Targets (issue 15): at 20 dB at least 85% right, at most 3% wrong, and the apology for at least
90% of unconfigured questions. The figures are reported as measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import wave
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from edgevoice.bench.runs import proc_status

TARGET_RIGHT, TARGET_WRONG, TARGET_REJECT = 0.85, 0.03, 0.90


def measure(corpus: Path, *, min_score: float = 0.75, margin: float = 0.15, other_share: float | None = None,
            every: int = 1) -> dict[str, Any]:
    """Run every clip of the corpus; returns the tallies, CPU and memory as a JSON-able dict."""
    from edgevoice.offline.matcher import QuestionMatcher
    from edgevoice.offline.recogniser import QuestionRecogniser

    manifest = json.loads((corpus / "manifest.json").read_text())
    matcher = QuestionMatcher(manifest["answers"], min_score=min_score, margin=margin)
    rss_before = proc_status("self", "VmRSS:")[0]
    loaded = time.process_time()
    share = {} if other_share is None else {"other_share": other_share}
    recogniser = QuestionRecogniser(matcher.sentences(), **share)
    load_cpu_s = time.process_time() - loaded
    rss_loaded = proc_status("self", "VmRSS:")[0]
    tallies: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    cpu: list[float] = []
    audio_s = 0.0
    wrong_examples: list[str] = []
    heard_texts: list[str] = []
    clips = manifest["clips"][::every]
    for clip in clips:
        with wave.open(str(corpus / clip["file"])) as w:
            pcm = w.readframes(w.getnframes())
        heard = recogniser.recognise(pcm)
        heard_texts.append(heard.text)
        cpu.append(heard.cpu_s)
        audio_s += clip["duration_s"]
        verdict = matcher.decide(heard.text).answer or None
        want = clip["answer"]
        if want is None:
            outcome = "rejected" if verdict is None else "wrong"
        else:
            outcome = "right" if verdict == want else "apology" if verdict is None else "wrong"
        condition = "clean" if clip["noise"] == "clean" else f"{clip['snr_db']} dB"
        kind = "configured" if want else "unconfigured"
        for group in (f"{kind} | {condition}", f"{kind} | {condition} | {clip['engine']}"):
            tallies[group][outcome] += 1
            tallies[group]["n"] += 1
        if outcome == "wrong" and len(wrong_examples) < 40:
            wrong_examples.append(f"{clip['engine']}/{clip['voice']} {condition}: {clip['text']!r} -> "
                                  f"{heard.text!r} -> {verdict}")
    peak = proc_status("self", "VmHWM:")[0]
    recogniser.close()
    return {
        "clips": len(clips), "min_score": min_score, "margin": margin, "other_share": other_share,
        "tallies": {k: dict(v) for k, v in sorted(tallies.items())},
        "cpu_ms_mean": round(1000 * float(np.mean(cpu)), 1), "cpu_ms_p95": round(1000 * float(np.percentile(cpu, 95)), 1),
        "cpu_per_audio_s": round(float(np.sum(cpu)) / audio_s, 4), "load_cpu_ms": round(load_cpu_s * 1000, 1),
        "rss_before_mb": round(rss_before / 1024, 1), "rss_loaded_mb": round(rss_loaded / 1024, 1),
        "peak_mb": round(peak / 1024, 1), "wrong_examples": wrong_examples,
        "heard": {clip["file"]: text for clip, text in zip(clips, heard_texts)},
    }


def _rate(t: dict[str, int], key: str) -> float:
    return t.get(key, 0) / t["n"] if t.get("n") else 0.0


def report(result: dict[str, Any]) -> str:
    lines = [f"{result['clips']} clips; min_score {result['min_score']}, margin {result['margin']}", "",
             f"{'group':<42} {'n':>5} {'right':>7} {'wrong':>7} {'apology':>8}"]
    for group, t in result["tallies"].items():
        if group.startswith("configured"):
            lines.append(f"{group:<42} {t['n']:>5} {_rate(t, 'right'):>7.1%} {_rate(t, 'wrong'):>7.1%} {_rate(t, 'apology'):>8.1%}")
        else:
            lines.append(f"{group:<42} {t['n']:>5} {'':>7} {_rate(t, 'wrong'):>7.1%} {_rate(t, 'rejected'):>8.1%}")
    twenty = result["tallies"].get("configured | 20 dB", {})
    other = result["tallies"].get("unconfigured | 20 dB", {})
    lines += [
        "",
        f"targets at 20 dB: right {_rate(twenty, 'right'):.1%} (>= {TARGET_RIGHT:.0%}), wrong {_rate(twenty, 'wrong'):.1%} "
        f"(<= {TARGET_WRONG:.0%}), apology for unconfigured {_rate(other, 'rejected'):.1%} (>= {TARGET_REJECT:.0%})",
        f"CPU per utterance: mean {result['cpu_ms_mean']} ms, p95 {result['cpu_ms_p95']} ms "
        f"({result['cpu_per_audio_s']:.3f} s per s of audio); loading {result['load_cpu_ms']} ms",
        f"memory: {result['rss_before_mb']} MB before loading, {result['rss_loaded_mb']} MB loaded, peak {result['peak_mb']} MB",
    ]
    if result["wrong_examples"]:
        lines += ["", "wrong answers (first few):", *(f"  {w}" for w in result["wrong_examples"][:15])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a directory made by scripts/make_corpus.py --questions")
    parser.add_argument("--min-score", type=float, default=0.75)
    parser.add_argument("--margin", type=float, default=0.15)
    parser.add_argument("--other-share", type=float, default=None,
                        help="the recogniser's share of probability for words outside the questions (default: its own)")
    parser.add_argument("--every", type=int, default=1, help="measure every Nth clip only (quicker)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.corpus, min_score=args.min_score, margin=args.margin, other_share=args.other_share,
                     every=args.every)
    print(json.dumps(result, indent=1) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
