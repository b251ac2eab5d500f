"""Server-side voice activity detection: webrtcvad frame decisions and a turn detector over them.

Everything is measured on the session's audio clock (milliseconds of audio received), never the
wall clock, so a client may stream faster than real time and still get the same events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

FRAME_MS = 30
_VAD_RATE = 16000
_VAD_FRAME = _VAD_RATE * FRAME_MS // 1000
MIN_SPEECH_MS = 90  # a run of voiced frames this long starts speech (ignores clicks)


def vad_mode(threshold: float) -> int:
    """Map the service's 0..1 ``threshold`` (higher = less sensitive) to webrtcvad aggressiveness 0..3."""
    return max(0, min(3, int(threshold * 4)))


class VoiceActivity:
    """Splits audio into 30 ms frames and says, per frame, whether it holds speech."""

    def __init__(self, sample_rate: int, threshold: float = 0.5) -> None:
        self.sample_rate = sample_rate
        self._frame = sample_rate * FRAME_MS // 1000
        self._vad = webrtcvad.Vad(vad_mode(threshold))
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames = 0
        self._src_x = np.arange(self._frame, dtype=np.float64)
        self._dst_x = np.linspace(0, self._frame - 1, _VAD_FRAME)

    def set_threshold(self, threshold: float) -> None:
        self._vad.set_mode(vad_mode(threshold))

    def feed(self, samples: np.ndarray) -> list[bool]:
        """Decisions for every whole frame completed by ``samples`` (the remainder waits for more)."""
        data = np.concatenate([self._pending, samples]) if self._pending.size else samples
        count = data.size // self._frame
        decisions = []
        for i in range(count):
            frame = data[i * self._frame : (i + 1) * self._frame]
            if self.sample_rate != _VAD_RATE:
                frame = np.interp(self._dst_x, self._src_x, frame).astype(np.int16)
            decisions.append(self._vad.is_speech(frame.astype("<i2").tobytes(), _VAD_RATE))
        self._pending = data[count * self._frame :].copy()
        self._frames += count
        return decisions

    @property
    def decided_ms(self) -> int:
        """Audio clock at the end of the last frame decided (frames start at 0 ms)."""
        return self._frames * FRAME_MS


@dataclass(frozen=True)
class VadSpeechStarted:
    """Speech began; ``audio_start_ms`` already includes the prefix padding."""

    audio_start_ms: int


@dataclass(frozen=True)
class VadSpeechStopped:
    """Speech ended; ``audio_end_ms`` includes the trailing silence, ``speech_ms`` does not."""

    audio_end_ms: int
    speech_ms: int


class TurnDetector:
    """Turns per-frame speech decisions into speech_started/speech_stopped, as server_vad does."""

    def __init__(
        self,
        *,
        prefix_padding_ms: int = 400,
        silence_duration_ms: int = 500,
        min_speech_ms: int = MIN_SPEECH_MS,
        start_ms: float = 0.0,
    ) -> None:
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.min_speech_ms = max(FRAME_MS, min_speech_ms)
        self.in_speech = False
        self._now = start_ms  # audio clock at the end of the last frame seen
        self._run_start: float | None = None
        self._speech_end = 0.0
        self._silence_ms = 0.0

    def feed(self, decisions: list[bool]) -> list[VadSpeechStarted | VadSpeechStopped]:
        events: list[VadSpeechStarted | VadSpeechStopped] = []
        for voiced in decisions:
            frame_start, self._now = self._now, self._now + FRAME_MS
            if not self.in_speech:
                if not voiced:
                    self._run_start = None
                    continue
                if self._run_start is None:
                    self._run_start = frame_start
                if self._now - self._run_start >= self.min_speech_ms:
                    self.in_speech = True
                    self._speech_end = self._now
                    self._silence_ms = 0.0
                    events.append(VadSpeechStarted(int(max(0.0, self._run_start - self.prefix_padding_ms))))
            elif voiced:
                self._speech_end = self._now
                self._silence_ms = 0.0
            else:
                self._silence_ms += FRAME_MS
                if self._silence_ms >= self.silence_duration_ms:
                    assert self._run_start is not None
                    events.append(VadSpeechStopped(int(self._now), int(self._speech_end - self._run_start)))
                    self.in_speech = False
                    self._run_start = None
        return events
