"""The echo guard: while a reply plays, only speech louder than the device's own echo barges in.

Without echo cancellation on the device, the microphone hears the reply coming back from the
speaker, and the VAD takes that for the user talking. The guard compares what the microphone
hears with what the speaker is playing: a reply played at ``L`` dBFS comes back at about
``L + coupling_db`` (the room and the hardware decide how much quieter; measure it once per
kiosk). Speech counts as barge-in only when, over the last ``min_speech_ms``,

* the VAD called at least 3/4 of the frames speech (sustained: a click or a knock is not the
  user), and
* at least half of the frames were speech ``margin_db`` louder than the echo expected from what
  the speaker played then (loud: the device's own voice is not the user; counting frames rather
  than averaging power, one loud click over the echo cannot carry the whole window).

The speaker's level is the loudest block of the last 200 ms it rendered (see
:attr:`edgevoice.playback.output.ReplyOutput.level`), which covers the delay before the echo
comes back and its reverb, so a quieter syllable of the reply does not lower the bar while the
echo of a louder one is still in the room.

It is pure and cheap: one mean square per 10 ms frame and a short ring of numbers; the daemon
feeds it every frame with the speaker's current level and asks :meth:`EchoGuard.barge_in`.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from edgevoice.audio.frames import FRAME_SECONDS

#: Of the frames in the window, at least this share must be voiced (speech has short gaps) ...
VOICED_SHARE = 0.75
#: ... and at least this share voiced and louder than the expected echo (syllables vary in level).
LOUD_SHARE = 0.5
#: A wake word heard while the device plays counts only with this much loud speech (frames) in the
#: last WAKE_WINDOW frames (a wake word lasts about 0.8 s): the reply's own echo never has it.
WAKE_LOUD_FRAMES, WAKE_WINDOW = 20, 120
_FULL_SCALE = 32768.0


def power_of(pcm: bytes | np.ndarray) -> float:
    """Mean square of 16-bit PCM, full scale = 1.0 (0.0 for nothing)."""
    samples = np.frombuffer(pcm, "<i2") if isinstance(pcm, (bytes, bytearray, memoryview)) else pcm
    if not len(samples):
        return 0.0
    x = samples.astype(np.float32) / _FULL_SCALE
    return float(np.dot(x, x)) / len(x)


def dbfs(power: float) -> float:
    """A mean square as dB relative to full scale (-inf for silence)."""
    return 10.0 * math.log10(power) if power > 0 else -math.inf


def power_from_dbfs(level: float) -> float:
    return 0.0 if level == -math.inf else 10.0 ** (level / 10.0)


class EchoGuard:
    """Decides whether speech heard while the device talks is the user (barge-in) or its own echo."""

    def __init__(self, *, min_speech_ms: float = 80.0, coupling_db: float = -20.0, margin_db: float = 6.0) -> None:
        if min_speech_ms < FRAME_SECONDS * 1000:
            raise ValueError(f"min_speech_ms must be at least one frame ({FRAME_SECONDS * 1000:.0f} ms)")
        self.frames = max(1, round(min_speech_ms / 1000 / FRAME_SECONDS))  #: the window, in frames
        self.coupling_db = coupling_db
        self.margin_db = margin_db
        self._factor = 10.0 ** ((coupling_db + margin_db) / 10.0)  # expected echo x margin, as a power ratio
        self._mic: deque[float] = deque(maxlen=self.frames)
        self._played: deque[float] = deque(maxlen=self.frames)
        self._voiced: deque[bool] = deque(maxlen=self.frames)
        self._loud: deque[bool] = deque(maxlen=self.frames)  # voiced and above the expected echo
        self._wake_loud: deque[bool] = deque(maxlen=WAKE_WINDOW)  # the same, over a wake word's length

    @classmethod
    def from_config(cls, assistant) -> EchoGuard:  # assistant: edgevoice.config.assistant.AssistantConfig
        """The guard described by the [assistant] table."""
        return cls(min_speech_ms=assistant.barge_in_min_speech_ms, coupling_db=assistant.echo_coupling_db,
                   margin_db=assistant.barge_in_margin_db)

    def echo_floor(self, played_power: float) -> float:
        """The microphone level (mean square) that the device's own sound playing at ``played_power`` can
        explain: quieter frames are taken for its echo, whatever plays (a reply, a chime, a cached phrase)."""
        return played_power * self._factor

    def hear(self, frame: bytes, voiced: bool, played_power: float) -> None:
        """One 10 ms frame of the microphone (see :meth:`update`): its level is worked out only when a
        verdict depends on it, a voiced frame over the device's own sound (a quiet room stays cheap)."""
        self.update(power_of(frame) if voiced and played_power > 0.0 else None, voiced, played_power)

    def update(self, mic_power: float | None, voiced: bool, played_power: float) -> None:
        """One 10 ms frame: the microphone's mean square, the VAD's verdict on it, and the mean
        square the speaker is playing now (0.0 when silent).

        ``mic_power`` may be None (not worked out) when the speaker is silent or the frame unvoiced:
        nothing then depends on it, since a voiced frame over silence is louder than any echo.
        """
        if mic_power is not None:
            self._mic.append(mic_power)
        self._voiced.append(voiced)
        self._played.append(played_power)
        loud = voiced and (mic_power > played_power * self._factor if mic_power is not None else played_power <= 0.0)
        self._loud.append(loud)
        self._wake_loud.append(loud)

    def barge_in(self) -> bool:
        """The last ``min_speech_ms`` were sustained speech louder than the expected echo."""
        if len(self._voiced) < self.frames:
            return False
        return sum(self._voiced) >= VOICED_SHARE * self.frames and sum(self._loud) >= LOUD_SHARE * self.frames

    def wake_over_echo(self) -> bool:
        """A wake word just detected was said over the device's own sound, louder than its echo (not
        the echo itself: a reply that says the wake word, or sounds like it)."""
        return sum(self._wake_loud) >= WAKE_LOUD_FRAMES

    @property
    def threshold_dbfs(self) -> float:
        """The mean microphone level the last window was held to (for logs)."""
        played = sum(self._played) / len(self._played) if self._played else 0.0
        return dbfs(played * self._factor)

    @property
    def mic_dbfs(self) -> float:
        """The microphone's level over the last window (for logs)."""
        return dbfs(sum(self._mic) / len(self._mic)) if self._mic else -math.inf

    def reset(self) -> None:
        """Forget the window (a new reply starts afresh)."""
        self._mic.clear()
        self._played.clear()
        self._voiced.clear()
        self._loud.clear()
        self._wake_loud.clear()
