"""Recordings for the bench: espeak-ng speech placed at known times in a seeded, noisy room.

Every figure that needs audio is measured on recordings made here, so a run on a Pi hears the
same words at the same moments as a run on a laptop (only espeak-ng's version may differ).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgevoice.audio.wav import write_wav

RATE = 16000
SPEECH_DBFS = -26.0  # a person about a metre from the microphone
ROOM_DBFS = -55.0  # the hum of a quiet room
NOISY_ROOM_DBFS = -45.0  # fans, traffic: a room the kiosk stands in
CHATTER_DBFS = -40.0  # people talking across the room (no wake word)


class BenchError(RuntimeError):
    """A bench run could not measure what it set out to (the message says what went wrong)."""


class Voice:
    """espeak-ng's en-us voice (the one the okay_nabu model hears reliably), trimmed, cached per text."""

    def __init__(self, voice: str = "en-us", speed: int = 160) -> None:
        self.espeak = shutil.which("espeak-ng")
        if self.espeak is None:
            raise BenchError("the bench needs espeak-ng to speak its recordings (apt-get install espeak-ng)")
        self.voice = voice
        self.speed = speed
        self._cache: dict[str, np.ndarray] = {}

    def say(self, text: str) -> np.ndarray:
        """``text`` as float32 samples at 16 kHz (-1..1), leading and trailing silence cut."""
        if text not in self._cache:
            import soxr

            from edgevoice.audio.speech import parse_wav

            assert self.espeak is not None
            wav = subprocess.run([self.espeak, "-v", self.voice, "-s", str(self.speed), "--stdout", text],
                                 capture_output=True, check=True, timeout=30).stdout
            rate, samples = parse_wav(wav)
            y = soxr.resample(samples.astype(np.float32) / 32768.0, rate, RATE).astype(np.float32)
            loud = np.flatnonzero(np.abs(y) > 1e-3)
            self._cache[text] = y[loud[0] : loud[-1] + 1]
        return self._cache[text]

    def seconds(self, text: str) -> float:
        return len(self.say(text)) / RATE


#: Background talkers: distinct espeak-ng voices and speeds, everyday sentences, never a wake word.
BABBLE_VOICES = ("en-us", "en-gb", "en-us+m3", "en-gb-scotland+m1", "en-029", "en-us+f2", "en-gb-x-rp+m6", "en-us-nyc")
BABBLE_LINES = (
    "the market opens at nine and the coffee is hot", "did you see the river this morning",
    "we could take the train to the station later", "my sister called about the garden party",
    "the paper said it would rain all week", "I think the yellow one is better",
    "they were talking about the new window", "can you pass me the letter on the table",
)


def babble(seconds: float, talkers: int = 4, seed: int = 0) -> np.ndarray:
    """People talking at once across a hall: ``talkers`` espeak-ng voices, each saying sentences with
    short pauses from a random moment on, summed with numpy at equal levels; unit RMS, float32."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * RATE))
    voices = {name: Voice(name, 150 + 10 * (i % 3)) for i, name in enumerate(BABBLE_VOICES)}
    out = np.zeros(n, np.float64)
    for i in range(talkers):
        parts, total, j = [], 0, int(rng.integers(len(BABBLE_LINES)))
        while total < n:
            speech = voices[BABBLE_VOICES[(i * 3 + j) % len(BABBLE_VOICES)]].say(BABBLE_LINES[(j * 3 + i) % len(BABBLE_LINES)])
            pause = np.zeros(int(rng.integers(RATE // 16, RATE * 3 // 8)), np.float32)
            parts += [speech, pause]
            total += len(speech) + len(pause)
            j += 1
        talker = np.roll(np.concatenate(parts)[:n].astype(np.float64), int(rng.integers(n)))
        out += talker / (np.sqrt(np.mean(talker**2)) + 1e-12)
    return (out / (np.sqrt(np.mean(out**2)) + 1e-12)).astype(np.float32)


def pink_noise(samples: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with a 1/f spectrum (like a room: more rumble than hiss) at ``dbfs`` RMS."""
    white = rng.standard_normal(samples)
    spectrum = np.fft.rfft(white)
    f = np.fft.rfftfreq(samples, 1 / RATE)
    spectrum[1:] /= np.sqrt(f[1:] / f[1])
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, samples)
    x *= 10 ** (dbfs / 20) / (np.sqrt(np.mean(x**2)) or 1.0)
    return x.astype(np.float32)


@dataclass(frozen=True)
class Placed:
    """Where one utterance sits in a recording, in seconds."""

    text: str
    start: float
    end: float


class Recording:
    """A room of ``seconds`` with utterances placed at exact times; ``write()`` saves it as a WAV."""

    def __init__(self, seconds: float, voice: Voice, *, room_dbfs: float = ROOM_DBFS, seed: int = 0) -> None:
        self.voice = voice
        self.rng = np.random.default_rng(seed)
        self.samples = pink_noise(int(round(seconds * RATE)), room_dbfs, self.rng)
        self.said: list[Placed] = []

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE

    def say(self, at: float, text: str, level_dbfs: float = SPEECH_DBFS, *, record: bool = True) -> Placed:
        """Speak ``text`` starting exactly ``at`` seconds in; returns where it ended up."""
        speech = self.voice.say(text)
        rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2)))
        start = int(round(at * RATE))
        end = start + len(speech)
        if end > len(self.samples):
            raise ValueError(f"{text!r} at {at:.2f} s ends after the recording ({self.seconds:.2f} s)")
        self.samples[start:end] += speech * (10 ** (level_dbfs / 20) / rms)
        placed = Placed(text, start / RATE, end / RATE)
        if record:
            self.said.append(placed)
        return placed

    def add_noise(self, start: float, end: float, dbfs: float) -> None:
        """More room noise (a fan, traffic) between ``start`` and ``end`` seconds."""
        a, b = int(start * RATE), int(end * RATE)
        self.samples[a:b] += pink_noise(b - a, dbfs, self.rng)

    def add_chatter(self, start: float, end: float, lines: tuple[str, ...], dbfs: float = CHATTER_DBFS) -> None:
        """People talking across the room (never the wake word) from ``start`` to ``end`` seconds."""
        at = start
        i = 0
        while True:
            text = lines[i % len(lines)]
            if at + self.voice.seconds(text) > end:
                return
            at = self.say(at, text, dbfs, record=False).end + 0.4
            i += 1

    def add_babble(self, start: float, end: float, dbfs: float, talkers: int = 4, seed: int = 0) -> None:
        """Background talkers (``babble``) at ``dbfs`` RMS from ``start`` to ``end`` seconds."""
        a, b = int(start * RATE), int(end * RATE)
        self.samples[a:b] += babble((b - a) / RATE, talkers, seed)[: b - a] * 10 ** (dbfs / 20)

    def pcm(self) -> bytes:
        return (np.clip(self.samples, -1, 1) * 32767).astype("<i2").tobytes()

    def write(self, path: Path) -> Path:
        write_wav(path, self.pcm())
        return path


def read_output(path: Path) -> tuple[int, np.ndarray]:
    """An output WAV written by ``edgevoice run --output-wav``: its rate and int16 samples."""
    import wave

    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise BenchError(f"{path} is not the mono 16-bit WAV the daemon writes")
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
