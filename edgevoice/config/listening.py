"""The [audio], [listening] and [buttons] tables: what the device hears and how it decides to listen.

Nothing here imports numpy or the audio libraries, so ``edgevoice check`` stays fast; the names
of the built-in wake words are repeated below (a test keeps them equal to pymicro-wakeword's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgevoice.config.errors import ConfigError
from edgevoice.config.fields import setting

#: The wake word models that ship with pymicro-wakeword (``pymicro_wakeword.Model``).
BUILTIN_WAKE_WORDS: tuple[str, ...] = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft")

#: ``listening.wake.sensitivity``: the cutoff each preset gives each built-in model, chosen from the
#: curves of detection rate against false accepts per hour that ``python -m edgevoice.bench.wake``
#: draws from the corpus of ``scripts/make_corpus.py`` (README: "Wake word sensitivity"). default:
#: the model's own cutoff (no false accept in the corpus's everyday audio there); strict: halfway
#: from it to 0.99; sensitive: the lowest cutoff with at most one false accept in that audio
#: (0.6/h), at most 0.25 below default; very_sensitive: at most three (1.8/h), at most 0.5 below.
#: A custom model (model_files) takes its own cutoff at every preset but strict.
SENSITIVITIES: tuple[str, ...] = ("strict", "default", "sensitive", "very_sensitive")
SENSITIVITY_CUTOFFS: dict[str, dict[str, float]] = {
    "strict": {"okay_nabu": 0.92, "hey_jarvis": 0.98, "alexa": 0.95, "hey_mycroft": 0.97},
    "default": {"okay_nabu": 0.85, "hey_jarvis": 0.97, "alexa": 0.90, "hey_mycroft": 0.95},
    "sensitive": {"okay_nabu": 0.62, "hey_jarvis": 0.72, "alexa": 0.65, "hey_mycroft": 0.87},
    "very_sensitive": {"okay_nabu": 0.50, "hey_jarvis": 0.47, "alexa": 0.40, "hey_mycroft": 0.45},
}


def preset_cutoff(sensitivity: str, name: str, own: float) -> float:
    """The cutoff a model takes at a sensitivity preset (``own``: the cutoff its file gives it)."""
    table = SENSITIVITY_CUTOFFS[sensitivity]
    if name in table:
        return table[name]
    return round((own + 0.99) / 2, 2) if sensitivity == "strict" else own


def model_file_problem(path: str | Path) -> str | None:
    """What is wrong with a microWakeWord model JSON (and the .tflite it names), or None.

    Checked before TensorFlow Lite sees the file: it crashes the process on a model it cannot load.
    """
    path = Path(path)
    if path.suffix != ".json":
        return "not a microWakeWord model JSON file (the .json next to the .tflite)"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    except ValueError as exc:
        return f"not valid JSON ({exc})"
    micro = config.get("micro") if isinstance(config, dict) else None
    if (not isinstance(micro, dict) or not isinstance(config.get("model"), str) or "wake_word" not in config
            or "probability_cutoff" not in micro or "sliding_window_size" not in micro):
        return ("not a microWakeWord model file (needs model, wake_word, micro.probability_cutoff and "
                "micro.sliding_window_size)")
    tflite = path.parent / config["model"]
    try:
        with open(tflite, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        return f"its model file {str(tflite)!r}: {exc.strerror or exc}"
    if len(head) < 8 or head[4:8] != b"TFL3":
        return f"{str(tflite)!r} is not a TensorFlow Lite model"
    return None


def parse_device(raw: Any, key: str) -> str | int:
    """A device is a name substring (string) or a PortAudio index (integer >= 0)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ConfigError(key, f"{raw!r} is not a device: give a name substring (string) or an index (integer)")
    if isinstance(raw, int):
        if raw < 0:
            raise ConfigError(key, f"{raw!r} is not a device index: indexes start at 0 (see `edgevoice devices`)")
        return raw
    if not raw.strip():
        raise ConfigError(key, "empty device name: use \"default\" for the system default device")
    return raw


def parse_pin(raw: Any, key: str) -> int | str:
    """A GPIO pin as gpiozero names it: a BCM number (17) or a name ("GPIO17", "BOARD11")."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ConfigError(key, f"{raw!r} is not a GPIO pin: give a BCM number like 17 or a name like \"GPIO17\"")
    if isinstance(raw, int) and not 0 <= raw <= 53:
        raise ConfigError(key, f"{raw!r} is not a GPIO pin: BCM numbers are 0-53")
    if isinstance(raw, str) and not raw.strip():
        raise ConfigError(key, "empty pin name: leave the key out for no button")
    return raw


@dataclass(frozen=True)
class AudioConfig:
    """Which sound devices to use and how to notice that the microphone stopped working."""

    input_device: str | int = setting(
        "default", "microphone: a name substring or an index from `edgevoice devices`", parse=parse_device
    )
    output_device: str | int = setting(
        "default", "speaker: a name substring or an index from `edgevoice devices`", parse=parse_device
    )
    input_sample_rate: int | None = setting(
        None, "rate to open the microphone at; unset = 16000 if supported, else the device's own rate "
        "(resampled to 16 kHz)", min=8000, max=192000
    )
    buffer_ms: int = setting(20, "audio delivered per device callback, in ms (more = less CPU, more latency)",
                             min=10, max=200)
    stall_timeout_s: float = setting(
        2.0, "a microphone that delivers nothing, only digital silence, or the same stale buffer over and over "
        "this long is logged and reopened",
        min=0.2, max=60.0
    )
    reopen_backoff_s: float = setting(0.5, "first wait before reopening a failed microphone; doubles each try",
                                      min=0.05, max=60.0)
    reopen_backoff_max_s: float = setting(30.0, "longest wait between reopen attempts", min=0.1, max=600.0)
    deaf_on_digital_silence: bool = setting(
        True, "treat a microphone that delivers only digital silence (|sample| <= 1) for stall_timeout_s as dead"
    )

    def check(self) -> None:
        if self.reopen_backoff_max_s < self.reopen_backoff_s:
            raise ConfigError(
                "audio.reopen_backoff_max_s",
                f"{self.reopen_backoff_max_s!r} is shorter than audio.reopen_backoff_s ({self.reopen_backoff_s!r})",
            )


@dataclass(frozen=True)
class NoiseConfig:
    """WebRTC noise suppression and auto gain, applied before VAD and wake word detection."""

    enabled: bool = setting(True, "run noise suppression / auto gain on the microphone audio")
    suppression: int = setting(2, "noise suppression level: 0 = off .. 4 = strongest", min=0, max=4)
    auto_gain_dbfs: int = setting(0, "auto gain target level in -dBFS (e.g. 3); 0 = auto gain off", min=0, max=31)
    send_processed: bool = setting(
        False, "send the processed audio to Voice Live (false: the raw microphone audio; "
        "the service has its own noise suppression)"
    )


@dataclass(frozen=True)
class VadConfig:
    """webrtcvad with hysteresis, and the endpoint rules of an utterance once the gate is open."""

    aggressiveness: int = setting(3, "webrtcvad aggressiveness: 0 = keeps most audio as speech .. 3 = strictest",
                                  min=0, max=3)
    speech_start_frames: int = setting(3, "speech starts after this many voiced 10 ms frames in a row",
                                       min=1, max=100)
    silence_ms: int = setting(600, "speech ends after this much silence; ends the utterance", min=100, max=5000)
    max_utterance_s: float = setting(15.0, "an open gate closes after this long whatever is said", min=1.0, max=300.0)
    preroll_ms: int = setting(300, "audio from just before the gate opened that is sent along", min=0, max=2000)
    no_speech_timeout_s: float = setting(
        5.0, "an open gate with nobody speaking closes after this long", min=0.5, max=120.0
    )
    near_field_margin_db: float = setting(
        7.0, "speech more than this far below the level of the person who opened the gate (their loud "
        "syllables, followed from the wake word on) is background: it neither keeps their utterance going "
        "nor starts a follow-up; 0 = off (any speech counts)", min=0.0, max=40.0
    )
    attenuate_background_db: float = setting(
        40.0, "with service-side turn detection: the audio sent between the visitor's words (background "
        "talkers included) is turned down by this much, so the service's VAD hears the end of their turn and "
        "not the room; 0 = send it as heard", min=0.0, max=90.0
    )

    def check(self) -> None:
        if self.silence_ms % 10:
            raise ConfigError("listening.vad.silence_ms", f"{self.silence_ms!r} is not a multiple of 10 ms (frame size)")
        if self.preroll_ms % 10:
            raise ConfigError("listening.vad.preroll_ms", f"{self.preroll_ms!r} is not a multiple of 10 ms (frame size)")
        if self.no_speech_timeout_s > self.max_utterance_s:
            raise ConfigError(
                "listening.vad.no_speech_timeout_s",
                f"{self.no_speech_timeout_s!r} is longer than listening.vad.max_utterance_s ({self.max_utterance_s!r})",
            )


@dataclass(frozen=True)
class WakeConfig:
    """Which wake words open the gate, and how sure the detector must be."""

    words: tuple[str, ...] = setting(
        ("okay_nabu",), "built-in wake words to listen for: " + ", ".join(BUILTIN_WAKE_WORDS) + " ([] = none)"
    )
    model_files: tuple[str, ...] = setting(
        (), "extra microWakeWord models: paths to their JSON files (the .tflite next to each)"
    )
    sensitivity: str = setting(
        "default", "how readily a wake word is accepted: strict, default, sensitive or very_sensitive (a cutoff "
        "per built-in model, from measured curves; `edgevoice tune` recommends one for a room)",
        choices=SENSITIVITIES,
    )
    probability_cutoff: float | None = setting(
        None, "detection threshold for every model, overriding sensitivity; unset = the sensitivity's", min=0.01,
        max=0.99
    )
    refractory_s: float = setting(2.0, "after a detection the same wake word is ignored this long", min=0.0, max=30.0)

    def check(self) -> None:
        for name in self.words:
            if name not in BUILTIN_WAKE_WORDS:
                raise ConfigError(
                    "listening.wake.words",
                    f"unknown wake word {name!r}: the built-in ones are {', '.join(BUILTIN_WAKE_WORDS)} "
                    "(a custom model goes in listening.wake.model_files)",
                )
        if len(set(self.words)) != len(self.words):
            raise ConfigError("listening.wake.words", f"{list(self.words)!r} names a wake word twice")
        for path in self.model_files:
            problem = model_file_problem(path)
            if problem:
                raise ConfigError("listening.wake.model_files", f"{path!r}: {problem}")


@dataclass(frozen=True)
class ListeningConfig:
    """Local listening: noise handling, voice activity, wake words (nothing leaves before the gate opens)."""

    noise: NoiseConfig = setting(default_factory=NoiseConfig, doc="noise suppression and auto gain")
    vad: VadConfig = setting(default_factory=VadConfig, doc="voice activity detection and endpointing")
    wake: WakeConfig = setting(default_factory=WakeConfig, doc="wake words")


@dataclass(frozen=True)
class ButtonsConfig:
    """A push-to-talk button and a mute switch on GPIO pins (unset = no such button)."""

    push_to_talk_pin: int | str | None = setting(
        None, "GPIO pin of a button that opens the gate like the wake word", parse=parse_pin
    )
    mute_pin: int | str | None = setting(
        None, "GPIO pin of a switch that mutes the microphone while it is on", parse=parse_pin
    )
    pull_up: bool = setting(True, "buttons connect the pin to ground (false: to 3.3 V)")
    bounce_time_s: float = setting(0.02, "ignore contact bounce shorter than this; 0 = off", min=0.0, max=1.0)

    def check(self) -> None:
        if self.push_to_talk_pin is not None and self.push_to_talk_pin == self.mute_pin:
            raise ConfigError(
                "buttons.mute_pin", f"{self.mute_pin!r} is also buttons.push_to_talk_pin: use two different pins"
            )
