"""The [offline] table: what the device says by itself when Voice Live cannot answer, and where it keeps it.

The phrases are rendered in the assistant's own voice through Voice Live while online and kept in
``cache_dir``; until then a local voice (espeak-ng, else tones) stands in. While the service cannot
be reached, a cheap check (TCP, TLS and one HTTP answer, no session) looks for it again, waiting
``probe_min_s`` at first and up to ``probe_max_s`` (exponential backoff with full jitter).

``[[offline.answers]]`` are the kiosk's common questions with their answers: the answers are
rendered and cached like the phrases, and while offline a local recogniser (loaded only then)
picks the answer whose questions match what was said, or the apology when none matches well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from edgevoice.config.errors import ConfigError, shown
from edgevoice.config.fields import setting

class Phrase(StrEnum):
    """Keys of the cached phrases the assistant plays by itself: the one list of them (texts below)."""

    OFFLINE = "offline"
    BUSY = "busy"
    SERVICE_ERROR = "service_error"
    NOT_HEARD = "not_heard"
    MUTED = "muted"
    RESTING = "resting"  # the daily budget is spent (cost.over_budget = "cached_only")


#: The phrases the assistant itself plays, with their default text. Users change the text in
#: [offline] phrases and may add phrases of their own (rendered and cached the same way).
DEFAULT_PHRASES: Mapping[str, str] = MappingProxyType(
    {
        Phrase.OFFLINE.value: "Sorry, I can't reach the internet right now. Please try again in a moment.",
        Phrase.BUSY.value: "I'm a bit busy right now. Please try again in a minute.",
        Phrase.SERVICE_ERROR.value: "Sorry, something went wrong. Please try again.",
        Phrase.NOT_HEARD.value: "Sorry, I didn't catch that. Please say it again.",
        Phrase.MUTED.value: "My microphone is switched off. Turn it back on to talk to me.",
        Phrase.RESTING.value: "I'm resting for today, so I can only answer a few questions. Please come back tomorrow.",
    }
)

MAX_PHRASE_CHARS = 400  # a phrase is a sentence or two, spoken in a few seconds
MAX_PHRASES = 50
_PHRASE_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


def parse_phrases(raw: Any, key: str) -> dict[str, str]:
    """The phrase table: the defaults, with the user's texts changed and the user's own keys added."""
    if not isinstance(raw, dict):
        raise ConfigError(key, f'expected a table of name = "text", got {shown(raw)}')
    phrases = dict(DEFAULT_PHRASES)
    for name, text in raw.items():
        where = f"{key}.{name}" if _PHRASE_KEY.fullmatch(str(name)) else key
        if not _PHRASE_KEY.fullmatch(str(name)):
            raise ConfigError(
                where, f"{shown(name)} is not a phrase name: use lower-case letters, digits and _ (e.g. opening_hours)"
            )
        if not isinstance(text, str):
            raise ConfigError(where, f'expected the text to say, e.g. "We open at nine.", got {shown(text)}')
        words = " ".join(text.split())
        if not words:
            raise ConfigError(where, "is empty; give the text to say, or leave the key out for the default")
        if len(words) > MAX_PHRASE_CHARS:
            raise ConfigError(where, f"is {len(words)} characters long; keep a phrase under {MAX_PHRASE_CHARS}")
        phrases[name] = words
    if len(phrases) > MAX_PHRASES:
        raise ConfigError(key, f"has {len(phrases)} phrases; at most {MAX_PHRASES} are cached")
    return phrases


MAX_ANSWERS = 50
MAX_QUESTIONS = 20  # ways of asking one question
MAX_QUESTION_CHARS = 120
_QUESTION_WORDS = re.compile(r"[a-z']+")
ANSWER_PREFIX = "answer:"  # the cache names an answer's audio "answer:ID"


@dataclass(frozen=True)
class OfflineAnswer:
    """One common question the device answers by itself while offline: ways of asking it, and the answer."""

    id: str = setting("", "a name for the answer (lower-case letters, digits and _), e.g. toilets")
    questions: tuple[str, ...] = setting((), "a few ways of asking it, in plain words")
    answer: str = setting("", "the answer's text, rendered and cached in the assistant's voice")
    phrase: str = setting("", "or: the name of a phrase in [offline] phrases to play as the answer")

    def check(self) -> None:
        if not _PHRASE_KEY.fullmatch(self.id):
            raise ConfigError("id", f"{shown(self.id)} is not an answer name: use lower-case letters, digits and _ (e.g. toilets)")
        if not self.questions:
            raise ConfigError("questions", 'is empty; give a few ways of asking, e.g. ["where are the toilets"]')
        if len(self.questions) > MAX_QUESTIONS:
            raise ConfigError("questions", f"has {len(self.questions)} questions; at most {MAX_QUESTIONS}")
        for i, question in enumerate(self.questions):
            words = question_words(question)
            if not words:
                raise ConfigError(f"questions[{i}]", f"{shown(question)} has no words to listen for")
            if len(question) > MAX_QUESTION_CHARS:
                raise ConfigError(f"questions[{i}]", f"is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}")
        if bool(self.answer.strip()) == bool(self.phrase):
            raise ConfigError("answer", "give either answer (the text) or phrase (a phrase's name), not both or neither")
        if len(" ".join(self.answer.split())) > MAX_PHRASE_CHARS:
            raise ConfigError("answer", f"is {len(self.answer)} characters long; keep an answer under {MAX_PHRASE_CHARS}")

    @property
    def sound_name(self) -> str:
        """The name of what plays as the answer: the phrase it names, or ``answer:ID``."""
        return self.phrase or f"{ANSWER_PREFIX}{self.id}"


def question_words(text: str) -> list[str]:
    """The words of a question, lower-cased, without punctuation ("What's up?" -> ["what's", "up"])."""
    return _QUESTION_WORDS.findall(text.lower().replace("\u2019", "'"))


@dataclass(frozen=True)
class OfflineConfig:
    """Cached replies for when the service cannot answer, and how the device looks for it again."""

    cache_dir: Path = setting(
        Path("/var/cache/edgevoice"), "where the phrases rendered in the assistant's voice are kept"
    )
    phrases: dict[str, str] = setting(
        default_factory=lambda: dict(DEFAULT_PHRASES),
        doc="what the device says by itself: name = text (offline, busy, service_error, not_heard, muted, resting, your own)",
        parse=parse_phrases,
    )
    warm: bool = setting(
        True, "render the phrases in the assistant's voice in the background once online (false: local voice only)"
    )
    probe_min_s: float = setting(
        2.0, "first wait (s) before checking whether an unreachable service is back", min=0.1, max=600
    )
    probe_max_s: float = setting(
        120.0, "longest wait (s) between checks while the service cannot be reached", min=1, max=3600
    )

    answers: tuple[OfflineAnswer, ...] = setting(
        (), "[[offline.answers]]: common questions answered from the cache while offline (id, questions, answer or phrase)"
    )
    answer_min_score: float = setting(
        0.75, "how closely what was heard must match a configured question (0 to 1) before its answer plays; "
        "below it the apology plays", min=0.3, max=1.0,
    )
    learn: bool = setting(
        False, "learn answers from live conversations: a question asked often is kept with its reply's audio "
        "and answered from it offline (list and remove with `edgevoice cache`)"
    )
    learn_min_count: int = setting(3, "times a question must be asked before its learned answer is used offline", min=1, max=1000)
    learn_max: int = setting(20, "most learned answers kept (the least asked go first)", min=1, max=200)
    recogniser_release_s: float = setting(
        300.0, "free the offline recogniser's memory after this many seconds online", min=0, max=86400
    )

    def spoken_texts(self) -> dict[str, str]:
        """Everything rendered and cached in the assistant's voice: the phrases, then ``answer:ID`` texts."""
        texts = dict(self.phrases)
        for entry in self.answers:
            if not entry.phrase:
                texts[entry.sound_name] = " ".join(entry.answer.split())
        return texts

    def check(self) -> None:
        if len(self.answers) > MAX_ANSWERS:
            raise ConfigError("answers", f"has {len(self.answers)} entries; at most {MAX_ANSWERS}")
        seen: set[str] = set()
        for i, entry in enumerate(self.answers):
            if entry.id in seen:
                raise ConfigError(f"answers[{i}].id", f"{entry.id!r} is used by an earlier answer; each id once")
            seen.add(entry.id)
            if entry.phrase and entry.phrase not in self.phrases:
                raise ConfigError(f"answers[{i}].phrase", f"{entry.phrase!r} is not a phrase; known: {', '.join(sorted(self.phrases))}")
        if self.probe_max_s < self.probe_min_s:
            raise ConfigError("probe_max_s", f"{self.probe_max_s:g} is shorter than probe_min_s ({self.probe_min_s:g})")
