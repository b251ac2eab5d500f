"""The cached phrases the assistant plays when the service cannot answer, and where their audio comes from.

Until replies rendered in the assistant's own voice are cached (``edgevoice cache warm``), a
packaged fallback stands in: espeak-ng speech when it is installed, else a clear tone pattern,
so a fresh device that has never been online still answers. Everything is rendered once, in
the background at start-up, so an offline reply starts at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from types import MappingProxyType

from edgevoice.assistant.actions import Phrase
from edgevoice.playback.sound import Sound

logger = logging.getLogger(__name__)

#: What each phrase says.
PHRASE_TEXT: Mapping[Phrase, str] = MappingProxyType(
    {
        Phrase.OFFLINE: "Sorry, I can't reach the internet right now. Please try again in a moment.",
        Phrase.BUSY: "I'm a bit busy right now. Please try again in a minute.",
        Phrase.SERVICE_ERROR: "Sorry, something went wrong. Please try again.",
    }
)

FALLBACK_RATE = 16000


class PhraseBook:
    """Audio for each phrase: rendered locally in the background, looked up instantly when needed."""

    def __init__(self, texts: Mapping[Phrase, str] = PHRASE_TEXT, *, rate: int = FALLBACK_RATE) -> None:
        from edgevoice.audio.speech import Speech  # numpy/soxr: loaded with the daemon, not by `check`

        self.texts = dict(texts)
        self.rate = rate
        self._speech = Speech()
        self._sounds: dict[Phrase, Sound] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._render_all, name="phrases", daemon=True)
        self._thread.start()

    @property
    def source(self) -> str:
        """Where the fallback audio comes from: "espeak-ng" or "tones"."""
        return "espeak-ng" if self._speech.real else "tones"

    def _render_all(self) -> None:
        for phrase in self.texts:
            self.get(phrase)
        self._ready.set()
        logger.debug("cached phrases ready (%s)", self.source)

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def get(self, phrase: Phrase) -> Sound:
        """The phrase's audio (rendered now if the background pass has not reached it yet)."""
        with self._lock:
            sound = self._sounds.get(phrase)
        if sound is not None:
            return sound
        text = self.texts.get(phrase, PHRASE_TEXT.get(phrase, "Sorry."))
        sound = Sound(self._speech.render(text, self.rate), self.rate)
        with self._lock:
            self._sounds.setdefault(phrase, sound)
        return sound
