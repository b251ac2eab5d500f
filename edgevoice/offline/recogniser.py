"""The offline recogniser: pocketsphinx, on the device, listening only for the configured questions.

A thin shell over pocketsphinx (its wheel ships the English acoustic model and dictionary; no
download). It decodes with a small bigram language model built from the configured questions,
plus a set of common English words with a small share of the probability, so that a question
that is not configured comes out as other words (which the matcher then refuses) instead of
being forced onto the nearest configured question. The dictionary holds only those words, so
the recogniser loads in a fraction of a second and takes a few megabytes beyond the acoustic
model. Which answer fits the text is decided by :mod:`edgevoice.offline.matcher`, not here.

Measured choice (``scripts/make_corpus.py --questions``, README "Offline answers"): a JSGF
grammar of the exact questions is fast but forces a paraphrase onto some question (wrong
answers); a free word loop is slow (seconds per utterance); pocketsphinx's general English
language model is slow and weak on synthetic voices.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

RATE = 16000
#: Common words beside the questions' own: where speech that is not a configured question goes.
OTHER_WORDS = frozenset(
    """a an the is are was be do does did can could will would i you we it me my your our this that there
    here what where when who how why which please today now tell show find get go have has of in on at to
    for from with about and or not no yes okay hi hello thanks thank much many time day good right left way
    one two three some any more buy cost ticket train bus station weather tomorrow who won game joke museum
    price food eat drink water coffee shop help name number car park parking map city street open close
    morning evening night week year money card pay call phone""".split()
)
OTHER_SHARE = 0.1  # of the unigram probability spread over all words evenly (the rest: the questions)


class RecogniserError(Exception):
    """pocketsphinx is not installed or cannot load its model."""


@dataclass(frozen=True, slots=True)
class Heard:
    """What the recogniser made of an utterance: the text, pocketsphinx's posterior, CPU seconds (this thread) spent."""

    text: str
    confidence: float
    cpu_s: float


class QuestionRecogniser:
    """Recognises a spoken question among the configured ones; ``recognise(pcm)`` -> :class:`Heard`."""

    def __init__(self, sentences: Iterable[str], *, other_words: Iterable[str] = OTHER_WORDS,
                 other_share: float = OTHER_SHARE) -> None:
        try:
            import pocketsphinx
        except ImportError as exc:
            raise RecogniserError(f"pocketsphinx is not installed ({exc}); offline answers need it") from None
        started = time.thread_time()
        self.sentences = [s for s in (" ".join(x.split()) for x in sentences) if s]
        model = Path(pocketsphinx.get_model_path()) / "en-us"
        wanted = {w for s in self.sentences for w in s.split()} | set(other_words)
        pronunciations = _pronunciations(model / "cmudict-en-us.dict", wanted)
        self.unknown = sorted({w for s in self.sentences for w in s.split()} - {w.partition("(")[0] for w, _ in pronunciations})
        if self.unknown:
            logger.warning("offline recogniser: no pronunciation for %s; questions with them match on the other words",
                           ", ".join(self.unknown))
        known = {w.partition("(")[0] for w, _ in pronunciations}
        sentences_known = [" ".join(w for w in s.split() if w in known) for s in self.sentences]
        with tempfile.TemporaryDirectory(prefix="edgevoice-asr-") as tmp:
            lm, dic = Path(tmp) / "questions.lm", Path(tmp) / "questions.dict"
            lm.write_text(bigram_arpa([s for s in sentences_known if s], known, other_share), encoding="utf-8")
            dic.write_text("".join(f"{w} {p}\n" for w, p in pronunciations), encoding="utf-8")
            try:
                self._decoder = pocketsphinx.Decoder(
                    hmm=str(model / "en-us"), lm=str(lm), dict=str(dic), samprate=RATE, loglevel="FATAL",
                )
            except (RuntimeError, ValueError) as exc:
                raise RecogniserError(f"pocketsphinx cannot load its model: {exc}") from None
        self.load_cpu_s = time.thread_time() - started
        logger.info("offline recogniser loaded (%d questions, %d words) in %.0f ms CPU",
                    len(self.sentences), len(known), self.load_cpu_s * 1000)

    def recognise(self, pcm: bytes) -> Heard:
        """Decode one utterance (16 kHz mono int16)."""
        started = time.thread_time()
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(pcm, no_search=False, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        text = hyp.hypstr if hyp is not None else ""
        confidence = float(hyp.prob) if hyp is not None else 0.0
        return Heard(text, confidence, time.thread_time() - started)

    def close(self) -> None:
        """Free the model's memory."""
        self._decoder = None  # type: ignore[assignment]


def _pronunciations(dictionary: Path, words: set[str]) -> list[tuple[str, str]]:
    """(word, phones) lines of the pocketsphinx dictionary for ``words`` (alternatives as ``word(2)``)."""
    out = []
    with open(dictionary, encoding="utf-8") as f:
        for line in f:
            head, _, phones = line.partition(" ")
            if head.partition("(")[0] in words:
                out.append((head, phones.strip()))
    return out


def bigram_arpa(sentences: list[str], vocabulary: Iterable[str], other_share: float = OTHER_SHARE) -> str:
    """An ARPA bigram model: the sentences' bigrams (Witten-Bell smoothed) over unigrams that give
    ``other_share`` of the probability to every word of ``vocabulary`` evenly."""
    unigrams: Counter[str] = Counter()
    follows: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for sentence in sentences:
        tokens = ["<s>", *sentence.split(), "</s>"]
        unigrams.update(tokens[1:])
        for a, b in zip(tokens, tokens[1:]):
            follows[a][b] += 1
    words = (set(vocabulary) | set(unigrams)) - {"<s>"}
    words.add("</s>")
    total = sum(unigrams.values()) or 1
    p1 = {w: (1 - other_share) * unigrams[w] / total + other_share / len(words) for w in words}
    p2: dict[tuple[str, str], float] = {}
    backoff: dict[str, float] = {}
    for a, nexts in follows.items():
        n, types = sum(nexts.values()), len(nexts)
        lam = n / (n + types)
        for b, c in nexts.items():
            p2[(a, b)] = lam * c / n + (1 - lam) * p1[b]
        seen = sum(p1[b] for b in nexts)
        left = 1 - sum(p2[(a, b)] for b in nexts)
        backoff[a] = max(left, 1e-9) / max(1 - seen, 1e-9)
    lines = ["\\data\\", f"ngram 1={len(words) + 1}", f"ngram 2={len(p2)}", "", "\\1-grams:"]
    lines.append(f"-99.0000 <s> {math.log10(backoff.get('<s>', 1.0)):.4f}")
    for w in sorted(words):
        lines.append(f"{math.log10(p1[w]):.4f} {w} {math.log10(backoff.get(w, 1.0)):.4f}")
    lines += ["", "\\2-grams:"]
    lines += [f"{math.log10(p):.4f} {a} {b}" for (a, b), p in sorted(p2.items())]
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)
