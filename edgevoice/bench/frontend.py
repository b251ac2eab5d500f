"""Front-end CPU: the whole listening front-end against the bare library calls, on a minute of speech in noise."""

from __future__ import annotations

from edgevoice.bench.audio import NOISY_ROOM_DBFS, Recording, Voice
from edgevoice.bench.conversations import CHATTER, INTERRUPTIONS, QUESTIONS, WAKE
from edgevoice.bench.figures import Figure

TARGET_RATIO = 1.15


def speech_in_noise(voice: Voice, seconds: float = 60.0, seed: int = 4) -> bytes:
    """``seconds`` of a noisy room with someone talking most of the time, the wake word now and then."""
    rec = Recording(seconds, voice, room_dbfs=NOISY_ROOM_DBFS, seed=seed)
    lines = [WAKE, *QUESTIONS, *CHATTER, *INTERRUPTIONS]
    at, i = 0.5, 0
    while at + voice.seconds(lines[i % len(lines)]) < seconds - 0.2:
        at = rec.say(at, lines[i % len(lines)]).end + 0.6
        i += 1
    return rec.pcm()


def measure(voice: Voice, listening, *, seconds: float = 60.0, repeats: int = 3) -> list[Figure]:
    """Front-end and bare-library CPU per audio second, and their ratio (best of ``repeats`` each)."""
    from edgevoice.bench.listening_accuracy import measure_overhead

    report = measure_overhead(speech_in_noise(voice, seconds), listening, repeats=repeats)
    words = ", ".join(listening.wake.words)
    audio = (f"{report.audio_s:.0f} s of espeak-ng speech (wake word now and then) in pink room noise "
             f"about 19 dB below it, 10 ms frames back to back (caches stay warm), best of {repeats} runs")
    return [
        Figure("frontend_cpu_ratio", report.ratio, "x",
               f"CPU of the whole listening front-end (ListeningFrontend: noise suppression, VAD, "
               f"endpointing, wake word {words}) divided by the CPU of the bare library calls on the same "
               f"audio; {audio}", target=TARGET_RATIO),
        Figure("frontend_cpu_per_audio_s", report.frontend_cpu_per_audio_s, "cpu s/audio s",
               f"CPU seconds the whole front-end spends per second of audio (x100 = % of one core); {audio}; "
               f"fed one frame every 10 ms, as in the daemon, the same work costs several times more: see "
               f"idle_cpu_per_audio_s"),
        Figure("bare_cpu_per_audio_s", report.bare_cpu_s / report.audio_s, "cpu s/audio s",
               "CPU seconds per audio second of the bare calls alone: webrtc-noise-gain Process10ms, "
               f"webrtcvad is_speech, pymicro-wakeword features and model; {audio}"),
    ]
