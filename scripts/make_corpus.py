#!/usr/bin/env python3
"""Generate the listening accuracy corpus: espeak-ng, flite and festival speech, noise, ground truth.

    python scripts/make_corpus.py --out tests/.corpus [--seed 1] [--negative-minutes 120]

Writes 16 kHz mono 16-bit WAVs and ``manifest.json``:

* ``positives``: a wake word, a short pause (0.15 s or 0.8 s), a spoken command, in one clip,
  with 1 s of lead-in and 1.2 s of tail. Ground truth per clip: where the wake word starts and
  ends and where the command starts and ends (seconds). Each voice is rendered once and mixed
  at every noise condition (clean; pink and babble at 20, 10 and 5 dB SNR).
  Groups: ``core`` (okay_nabu: 8 espeak-ng accents x 5 variants x 2 speeds),
  ``hard`` (okay_nabu in the female ``+f3`` and ``+klatt`` variants, which the model often
  misses even without noise: reported, not part of the acceptance figure) and ``multi``
  (alexa and hey_mycroft, for several wake words at once). hey_jarvis is left out: espeak-ng
  says "jarvis" in a way the model does not accept even clean.
* ``wake_clips``: every built-in wake word said by three engines: espeak-ng (8 accents x 3
  variants), Debian's flite (kal, kal16, awb, rms, slt) and festival (cmu_us_slt_arctic_hts,
  kal_diphone), each plain, slower and lower (sox tempo 0.9, pitch -150 cents) and faster and
  higher (tempo 1.12, pitch +200 cents), every other one with a short reverberant tail; clean,
  in pink noise and in babble at 10 dB. Ground truth: where the wake word is. These give the
  detection rate against false accepts per hour curves (``edgevoice.bench.wake``).
* ``negatives``: no wake word, in 5-minute files, ``--negative-minutes`` of them (2 hours by
  default): sentences over a vocabulary with near misses ("okay", "now", "nah", "boo", "lexicon",
  "micro") in espeak-ng and flite voices, clean and with pink and babble noise; near-miss phrases
  ("okay", "okay now", "a cabana", "hey jar", "alexander", "my croft") said again and again; TV:
  speech over music-like tones; and a quiet or noisy room with nobody speaking. Speech is rendered
  once into a pool and reused at other speeds and pitches (resampling), which keeps two hours
  quick to make on a small machine.

Levels: active speech at -26 dBFS; SNR = active speech level / noise RMS. Every clip also has a
-70 dBFS white noise floor (a real microphone's self-noise; "clean" means only that): the
models react differently to digital silence, which no microphone delivers. Babble is 16
espeak-ng talkers (negative sentences, distinct voices and speeds) summed. Everything is
seeded: the same seed and espeak-ng version give the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soxr

RATE = 16000
SPEECH_DBFS = -26.0
MIC_FLOOR_DBFS = -70.0  # white noise under everything: a real microphone never delivers digital silence
VERSION = 2

ACCENTS = ["en-us", "en-gb", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-gb-scotland"]
CORE_VARIANTS = ["", "+m1", "+m3", "+m6", "+john"]
HARD_VARIANTS = ["+f3", "+klatt"]
SPEEDS = [140, 175]
ALL_VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4", "+klatt", "+john"]
CONDITIONS = [("clean", None), ("pink", 20), ("pink", 10), ("pink", 5), ("babble", 20), ("babble", 10), ("babble", 5)]
HARD_CONDITIONS = [("clean", None), ("pink", 10), ("babble", 10)]
MULTI_CONDITIONS = [("clean", None), ("pink", 10)]
BABBLE_TALKERS = 16

WAKE_TEXT = {"okay_nabu": "okay nabu", "alexa": "alexa", "hey_mycroft": "hey mycroft", "hey_jarvis": "hey jarvis"}
WAKE_WORDS = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("cmu_us_slt_arctic_hts", "kal_diphone")
VOICE_VARIANTS = ["", "+m3", "+f2"]
#: (tempo, pitch in cents) for every wake clip voice: as said, slower and lower, faster and higher.
PERTURBATIONS = [(1.0, 0), (0.9, -150), (1.12, 200)]
WAKE_CONDITIONS = [("clean", None), ("pink", 10), ("babble", 10)]
NEAR_MISS_PHRASES = (
    "okay", "okay now", "a cabana", "nah boo", "oh cabbage", "hey jar", "hey jarvey",
    "harvest", "hey service", "alexander", "a lexus", "election", "my croft", "hey micro", "microsoft",
    "okay then", "hey you", "okay google", "hey there",
)

COMMANDS = [
    "what is the weather like tomorrow",
    "turn on the kitchen lights",
    "set a timer for ten minutes",
    "how long does it take to get to the airport",
    "play some quiet music",
    "what time does the museum open",
    "remind me to call my sister tonight",
    "where is the nearest pharmacy",
    "tell me a short story",
    "how many steps did I walk today",
    "switch off the heating in the living room",
    "what is on the menu for lunch",
]

COMMON = (
    "the a of and to in is it that was for on are with as his they be at one have this from or had by hot "
    "but some what there we can out other were all your when up use word how said an each she which do their "
    "time if will way about many then them would write like so these her long make thing see him two has look "
    "more day could go come did my sound no most number who over know water than call first people may down "
    "side been now find garden window table morning evening market river station coffee letter paper yellow"
).split()
NEAR_MISSES = (
    "okay now nah boo nabob navy cabana banana okra oak able label jar jarring harvest lexicon lexus alexander "
    "a lot mike micro croft mycology vista taxi mister hey say day play okey dokey jervis service nobody"
).split()


# -- speech ----------------------------------------------------------------------------------


def tts(text: str, voice: str, speed: int) -> np.ndarray:
    """espeak-ng speech as float32 at 16 kHz."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True, check=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
    return soxr.resample(x, rate, RATE).astype(np.float32)


def read_wav_16k(data: bytes) -> np.ndarray:
    """A WAV file's bytes as float32 at 16 kHz."""
    with wave.open(io.BytesIO(data)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
    return x if rate == RATE else soxr.resample(x, rate, RATE).astype(np.float32)


def tts_flite(text: str, voice: str) -> np.ndarray:
    """Debian's flite speech (voices kal, kal16, awb, rms, slt) as float32 at 16 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], capture_output=True, check=True)
        return read_wav_16k(out.read_bytes())


def tts_festival(texts: list[str], voice: str) -> list[np.ndarray]:
    """Debian's festival speech, one process for many texts (it is slow to start), float32 at 16 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        lines = [f"(voice_{voice})"]
        for i, text in enumerate(texts):
            lines.append(f'(utt.save.wave (SynthText "{text}") "{tmp}/{i}.wav" \'riff)')
        (Path(tmp) / "say.scm").write_text("\n".join(lines) + "\n")
        subprocess.run(["festival", "-b", f"{tmp}/say.scm"], capture_output=True, check=True)
        return [read_wav_16k((Path(tmp) / f"{i}.wav").read_bytes()) for i in range(len(texts))]


def perturb(x: np.ndarray, tempo: float, cents: int) -> np.ndarray:
    """Slower or faster (sox tempo, pitch kept) and lower or higher (sox pitch, in cents)."""
    if tempo == 1.0 and cents == 0:
        return x
    raw = ["-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1"]
    out = subprocess.run(["sox", *raw, "-", *raw, "-", "tempo", "-s", f"{tempo}", "pitch", f"{cents}"],
                         input=to_pcm(x), capture_output=True, check=True).stdout
    return np.frombuffer(out, "<i2").astype(np.float32) / 32768.0


def reverb(x: np.ndarray, rng: np.random.Generator, rt60_s: float = 0.3, wet_db: float = -8.0) -> np.ndarray:
    """A short reverberant tail: decaying noise as the room's impulse response, mixed under the dry speech."""
    n = int(rt60_s * RATE)
    t = np.arange(n) / RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)
    size = len(x) + n
    wet = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)
    wet *= np.sqrt(np.mean(x.astype(np.float64) ** 2)) / (np.sqrt(np.mean(wet[: len(x)] ** 2)) + 1e-12)
    return (np.concatenate([x, np.zeros(n, np.float32)]) + wet * 10 ** (wet_db / 20)).astype(np.float32)


def speed(x: np.ndarray, ratio: float) -> np.ndarray:
    """Played ``ratio`` times faster (pitch moves with it): cheap variety for reused speech."""
    return soxr.resample(x, RATE * ratio, RATE).astype(np.float32) if ratio != 1.0 else x


def music(rng: np.random.Generator, n: int) -> np.ndarray:
    """Music-like tones: chords of harmonics changing on a beat, with a plucked envelope; unit RMS."""
    out = np.zeros(n, np.float64)
    beat = int(RATE * rng.uniform(0.3, 0.6))
    base = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    for start in range(0, n, beat):
        length = min(beat * 2, n - start)
        t = np.arange(length) / RATE
        envelope = np.exp(-t * rng.uniform(2, 6))
        for step in rng.choice([0, 3, 4, 7, 10, 12], size=3, replace=False):
            f = base * 2 ** (step / 12) * (2 if rng.random() < 0.3 else 1)
            for harmonic, gain in ((1, 1.0), (2, 0.4), (3, 0.2)):
                out[start : start + length] += gain * envelope * np.sin(2 * np.pi * f * harmonic * t)
    return (out / (np.sqrt(np.mean(out**2)) + 1e-12)).astype(np.float32)


def trim(x: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Cut espeak-ng's leading and trailing silence."""
    idx = np.flatnonzero(np.abs(x) > threshold)
    return x[idx[0] : idx[-1] + 1] if idx.size else x[:0]


def active_rms(x: np.ndarray) -> float:
    """RMS of the 10 ms frames within 30 dB of the loudest one (a simple active speech level)."""
    n = len(x) // 160 * 160
    frames = x[:n].reshape(-1, 160)
    e = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    active = frames[e > e.max() * 10 ** (-30 / 20)]
    return float(np.sqrt(np.mean(active.astype(np.float64) ** 2)))


def sentence(rng: np.random.Generator) -> str:
    n = int(rng.integers(5, 14))
    return " ".join(
        str(rng.choice(NEAR_MISSES)) if rng.random() < 0.2 else str(rng.choice(COMMON)) for _ in range(n)
    )


# -- noise -----------------------------------------------------------------------------------


def pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pink (1/f power) noise, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spectrum / np.sqrt(f), n)
    x -= x.mean()
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def babble(rng: np.random.Generator, talkers: list[np.ndarray], n: int) -> np.ndarray:
    """Many talkers at once, each at the same level, at random offsets; unit RMS."""
    out = np.zeros(n, dtype=np.float64)
    for s in talkers:
        s = np.resize(s, n)
        s = np.roll(s, int(rng.integers(n)))
        out += s / (np.sqrt(np.mean(s.astype(np.float64) ** 2)) + 1e-12)
    return (out / np.sqrt(np.mean(out**2))).astype(np.float32)


def noise_segment(rng: np.random.Generator, bank: dict[str, np.ndarray], kind: str, n: int) -> np.ndarray:
    source = bank[kind]
    start = int(rng.integers(0, len(source) - n))
    return source[start : start + n]


def mix(rng: np.random.Generator, speech: np.ndarray, noise: np.ndarray | None, snr_db: float | None,
        level: float) -> np.ndarray:
    """Speech (already at -26 dBFS active level), the microphone floor, and noise ``snr_db`` below ``level``."""
    x = speech.astype(np.float64) + rng.standard_normal(len(speech)) * 10 ** (MIC_FLOOR_DBFS / 20)
    if noise is not None and snr_db is not None:
        x = x + noise[: len(x)] * level * 10 ** (-snr_db / 20)
    return x


def to_pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2").tobytes()


def write_wav(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(to_pcm(x))


# -- the corpus ------------------------------------------------------------------------------


def espeak_version() -> str:
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    return out.split("Data at")[0].strip()


def tool_versions() -> str:
    """The speech engines' and sox's versions (their output changes with them)."""
    flite = subprocess.run(["flite", "--version"], capture_output=True, text=True).stdout.strip()
    festival = subprocess.run(["festival", "--version"], capture_output=True, text=True).stdout.strip()
    sox = subprocess.run(["sox", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{espeak_version()} | {flite} | {festival} | {sox}"


def fingerprint(args: argparse.Namespace) -> str:
    """Changes whenever the output would: this script, the parameters, the espeak-ng version."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(json.dumps({"seed": args.seed, "neg": args.negative_minutes}).encode())
    h.update(tool_versions().encode())
    return h.hexdigest()[:16]


def build(out: Path, seed: int, negative_minutes: float, jobs: int) -> dict:
    rng = np.random.default_rng(seed)
    level = 10 ** (SPEECH_DBFS / 20)
    pool = ThreadPoolExecutor(max(1, jobs))

    # What to say, by whom.
    items = []
    for group, variants, words, speeds in (
        ("core", CORE_VARIANTS, ["okay_nabu"], SPEEDS),
        ("hard", HARD_VARIANTS, ["okay_nabu"], SPEEDS),
        ("multi", ["", "+m3"], ["alexa", "hey_mycroft"], [160]),
    ):
        for word in words:
            for accent in ACCENTS:
                for variant in variants:
                    for speed in speeds:
                        items.append(
                            {"group": group, "wake_word": word, "voice": accent + variant, "speed": speed,
                             "text": COMMANDS[len(items) % len(COMMANDS)], "gap_s": (0.15, 0.8)[len(items) % 2]}
                        )
    wake_audio = list(pool.map(lambda it: trim(tts(WAKE_TEXT[it["wake_word"]], it["voice"], it["speed"])), items))
    command_audio = list(pool.map(lambda it: trim(tts(it["text"], it["voice"], it["speed"])), items))

    # Noise: babble talkers say negative sentences in voices of their own.
    talker_specs = []
    for i in range(BABBLE_TALKERS):
        voice = ACCENTS[i % len(ACCENTS)] + ALL_VARIANTS[(i * 5) % len(ALL_VARIANTS)]
        talker_specs.append((" . ".join(sentence(rng) for _ in range(6)), voice, 140 + 10 * (i % 5)))
    talkers = list(pool.map(lambda s: tts(*s), talker_specs))
    bank_len = RATE * 120
    bank = {"pink": pink(rng, bank_len), "babble": babble(rng, talkers, bank_len)}

    positives = []
    for n, (it, wake, command) in enumerate(zip(items, wake_audio, command_audio)):
        gap = int(it["gap_s"] * RATE)
        lead, tail = RATE, int(1.2 * RATE)
        speech = np.concatenate([np.zeros(lead, np.float32), wake, np.zeros(gap, np.float32), command,
                                 np.zeros(tail, np.float32)])
        speech *= level / active_rms(np.concatenate([wake, command]))
        wake_start = lead / RATE
        wake_end = (lead + len(wake)) / RATE
        command_start = (lead + len(wake) + gap) / RATE
        command_end = (lead + len(wake) + gap + len(command)) / RATE
        conditions = {"core": CONDITIONS, "hard": HARD_CONDITIONS, "multi": MULTI_CONDITIONS}[it["group"]]
        for kind, snr in conditions:
            noise = None if kind == "clean" else noise_segment(rng, bank, kind, len(speech))
            name = f"positives/{it['group']}_{n:03d}_{kind}{'' if snr is None else snr}.wav"
            write_wav(out / name, mix(rng, speech, noise, snr, level))
            positives.append({
                "file": name, "group": it["group"], "wake_word": it["wake_word"], "voice": it["voice"],
                "speed": it["speed"], "text": f"{WAKE_TEXT[it['wake_word']]}, {it['text']}", "noise": kind,
                "snr_db": snr, "wake_start_s": round(wake_start, 4), "wake_end_s": round(wake_end, 4),
                "command_start_s": round(command_start, 4), "command_end_s": round(command_end, 4),
                "duration_s": round(len(speech) / RATE, 4),
            })

    wake_clips = _wake_clips(out, rng, pool, bank, level)
    negatives = _negatives(out, rng, pool, bank, level, negative_minutes)
    pool.shutdown()
    return {
        "generator": "scripts/make_corpus.py", "version": VERSION, "seed": seed, "espeak_ng": espeak_version(), "tools": tool_versions(),
        "sample_rate": RATE, "speech_level_dbfs": SPEECH_DBFS, "mic_floor_dbfs": MIC_FLOOR_DBFS, "babble_talkers": BABBLE_TALKERS,
        "positives": positives, "wake_clips": wake_clips, "negatives": negatives,
    }


def _voices(rng: np.random.Generator) -> list[tuple[str, str]]:
    """(engine, voice) for the wake clips: espeak-ng accents and variants, flite, festival."""
    espeak = [("espeak-ng", accent + variant) for accent in ACCENTS for variant in VOICE_VARIANTS]
    return espeak + [("flite", v) for v in FLITE_VOICES] + [("festival", v) for v in FESTIVAL_VOICES]


def _say_all(pool: ThreadPoolExecutor, specs: list[tuple[str, str, str]]) -> list[np.ndarray]:
    """(engine, voice, text) -> trimmed speech, festival batched per voice."""
    results: list[np.ndarray | None] = [None] * len(specs)
    festival: dict[str, list[int]] = {}
    jobs = []
    for i, (engine, voice, text) in enumerate(specs):
        if engine == "festival":
            festival.setdefault(voice, []).append(i)
        elif engine == "flite":
            jobs.append((i, pool.submit(tts_flite, text, voice)))
        else:
            jobs.append((i, pool.submit(tts, text, voice, 160)))
    for voice, idx in festival.items():
        for i, x in zip(idx, tts_festival([specs[i][2] for i in idx], voice)):
            results[i] = trim(x)
    for i, job in jobs:
        results[i] = trim(job.result())
    return results  # type: ignore[return-value]


def _wake_clips(out: Path, rng: np.random.Generator, pool: ThreadPoolExecutor, bank: dict[str, np.ndarray],
                level: float) -> list[dict]:
    """Every built-in wake word in every voice and perturbation, alone with 1 s around it."""
    voices = _voices(rng)
    specs = [(engine, voice, WAKE_TEXT[word]) for word in WAKE_WORDS for engine, voice in voices]
    said = _say_all(pool, specs)
    variants = [(spec, x, tempo, cents) for spec, x in zip(specs, said) for tempo, cents in PERTURBATIONS]
    shaped = list(pool.map(lambda v: perturb(v[1], v[2], v[3]), variants))
    clips = []
    for n, ((engine, voice, text), _, tempo, cents) in enumerate(variants):
        word = next(w for w in WAKE_WORDS if WAKE_TEXT[w] == text)
        wake = shaped[n]
        if n % 2:
            wake = reverb(wake, rng)
        speech = np.concatenate([np.zeros(RATE, np.float32), wake, np.zeros(RATE, np.float32)])
        speech *= level / active_rms(wake)
        for kind, snr in WAKE_CONDITIONS:
            noise = None if kind == "clean" else noise_segment(rng, bank, kind, len(speech))
            name = f"wake/{word}_{n:03d}_{kind}{'' if snr is None else snr}.wav"
            write_wav(out / name, mix(rng, speech, noise, snr, level))
            clips.append({"file": name, "wake_word": word, "engine": engine, "voice": voice, "tempo": tempo,
                          "pitch_cents": cents, "reverb": bool(n % 2), "noise": kind, "snr_db": snr,
                          "wake_start_s": 1.0, "wake_end_s": round(1.0 + len(wake) / RATE, 4)})
    return clips


#: What each 5-minute negative file holds, in turn: (kind, noise, SNR dB).
NEGATIVE_KINDS = [("speech", "clean", None), ("speech", "pink", 20), ("near_miss", "clean", None),
                  ("tv", "clean", None), ("speech", "babble", 20), ("room", "clean", None),
                  ("speech", "pink", 10), ("near_miss", "babble", 20), ("speech", "babble", 10),
                  ("tv", "pink", 20), ("speech", "clean", None), ("room", "pink", 20)]


def _negatives(out: Path, rng: np.random.Generator, pool: ThreadPoolExecutor, bank: dict[str, np.ndarray],
               level: float, negative_minutes: float) -> list[dict]:
    """5-minute files with no wake word: speech, near misses, TV, an empty room (see NEGATIVE_KINDS)."""
    voices = [("espeak-ng", ACCENTS[i % len(ACCENTS)] + ALL_VARIANTS[(i * 5) % len(ALL_VARIANTS)]) for i in range(40)]
    voices += [("flite", v) for v in FLITE_VOICES]
    sentences = _say_all(pool, [(*voices[i % len(voices)], sentence(rng)) for i in range(360)])
    misses = _say_all(pool, [(engine, voice, phrase) for phrase in NEAR_MISS_PHRASES
                             for engine, voice in voices[::4]])
    per_file = 300 * RATE
    files = max(1, int(round(negative_minutes * 60 * RATE / per_file)))
    negatives = []
    for f in range(files):
        kind, noise_kind, snr = NEGATIVE_KINDS[f % len(NEGATIVE_KINDS)]
        if kind == "room":  # nobody speaks: the room's noise at a level that wanders
            speech = np.zeros(per_file, np.float32)
            x = pink(rng, per_file) * 10 ** (rng.uniform(-50, -35) / 20)
            x *= np.repeat(10 ** (rng.uniform(-10, 6, per_file // RATE + 1) / 20), RATE)[:per_file].astype(np.float32)
            count = 0
        else:
            parts, total, count = [], 0, 0
            while total < per_file:
                source = misses if kind == "near_miss" and rng.random() < 0.6 else sentences
                piece = speed(source[int(rng.integers(len(source)))], float(rng.uniform(0.88, 1.12)))
                piece = piece * float(10 ** (rng.uniform(-4, 4) / 20))
                pause = np.zeros(int(rng.integers(int(0.2 * RATE), RATE)), np.float32)
                parts += [piece, pause]
                total += len(piece) + len(pause)
                count += 1
            speech = np.concatenate(parts)[:per_file]
            speech *= level / active_rms(speech)
            x = speech
            if kind == "tv":  # a television: speech over music, the music going on between the words
                x = speech + music(rng, per_file) * level * 10 ** (-12 / 20)
        noise = None
        if noise_kind != "clean":
            noise = np.roll(np.resize(bank[noise_kind], per_file), int(rng.integers(per_file)))
        name = f"negatives/neg_{f:02d}_{kind}_{noise_kind}{'' if snr is None else snr}.wav"
        write_wav(out / name, mix(rng, x, noise, snr, level))
        negatives.append({"file": name, "kind": kind, "noise": noise_kind, "snr_db": snr,
                          "duration_s": round(per_file / RATE, 4), "utterances": count})
    return negatives


def ensure_corpus(root: Path, *, seed: int = 1, negative_minutes: float = 120.0, jobs: int | None = None) -> Path:
    """Build the corpus under ``root/<fingerprint>`` unless it is already there; returns that directory."""
    args = argparse.Namespace(seed=seed, negative_minutes=negative_minutes)
    out = root / fingerprint(args)
    if (out / "manifest.json").is_file():
        return out
    tmp = root / f".tmp-{os.getpid()}-{fingerprint(args)}"
    manifest = build(tmp, seed, negative_minutes, jobs or os.cpu_count() or 2)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    try:
        tmp.rename(out)
    except OSError:  # built concurrently by someone else: theirs is as good
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/.corpus"),
                        help="parent directory; the corpus goes into OUT/<fingerprint>/ (default tests/.corpus)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--negative-minutes", type=float, default=120.0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="espeak-ng processes at once")
    args = parser.parse_args(argv)
    out = ensure_corpus(args.out, seed=args.seed, negative_minutes=args.negative_minutes, jobs=args.jobs)
    manifest = json.loads((out / "manifest.json").read_text())
    print(f"{out}: {len(manifest['positives'])} positive clips, {len(manifest['wake_clips'])} wake word clips, "
          f"{sum(n['duration_s'] for n in manifest['negatives']) / 60:.1f} min of negative speech")
    return 0


if __name__ == "__main__":
    sys.exit(main())
