"""The daemon's shell for offline answers: keep the turn's audio, recognise it when asked, play the answer.

The machine asks for ``RecogniseQuestion`` when the service cannot serve a turn; this shell
decodes the turn's audio on a worker thread with the :class:`~edgevoice.offline.recogniser.
QuestionRecogniser`, lets the pure :class:`~edgevoice.offline.matcher.QuestionMatcher` pick the
answer (or none), and posts ``OfflineHeard`` back to the loop. The recogniser is loaded only
once the device is offline (or when first needed), and released after ``recogniser_release_s``
online, so a device that stays online never holds it.

With ``offline.learn``, it also offers every turn answered live to the
:class:`~edgevoice.offline.learned.LearnedAnswers` (the user's transcript, the reply's text and
audio, once the reply played to the end), and listens for the learned questions too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from edgevoice.assistant import events as E
from edgevoice.config.offline import OfflineConfig
from edgevoice.offline.learned import PREFIX as LEARNED, LearnedAnswers
from edgevoice.offline.matcher import QuestionMatcher
from edgevoice.offline.phrases import PhraseBook
from edgevoice.offline.recogniser import QuestionRecogniser, RecogniserError
from edgevoice.playback.sound import Sound

logger = logging.getLogger(__name__)

MAX_QUESTION_S = 15.0  # the audio kept of one turn (a question is a few seconds)
_BYTES_PER_S = 32000


class OfflineAnswers:
    """Answers the kiosk's common questions by itself while offline, in the assistant's cached voice."""

    def __init__(
        self,
        config: OfflineConfig,
        phrases: PhraseBook,
        *,
        post: Callable[[object], None],
        recogniser: Callable[[list[str]], Any] = QuestionRecogniser,
        clock: Callable[[], float] = time.monotonic,
        learned: LearnedAnswers | None = None,
        rate: int = 16000,
    ) -> None:
        self.entries = {entry.id: entry for entry in config.answers}
        self.learned = learned
        self.min_score = config.answer_min_score
        self.rate = rate  # of the reply audio (learned answers)
        self.matcher = self._matcher()
        self.release_s = config.recogniser_release_s
        self.phrases = phrases
        self.last_cpu_s: float | None = None  # CPU of the last recognition (bench)
        self._post = post
        self._make = recogniser
        self._clock = clock
        self._audio = bytearray()
        self._lock = threading.Lock()  # guards the recogniser between the loop, the loader and the worker
        self._recogniser: Any = None
        self._loading = False
        self._online_since: float | None = None
        # The live turn being learned: the user's words, the reply's text and audio, whether it played out.
        self._question = ""
        self._reply_text = ""
        self._reply = bytearray()
        self._reply_done = False

    def _matcher(self) -> QuestionMatcher:
        questions: dict[str, Any] = {e.id: e.questions for e in self.entries.values()}
        if self.learned is not None:
            questions.update({e.name: [e.question] for e in self.learned.usable()})
        return QuestionMatcher(questions, min_score=self.min_score)

    @property
    def enabled(self) -> bool:
        """Answers are configured or learned (otherwise nothing is kept or loaded)."""
        return bool(self.entries) or self.learned is not None

    @property
    def loaded(self) -> bool:
        """The recogniser is in memory."""
        return self._recogniser is not None

    # --- the loop thread ---------------------------------------------------------------------

    def begin(self) -> None:
        """A turn starts: forget the audio of the one before (and a live turn that was not learned)."""
        self._audio.clear()
        self.forget_turn()

    def forget_turn(self) -> None:
        """The live turn will not be learned (a barge-in cut its reply): forget its question and reply."""
        self._question, self._reply_text, self._reply_done = "", "", False
        self._reply.clear()

    # --- learning from live turns (loop thread) ---------------------------------------------------

    def transcript(self, role: str, text: str) -> None:
        """A transcript of this turn: the user's question, or the assistant's reply text."""
        if self.learned is None:
            return
        if role == "user":
            self._question = text
        else:
            self._reply_text = text
        self._maybe_learn()

    def reply_audio(self, pcm: bytes) -> None:
        """Audio of the live reply as it is queued on the speaker."""
        if self.learned is not None and len(self._reply) < 30 * 2 * self.rate:
            self._reply.extend(pcm)

    def reply_played(self) -> None:
        """The live reply played to the end (not cut off, not interrupted)."""
        if self.learned is not None:
            self._reply_done = True
            self._maybe_learn()

    def _maybe_learn(self) -> None:
        learned = self.learned
        if learned is None or not (self._reply_done and self._question and self._reply):
            return
        question, text, sound = self._question, self._reply_text, Sound(bytes(self._reply), self.rate)
        self._question, self._reply_text, self._reply_done = "", "", False
        self._reply.clear()

        def run() -> None:
            try:
                learned.learn(question, text, sound)
            except Exception:
                logger.exception("learning an answer failed")

        threading.Thread(target=run, name="offline-learn", daemon=True).start()

    def hear(self, pcm: bytes) -> None:
        """Audio of the turn (what the gate lets through), kept for recognition if the service cannot take it."""
        if self.enabled and len(self._audio) < MAX_QUESTION_S * _BYTES_PER_S:
            self._audio.extend(pcm)

    def upkeep(self, *, offline: bool) -> None:
        """Once per loop round: load the recogniser when the device goes offline, release it after a while online."""
        if not self.enabled:
            return
        if offline:
            self._online_since = None
            if self._recogniser is None and not self._loading:
                self._loading = True
                threading.Thread(target=self._load_quietly, name="offline-recogniser", daemon=True).start()
            return
        if self._recogniser is None:
            return
        now = self._clock()
        if self._online_since is None:
            self._online_since = now
        elif now - self._online_since >= self.release_s:
            self.release()
            logger.info("offline recogniser released (online for %.0f s)", self.release_s)

    def recognise(self) -> None:
        """Recognise the turn's question on a worker thread; ``OfflineHeard`` follows (always)."""
        pcm = bytes(self._audio)
        self._audio.clear()
        threading.Thread(target=self._recognise, args=(pcm,), name="offline-question", daemon=True).start()

    def sound(self, answer: str) -> Sound:
        """The audio of an answer: cached in the assistant's voice, else the local voice."""
        if answer.startswith(LEARNED) and self.learned is not None:
            sound = self.learned.sound(answer)
            if sound is None:
                logger.warning("learned answer %s is gone; apologising instead", answer)
                return self.phrases.get("offline")
            return sound
        entry = self.entries.get(answer)
        if entry is None:
            raise KeyError(f"no offline answer {answer!r}")
        return self.phrases.get(entry.sound_name)

    def release(self) -> None:
        """Free the recogniser (online for a while: it is not needed)."""
        with self._lock:
            recogniser, self._recogniser = self._recogniser, None
        if recogniser is not None:
            recogniser.close()
        self._online_since = None

    def close(self) -> None:
        self.release()

    # --- worker threads ----------------------------------------------------------------------

    def _loaded(self) -> Any:
        with self._lock:
            if self.learned is not None:
                matcher = self._matcher()  # learned questions may have come (or gone) since
                if matcher.sentences() != self.matcher.sentences() and self._recogniser is not None:
                    self._recogniser.close()
                    self._recogniser = None
                self.matcher = matcher
            if self._recogniser is None:
                self._recogniser = self._make(self.matcher.sentences())
            return self._recogniser

    def _load_quietly(self) -> None:
        try:
            self._loaded()
        except RecogniserError as exc:
            logger.error("offline answers unavailable: %s", exc)
        except Exception:
            logger.exception("loading the offline recogniser failed")
        finally:
            self._loading = False

    def _recognise(self, pcm: bytes) -> None:
        event = E.OfflineHeard()
        try:
            if len(pcm) < 0.2 * _BYTES_PER_S:
                logger.info("offline question: too little audio to recognise (%.2f s)", len(pcm) / _BYTES_PER_S)
            else:
                recogniser = self._loaded()
                heard = recogniser.recognise(pcm)
                self.last_cpu_s = heard.cpu_s
                match = self.matcher.decide(heard.text)
                logger.info("offline question: heard %r (score %.2f, %.0f ms CPU for %.1f s): %s", heard.text,
                            match.score, heard.cpu_s * 1000, len(pcm) / _BYTES_PER_S,
                            f"answer {match.answer!r}" if match.answered else "apology")
                event = E.OfflineHeard(match.answer, heard.text, match.score)
        except RecogniserError as exc:
            logger.error("offline answers unavailable: %s", exc)
        except Exception:
            logger.exception("recognising an offline question failed; apologising instead")
        self._post(event)
