"""Answers learned from live conversations (``offline.learn = true``): frequent questions and their replies.

While online, every turn whose reply played to the end is offered with the user's transcript and
the reply's audio. Questions that are "the same" (:func:`edgevoice.offline.matcher.same_question`:
the same content words) share one entry, whose count goes up; the newest reply's audio is kept.
An entry is used offline once it was asked ``learn_min_count`` times. At most ``learn_max``
entries are kept (the least asked, then the oldest, go first), and a reply longer than
``MAX_REPLY_S`` is not kept at all.

Layout, under ``cache_dir/learned/``: the reply audio in a :class:`~edgevoice.offline.cache.
PhraseCache` of its own (checksummed, atomic; named ``learned:ID``), and ``learned.json``
(``{"version": 1, "entries": [{id, question, reply, count, asked_at}]}``) beside it. The audio is
keyed on the assistant's voice like the phrases: after a voice or model change an entry's old
audio is not played (it is dropped when next learned again).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from edgevoice.files import atomic_write
from edgevoice.offline.cache import CacheError, PhraseCache, VoiceKey
from edgevoice.offline.matcher import content_words, same_question
from edgevoice.playback.sound import Sound

logger = logging.getLogger(__name__)

MANIFEST = "learned.json"
VERSION = 1
MAX_REPLY_S = 30.0
PREFIX = "learned:"


@dataclass(frozen=True, slots=True)
class Learned:
    """One learned question: how it was asked, what the assistant replied, how often it was asked."""

    id: str
    question: str
    reply: str
    count: int
    asked_at: str

    @property
    def name(self) -> str:
        """Its answer id for the machine and its name in the cache: ``learned:ID``."""
        return f"{PREFIX}{self.id}"

    @property
    def text(self) -> str:
        """What its audio is keyed on in the cache (the question and the reply)."""
        return f"{self.question}\n{self.reply}"


class LearnedAnswers:
    """The learned answers of one cache directory; thread-safe."""

    def __init__(self, cache_dir: str | Path, voice: VoiceKey, *, max_entries: int = 20, min_count: int = 3) -> None:
        self.directory = Path(cache_dir) / "learned"
        self.voice = voice
        self.max_entries = max_entries
        self.min_count = min_count
        self.audio = PhraseCache(self.directory)
        self._lock = threading.Lock()

    # --- reading ---------------------------------------------------------------------------------

    def entries(self) -> list[Learned]:
        """Every learned question, most asked first."""
        with self._lock:
            return self._read()

    def usable(self) -> list[Learned]:
        """The entries asked often enough to be answered offline."""
        return [e for e in self.entries() if e.count >= self.min_count]

    def sound(self, name: str) -> Sound | None:
        """The reply audio of ``learned:ID`` (None if it is gone or was recorded in another voice)."""
        entry = next((e for e in self.entries() if e.name == name), None)
        if entry is None:
            return None
        try:
            return self.audio.load(entry.name, entry.text, self.voice)
        except CacheError as exc:
            logger.warning("learned answers unusable: %s", exc)
            return None

    # --- writing ---------------------------------------------------------------------------------

    def learn(self, question: str, reply: str, sound: Sound) -> Learned | None:
        """Count a question answered live (its reply played to the end); returns its entry, or None if not kept."""
        question = " ".join(question.split())
        if not content_words(question) or not sound.pcm or sound.duration_ms > MAX_REPLY_S * 1000:
            return None
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            entries = self._read()
            same = next((e for e in entries if same_question(e.question, question)), None)
            if same is not None:
                entry = replace(same, count=same.count + 1, reply=reply, asked_at=now)
                entries = [entry if e.id == same.id else e for e in entries]
            else:
                ident = hashlib.sha256(question.lower().encode()).hexdigest()[:12]
                entry = Learned(ident, question, reply, 1, now)
                entries.append(entry)
            dropped: list[Learned] = []
            if len(entries) > self.max_entries:  # the new question stays; the least asked, oldest others go
                others = sorted((e for e in entries if e.id != entry.id), key=lambda e: (e.count, e.asked_at))
                dropped = others[: len(entries) - self.max_entries]
                entries = [e for e in entries if e not in dropped]
            entries = _most_asked_first(entries)
            self.audio.store(entry.name, entry.text, self.voice, sound)
            self._write(entries)
            self.audio.prune({self.voice.key(e.text) for e in entries})
        for old in dropped:
            logger.info("learned answers: dropped %r (asked %d times; at most %d are kept)", old.question, old.count,
                        self.max_entries)
        logger.info("learned answers: %r asked %d time(s)", entry.question, entry.count)
        return entry

    def forget(self, ident: str) -> Learned | None:
        """Remove one learned answer (``ID`` or ``learned:ID``); returns it, or None if there is none."""
        ident = ident.removeprefix(PREFIX)
        with self._lock:
            entries = self._read()
            gone = next((e for e in entries if e.id == ident), None)
            if gone is None:
                return None
            entries = [e for e in entries if e.id != ident]
            self._write(entries)
            self.audio.prune({self.voice.key(e.text) for e in entries})
        return gone

    # --- the manifest (call with the lock held) ---------------------------------------------------

    def _read(self) -> list[Learned]:
        path = self.directory / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError("not a version 1 file")
            entries = [Learned(**{k: e[k] for k in Learned.__slots__}) for e in data["entries"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("learned answers %s unreadable (%s): starting afresh", path, exc)
            return []
        return _most_asked_first(entries)

    def _write(self, entries: list[Learned]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {"version": VERSION, "entries": [asdict(e) for e in entries]}
        atomic_write(self.directory / MANIFEST, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode())


def _most_asked_first(entries: list[Learned]) -> list[Learned]:
    """Most asked first; among equals, the most recently asked first."""
    newest_first = sorted(entries, key=lambda e: e.asked_at, reverse=True)
    return sorted(newest_first, key=lambda e: -e.count)
