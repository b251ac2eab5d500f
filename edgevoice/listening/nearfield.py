"""Near-field listening: the person who opened the gate is the one to listen to, not the room.

webrtcvad hears any talker as speech, the people chatting across a hall included, so on its own
an utterance never ends while others talk. ``NearField`` follows the level of the visitor (from
their wake word, then their words) and calls voiced frames more than ``margin_db`` below it
background: they neither keep an utterance going nor start a follow-up.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from edgevoice.audio.frames import FRAME_SECONDS

#: The visitor's level is their loud syllables: the 90th percentile of their voiced frames. It is
#: tracked as a quantile: up UP dB on a louder frame, down DOWN dB on a softer one (UP/DOWN = 9).
UP_DB, DOWN_DB = 0.45, 0.05
QUANTILE = 0.9
#: How far back the wake word is looked for when the gate opens.
HISTORY_S = 1.5
#: A word fades out below the margin before it ends: voiced frames running on from the visitor's
#: speech without a break still count as theirs this long (background talkers under them make the
#: end of an utterance at most this late).
TAIL_FRAMES = 20
_FULL_SCALE = 32768.0 * 32768.0
_FLOOR_DB = -120.0


def frame_dbfs(power: float) -> float:
    """Mean square of int16 samples as dB relative to full scale."""
    return 10.0 * math.log10(power / _FULL_SCALE) if power > 0 else _FLOOR_DB


class NearField:
    """Tracks the level of the person talking to the device; voiced frames far below it are the room.

    ``hear(frame, voiced, tracking)`` is called on every frame with the VAD's verdict and returns
    whether the frame is the visitor's speech. While no level is known (``margin_db`` 0, or nobody
    has talked to the device yet) every voiced frame is. ``lock_on()`` when the gate opens on a
    wake word takes the level of that wake word; ``learn()`` (push-to-talk) starts from the next
    words. With ``tracking`` (the gate is open) the level follows the visitor's own frames.
    """

    __slots__ = ("margin_db", "level_db", "db", "_history", "_last_power", "_tail", "tail_frames")

    def __init__(self, margin_db: float = 7.0) -> None:
        if margin_db < 0:
            raise ValueError(f"near-field margin {margin_db!r} dB is negative")
        self.margin_db = float(margin_db)
        self.level_db: float | None = None  #: the visitor's level (dBFS), None while unknown
        self.db = _FLOOR_DB  #: the level of the last voiced frame (dBFS, over the last 20 ms)
        self._history: deque[float | None] = deque(maxlen=round(HISTORY_S / FRAME_SECONDS))
        self._last_power: float | None = None
        self._tail = 0  # frames of the visitor's fading word still to come
        self.tail_frames = TAIL_FRAMES

    @property
    def enabled(self) -> bool:
        return self.margin_db > 0

    @property
    def threshold_db(self) -> float | None:
        """Voiced frames below this level are background (None: every voiced frame counts)."""
        return None if self.level_db is None or not self.enabled else self.level_db - self.margin_db

    def hear(self, frame: bytes, voiced: bool, tracking: bool, speaking: bool = False) -> bool:
        """One frame (raw microphone audio) and the VAD's verdict on it: is it the visitor speaking?

        ``speaking``: the visitor was speaking up to this frame; only then does a word's fading end
        count as theirs (background alone never starts speech that way).
        """
        if not self.enabled:
            return voiced
        if not voiced:  # (the level of a frame is only worked out when it is voiced: a quiet room is cheap)
            self._history.append(None)
            self._last_power = None
            self._tail = 0
            return False
        x = np.frombuffer(frame, dtype="<i2").astype(np.float32)
        power = float(np.dot(x, x)) / len(x)
        last = power if self._last_power is None else self._last_power
        db = self.db = frame_dbfs((power + last) * 0.5)  # over 20 ms: one loud frame is no word
        self._last_power = power
        self._history.append(db)
        level = self.level_db
        if level is None:
            if tracking:
                self.level_db = db
            return True
        if db < level - self.margin_db:
            if self._tail > 0 and speaking:  # the end of the visitor's word, fading
                self._tail -= 1
                return True
            return False
        self._tail = self.tail_frames
        if tracking:
            self.level_db = level + (UP_DB if db > level else -DOWN_DB)
        return True

    def lock_on(self) -> None:
        """The gate opened on a wake word: its speaker is the visitor; their level is that of the
        voiced frames of the last ``HISTORY_S`` (the wake word, and perhaps the room before it)."""
        voiced = sorted(d for d in self._history if d is not None)
        if voiced:
            self.level_db = voiced[min(len(voiced) - 1, int(QUANTILE * len(voiced)))]
        else:
            self.level_db = None

    def learn(self) -> None:
        """The gate opened without a wake word (a button): learn the visitor's level from their words."""
        self.level_db = None

    def forget(self) -> None:
        """Nothing carries over (after mute)."""
        self.level_db = None
        self._history.clear()
        self._last_power = None
        self._tail = 0


#: The audio sent stays at full level this long after the visitor's last voiced frame: soft word
#: endings and the short pauses between words go out as they were said.
HANGOVER_S = 0.25


class BackgroundAttenuator:
    """Turns the audio sent down by ``attenuation_db`` between the visitor's words.

    For a service that finds the end of a turn itself (server VAD): the room goes on talking after
    the visitor stops, and the service would hear it as more of their turn. ``process(pcm, voiced)``
    takes each frame sent and whether the visitor is speaking in it; the gain moves in a straight
    line across a frame, so no click is heard where it changes.
    """

    __slots__ = ("attenuation_db", "_low", "_gain", "_hangover", "_since_voiced")

    def __init__(self, attenuation_db: float) -> None:
        if attenuation_db <= 0:
            raise ValueError(f"attenuation {attenuation_db!r} dB must be above 0")
        self.attenuation_db = float(attenuation_db)
        self._low = 10.0 ** (-attenuation_db / 20.0)
        self._gain = 1.0
        self._hangover = round(HANGOVER_S / FRAME_SECONDS)
        self._since_voiced = self._hangover  # the gate opens on speech: start at full level

    def start(self, speaking: bool, preroll: bytes) -> bytes:
        """The gate opened; ``speaking``: the visitor is (the wake word, a follow-up) or not (the gate
        opened again while the room talks on). Returns the pre-roll, turned down if they are not."""
        self._since_voiced = 0 if speaking else self._hangover + 1
        self._gain = 1.0 if speaking else self._low
        if speaking or not preroll:
            return preroll
        x = np.frombuffer(preroll, dtype="<i2").astype(np.float32) * self._low
        return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()

    def process(self, pcm: bytes, voiced: bool) -> bytes:
        """One frame sent; ``voiced``: the visitor speaks in it (after the VAD's speech start)."""
        self._since_voiced = 0 if voiced else self._since_voiced + 1
        target = 1.0 if self._since_voiced <= self._hangover else self._low
        gain = self._gain
        if gain == 1.0 and target == 1.0:
            return pcm
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        if gain == target:
            x *= gain
        else:
            x *= np.linspace(gain, target, len(x), endpoint=False, dtype=np.float32)
            self._gain = target
        return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()
