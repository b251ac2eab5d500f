"""The cached phrases the assistant plays when the service cannot answer, and where their audio comes from.

Each phrase's audio is, in order of preference: the phrase rendered in the assistant's own voice
through Voice Live (read from the phrase cache, checksum verified), else a packaged fallback:
espeak-ng speech when it is installed, else a clear tone pattern, so a fresh device that has never
been online still answers. Everything is loaded or rendered once, in the background at start-up,
so an offline reply starts at once; ``reload()`` picks up phrases rendered later (``warm``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from edgevoice.config.offline import DEFAULT_PHRASES
from edgevoice.offline.cache import CacheError, PhraseCache, VoiceKey
from edgevoice.playback.sound import Sound

logger = logging.getLogger(__name__)

FALLBACK_RATE = 16000
# Texts said in the local voice that are not phrases (announcements while offline) are kept, most
# recent first, up to this much audio (about a minute at 16 kHz): each new text would otherwise stay.
SAID_CACHE_BYTES = 2 * 1024 * 1024
CACHED = "cache"  # PhraseBook.source_of(): the assistant's own voice


class PhraseBook:
    """Audio for each phrase, looked up instantly: the assistant's voice if cached, else a local voice.

    ``cache`` and ``voice`` name where rendered phrases are kept and which voice they must be in;
    without them only the local voice is used.
    """

    def __init__(
        self,
        texts: Mapping[str, str] = DEFAULT_PHRASES,
        *,
        cache: PhraseCache | None = None,
        voice: VoiceKey | None = None,
        rate: int = FALLBACK_RATE,
        speech: Any = None,
    ) -> None:
        from edgevoice.audio.speech import Speech  # numpy/soxr: loaded with the daemon, not by `check`

        self.texts = {str(k): v for k, v in texts.items()}
        self.rate = rate
        self.cache = cache if voice is not None else None
        self.voice = voice
        # espeak-ng if installed, else tones; the phrases themselves are held in _sounds
        self._speech = speech if speech is not None else Speech(cache_bytes=SAID_CACHE_BYTES)
        self._sounds: dict[str, Sound] = {}
        self._cached: set[str] = set()  # phrases whose sound is the assistant's own voice
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._prepare_all, name="phrases", daemon=True)
        self._thread.start()

    @property
    def fallback(self) -> str:
        """Where the local audio comes from: "espeak-ng" or "tones"."""
        return "espeak-ng" if self._speech.real else "tones"

    def source_of(self, phrase: str) -> str:
        """"cache" (the assistant's voice) or the fallback ("espeak-ng", "tones") for one phrase."""
        with self._lock:
            return CACHED if phrase in self._cached else self.fallback

    def missing(self) -> list[str]:
        """Phrases not (yet) available in the assistant's own voice."""
        with self._lock:
            return [name for name in self.texts if name not in self._cached]

    def _prepare_all(self) -> None:
        self.reload()
        for phrase in self.texts:
            self.get(phrase)
        self._ready.set()
        logger.debug("cached phrases ready (%d in the assistant's voice, the rest %s)", len(self._cached), self.fallback)

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def reload(self) -> int:
        """Read the phrases the cache holds for this voice (after a warm-up); returns how many there are."""
        if self.cache is None or self.voice is None:
            return 0
        found = 0
        for name, text in self.texts.items():
            try:
                sound = self.cache.load(name, text, self.voice)
            except CacheError as exc:
                logger.warning("phrase cache unusable, using the local voice: %s", exc)
                return found
            if sound is not None:
                self.put(name, sound)
                found += 1
        return found

    def put(self, phrase: str, sound: Sound) -> None:
        """Use ``sound`` (rendered in the assistant's voice) for ``phrase`` from now on."""
        with self._lock:
            self._sounds[phrase] = sound
            self._cached.add(phrase)

    def say(self, text: str) -> Sound:
        """``text`` on the device: the phrase with that text (in the assistant's voice once cached), else
        ``text`` rendered now by the local voice (espeak-ng, else tones)."""
        wanted = " ".join(text.lower().split())
        for name, phrase_text in self.texts.items():
            if " ".join(phrase_text.lower().split()) == wanted:
                return self.get(name)
        return Sound(self._speech.render(text, self.rate), self.rate)

    def get(self, phrase: str) -> Sound:
        """The phrase's audio (rendered now, locally, if the background pass has not reached it yet)."""
        with self._lock:
            sound = self._sounds.get(phrase)
        if sound is not None:
            return sound
        text = self.texts.get(phrase) or DEFAULT_PHRASES.get(phrase) or "Sorry."
        sound = Sound(self._speech.render(text, self.rate), self.rate)
        with self._lock:
            return self._sounds.setdefault(phrase, sound)
