"""The conversations the bench holds with the daemon: recordings with every utterance at a known time.

- ``warm``: a noisy room (a fan and people chatting, no wake word) for the idle CPU, then turns of
  "okay nabu ... <question>" answered with a short reply, a spare session open (the default);
  ``warm_quiet``: more such turns in a quiet room.
- ``cold``: the same turns with ``prewarm = false`` and the shortest idle timeout, spaced so the
  session has closed before each wake: every turn connects anew.
- ``barge``: one question, then a chain of interruptions, each spoken 0.8 s into the long reply
  to the one before (barge-in by voice, the default).
- ``room``: the simulated room (``--room-echo -12@40``, chimes on, service-side turn detection with
  the client echo reference): pauses of 1.1, 0.4 and 2.5 s after the wake word, and interruptions
  over a long reply whose echo the microphone hears; every turn the service gets is counted.
- ``hall``: warm turns while four other people talk at once 15 dB below the visitor the whole
  time (near-field endpointing: the device must still hear the end of each question).

Each turn is placed where the daemon should be free for it (the end of the last reply, as
planned, plus a margin); how long the daemon really takes shows up in the figures, not in the
plan. Every recording starts with a few seconds of room, so all the bench's daemons have started
before anyone speaks to any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgevoice.audio.speech import Speech
from edgevoice.bench.audio import NOISY_ROOM_DBFS, SPEECH_DBFS, Placed, Recording, Voice
from edgevoice.bench.runs import RunPlan

WAKE = "okay nabu"
QUESTIONS = ("what time is it", "what is the weather", "where is the station", "when does the shop open")
INTERRUPTIONS = ("what about tomorrow", "and the day after", "tell me something else", "what about the weekend")
CHATTER = ("did you see the game last night", "I think it will rain later on", "could you pass me the sugar",
           "the bus was late again this morning")
REPLY_VOICE, REPLY_RATE = "alloy", 16000  # the bundled default config's voice and output rate
SHORT_REPLY = "Sure."
LONG_REPLY = ("Here is the whole forecast for the week ahead of us with sunshine in the morning and clouds in "
              "the afternoon and a little rain in the evening and a cool breeze from the west")

PAUSE_AFTER_WAKE_S = 0.35  # "okay nabu ... what time is it"
SILENCE_S = 0.6  # [listening.vad] silence_ms default: when the device ends the utterance
REPLY_DELAY_S = 0.05  # the endpoint to the first reply audio, on loopback with no server delay
ANSWER_MARGIN_S = 0.45  # between one turn's reply and the next wake word
IDLE_TIMEOUT_S = 5.0  # [assistant] idle_timeout_s at its minimum (the cold runs)
CLOSE_MARGIN_S = 0.4  # after the idle timeout closed the session, before the next wake word
INTERRUPT_AFTER_S = 0.8  # how far into a long reply the next interruption starts
LEAD_S = 3.0  # quiet room before the first turn: every daemon of the bench has started by then
HALL_BABBLE_DB = 15.0  # background talkers this far below the visitor (the hall run)


@dataclass(frozen=True)
class Conversation:
    """A run plan and the utterances the analysis needs (interruptions: the barge-in onsets)."""

    plan: RunPlan
    turns: int
    lead_s: float  # seconds of the recording before the first turn
    interruptions: tuple[Placed, ...] = ()
    questions: tuple[Placed, ...] = ()  # where each question is said (the hall run's endpoints)


def replies_speech() -> Speech:
    """The emulators' speech, the bench's replies already rendered (so no emulator renders one mid-turn)."""
    speech = Speech()
    for text in (SHORT_REPLY, LONG_REPLY):
        speech.render(text, REPLY_RATE, REPLY_VOICE)
    return speech


def _reply_seconds(text: str) -> float:
    """How long the emulator's spoken reply lasts (rendered the way it renders it: espeak-ng, 16 kHz)."""
    return len(Speech().render(text, REPLY_RATE, REPLY_VOICE)) / 2 / REPLY_RATE


def _turns(voice: Voice, count: int, start: float, gap: float, seconds_after: float = 1.0,
           **recording: object) -> Recording:
    """``count`` turns of "okay nabu, <question>" from ``start``, each ``gap`` after the last reply
    ends (as planned)."""
    reply = _reply_seconds(SHORT_REPLY)
    plan, at = [], start
    for i in range(count):
        question = QUESTIONS[i % len(QUESTIONS)]
        plan.append((at, question))
        ends = at + voice.seconds(WAKE) + PAUSE_AFTER_WAKE_S + voice.seconds(question)
        at = ends + SILENCE_S + REPLY_DELAY_S + reply + gap
    rec = Recording(at + seconds_after, voice, **recording)  # type: ignore[arg-type]
    for at, question in plan:
        wake = rec.say(at, WAKE)
        rec.say(wake.end + PAUSE_AFTER_WAKE_S, question)
    return rec


def hall(voice: Voice, turns: int, seed: int = 5) -> Conversation:
    """Warm turns in a hall where four people talk at once ``HALL_BABBLE_DB`` below the visitor, from
    before the first wake word to after the last reply; a turn whose wake word the babble hid is
    simply not there (the figure counts the turns that were)."""
    rec = _turns(voice, turns, LEAD_S, ANSWER_MARGIN_S, seconds_after=2.0, seed=seed)
    rec.add_babble(0.0, rec.seconds, SPEECH_DBFS - HALL_BABBLE_DB, seed=seed)
    questions = tuple(p for p in rec.said if p.text != WAKE)
    plan = RunPlan("hall", rec, replies=(SHORT_REPLY,) * (turns + 5))
    return Conversation(plan, turns, LEAD_S, questions=questions)


def warm(voice: Voice, turns: int, idle_s: float, name: str = "warm", seed: int = 1,
         capture: str = "wav") -> Conversation:
    """``idle_s`` of a noisy room (fan and chatter, no wake word; the idle CPU is read over it), then
    ``turns`` turns answered briefly, with a spare session open (the default). ``capture="alsa"``:
    on the real device path (see edgevoice.bench.runs.AlsaDevice)."""
    rec = _turns(voice, turns, idle_s, ANSWER_MARGIN_S, seed=seed)
    rec.add_noise(0.0, idle_s, NOISY_ROOM_DBFS)
    rec.add_chatter(0.3, idle_s - 0.3, CHATTER)
    plan = RunPlan(name, rec, replies=(SHORT_REPLY,) * (turns + 5), cpu_window=(1.5, idle_s - 0.5), capture=capture)
    return Conversation(plan, turns, idle_s)


def warm_quiet(voice: Voice, turns: int, name: str, seed: int) -> Conversation:
    """More warm turns, in a quiet room."""
    rec = _turns(voice, turns, LEAD_S, ANSWER_MARGIN_S, seed=seed)
    return Conversation(RunPlan(name, rec, replies=(SHORT_REPLY,) * (turns + 5)), turns, LEAD_S)


def cold(voice: Voice, turns: int, name: str, seed: int, offset_s: float = 0.0) -> Conversation:
    """``turns`` turns, each after the previous session has closed: no spare session, shortest idle timeout.

    ``offset_s`` delays the first turn, so that cold runs side by side do not all connect at once.
    """
    lead = LEAD_S + offset_s
    rec = _turns(voice, turns, lead, IDLE_TIMEOUT_S + CLOSE_MARGIN_S, seed=seed)
    tables = {"assistant": {"prewarm": False, "idle_timeout_s": IDLE_TIMEOUT_S}}
    return Conversation(RunPlan(name, rec, replies=(SHORT_REPLY,) * 5, tables=tables), turns, lead)


ROOM_ECHO = "-12@40"  # the simulated room: the speaker 12 dB down, 40 ms later
ROOM_ECHO_DB = -12.0
RAISED_DBFS = -18.0  # someone talking over the kiosk raises their voice
ROOM_PAUSES = (1.1, 0.4, 2.5)  # after the wake word; the second turn gets the long reply and the interruptions
SERVER_SILENCE_S = 0.5  # the service's end of turn (server VAD silence_duration_ms default)


def room(voice: Voice, interruptions: int, seed: int = 4) -> Conversation:
    """A scripted session in the simulated room: ``said`` is every turn the person said (the
    service must get exactly these); ``interruptions`` are spoken over long replies."""
    reply_delay = SERVER_SILENCE_S + REPLY_DELAY_S + 0.3
    short = _reply_seconds(SHORT_REPLY)
    at, said, placed = LEAD_S, 0, []
    timeline: list[tuple[float, str, float]] = []
    for i, pause in enumerate(ROOM_PAUSES):
        question = QUESTIONS[i % len(QUESTIONS)]
        timeline.append((at, WAKE, SPEECH_DBFS))
        at += voice.seconds(WAKE) + pause
        timeline.append((at, question, SPEECH_DBFS))
        said += 1
        at += voice.seconds(question) + reply_delay
        if i == 1:  # a long reply, interrupted again and again
            for j in range(interruptions):
                at += INTERRUPT_AFTER_S
                text = INTERRUPTIONS[j % len(INTERRUPTIONS)]
                timeline.append((at, text, RAISED_DBFS))
                said += 1
                at += voice.seconds(text) + reply_delay
        at += short + 1.5  # the reply, the end chime, a breath
    rec = Recording(at + 1.0, voice, seed=seed)
    for start, text, level in timeline:
        where = rec.say(start, text, level)
        if level == RAISED_DBFS:
            placed.append(where)
    replies = (SHORT_REPLY, *(LONG_REPLY,) * interruptions, SHORT_REPLY, SHORT_REPLY, SHORT_REPLY)
    tables = {"assistant": {"chimes": True, "echo_coupling_db": ROOM_ECHO_DB},
              "voicelive.turn_detection": {"type": "azure_semantic_vad"}}
    plan = RunPlan("room", rec, replies=replies, pacing="realtime", tables=tables, argv=(f"--room-echo={ROOM_ECHO}",))
    return Conversation(plan, said, LEAD_S, tuple(placed))


def barge(voice: Voice, interruptions: int, seed: int = 3) -> Conversation:
    """One question answered at length, then ``interruptions`` questions, each cutting the reply before."""
    reply_delay = SILENCE_S + REPLY_DELAY_S
    wake_at = LEAD_S
    question_at = wake_at + voice.seconds(WAKE) + PAUSE_AFTER_WAKE_S
    at = question_at + voice.seconds(QUESTIONS[0]) + reply_delay + INTERRUPT_AFTER_S
    cuts = []
    for i in range(interruptions):
        text = INTERRUPTIONS[i % len(INTERRUPTIONS)]
        cuts.append((at, text))
        at += voice.seconds(text) + reply_delay + INTERRUPT_AFTER_S
    rec = Recording(at + _reply_seconds(SHORT_REPLY) + 1.0, voice, seed=seed)
    rec.say(wake_at, WAKE)
    rec.say(question_at, QUESTIONS[0])
    placed = tuple(rec.say(at, text) for at, text in cuts)
    replies = (LONG_REPLY,) * interruptions + (SHORT_REPLY,) * 3
    plan = RunPlan("barge", rec, replies=replies, pacing="realtime")
    return Conversation(plan, interruptions + 1, LEAD_S, placed)
