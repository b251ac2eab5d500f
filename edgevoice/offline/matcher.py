"""Which configured answer, if any, fits what the offline recogniser heard: a pure decision.

The recogniser's text is compared with every configured question by their *content words*: the
words left after lower-casing, spelling out contractions ("what's" -> "what is"), dropping
function words ("where", "is", "the", "please", ...) and a light stemming ("toilets" ->
"toilet"). Two word sets are compared by their Dice similarity (2 |A ∩ B| / (|A| + |B|)), and an
answer scores as well as its best question. The answer plays only when

* its score reaches ``min_score``, and
* it beats every other answer by ``margin`` (two answers that fit equally well is a guess),

otherwise the apology plays: a wrong answer is worse than an apology. The same measure decides
when two questions are "the same" (:func:`same_question`), e.g. for learned answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Words that say little about *which* question was asked (and that the recogniser confuses).
FUNCTION_WORDS = frozenset(
    """a an the is are was were be been am do does did done can could will would shall should may might must
    i you we it me my your our us they them he she his her this that these those there here
    what where when who whom how why which whose please tell show find get go have has had of in on at to
    for from with about by into and or but not no yes okay ok hi hey hello thanks thank just know want like
    need let lets some any if so than then too very also still way one""".split()
)

_CONTRACTIONS = {
    "what's": "what is", "where's": "where is", "when's": "when is", "who's": "who is", "how's": "how is",
    "it's": "it is", "that's": "that is", "there's": "there is", "i'm": "i am", "you're": "you are",
    "we're": "we are", "they're": "they are", "can't": "can not", "won't": "will not", "don't": "do not",
    "doesn't": "does not", "isn't": "is not", "aren't": "are not", "i'd": "i would", "i'll": "i will",
    "let's": "let us",
}
_WORD = re.compile(r"[a-z']+")
SAME_QUESTION_SCORE = 0.8  # two questions at least this similar are "the same" (learned answers)


def stem(word: str) -> str:
    """A light English stemmer: plural -s/-es/-ies and possessive 's ("toilets" -> "toilet")."""
    word = word.removesuffix("'s").strip("'")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(text: str) -> frozenset[str]:
    """The stemmed content words of ``text`` (see the module docstring)."""
    words: list[str] = []
    for word in _WORD.findall(text.lower().replace("\u2019", "'")):
        words.extend(_CONTRACTIONS.get(word, word).split())
    return frozenset(stem(w) for w in words if w not in FUNCTION_WORDS and stem(w) not in FUNCTION_WORDS and w)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice similarity of two word sets: 1.0 the same words, 0.0 none in common (or either empty)."""
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def same_question(a: str, b: str) -> bool:
    """Whether two questions count as the same: their content words are (nearly) the same."""
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return " ".join(_WORD.findall(a.lower())) == " ".join(_WORD.findall(b.lower()))
    return similarity(wa, wb) >= SAME_QUESTION_SCORE


@dataclass(frozen=True, slots=True)
class Match:
    """The matcher's verdict: ``answer`` ("" = the apology), its score, and the closest question."""

    answer: str
    score: float
    question: str = ""
    runner_up: float = 0.0  # the best score of any other answer

    @property
    def answered(self) -> bool:
        return bool(self.answer)


class QuestionMatcher:
    """Matches recognised text to the configured questions; ``decide(text)`` gives a :class:`Match`."""

    def __init__(self, questions: Mapping[str, Iterable[str]], *, min_score: float = 0.75, margin: float = 0.15) -> None:
        self.min_score = min_score
        self.margin = margin
        self._questions = {answer: [(q, content_words(q)) for q in qs] for answer, qs in questions.items()}

    @property
    def answers(self) -> list[str]:
        return list(self._questions)

    def vocabulary(self) -> set[str]:
        """Every word of every question (lower case, as written): what the recogniser must know."""
        return {w for qs in self._questions.values() for q, _ in qs for w in _words(q)}

    def sentences(self) -> list[str]:
        """The questions as word sequences (contractions spelled out) for the recogniser's language model."""
        return [" ".join(_words(q)) for qs in self._questions.values() for q, _ in qs]

    def decide(self, heard: str) -> Match:
        """The answer for ``heard`` (the recogniser's text), or the apology (answer "")."""
        words = content_words(heard)
        scored: list[tuple[float, str, str]] = []
        for answer, questions in self._questions.items():
            best = max(((similarity(words, cw), q) for q, cw in questions), default=(0.0, ""))
            scored.append((best[0], answer, best[1]))
        if not scored:
            return Match("", 0.0)
        scored.sort(key=lambda s: -s[0])
        score, answer, question = scored[0]
        runner_up = scored[1][0] if len(scored) > 1 else 0.0
        if score >= self.min_score and score - runner_up >= self.margin:
            return Match(answer, score, question, runner_up)
        return Match("", score, question, runner_up)


def _words(text: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text.lower().replace("\u2019", "'")):
        out.extend(_CONTRACTIONS.get(word, word).split())
    return [w.strip("'") for w in out if w.strip("'")]
