"""The conversations the bench holds with the daemon: recordings with every utterance at a known time.

- ``warm``: a noisy room (a fan and people chatting, no wake word) for the idle CPU, then turns of
  "okay nabu ... <question>" answered with a short reply, a spare session open (the default).
- ``cold``: the same turns with ``prewarm = false`` and the shortest idle timeout, spaced so the
  session has closed before each wake: every turn connects anew.
- ``barge``: one question, then a chain of interruptions, each spoken about a second into the
  long reply to the one before (barge-in by voice, the default).

Each turn is timed from the moment the daemon should be free for it; how long the daemon really
takes shows up in the figures, not in the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgevoice.bench.audio import NOISY_ROOM_DBFS, Placed, Recording, Voice
from edgevoice.bench.runs import RunPlan

WAKE = "okay nabu"
QUESTIONS = ("what time is it", "what is the weather", "where is the station", "when does the shop open")
INTERRUPTIONS = ("what about tomorrow", "and the day after", "tell me something else", "what about the weekend")
CHATTER = ("did you see the game last night", "I think it will rain later on", "could you pass me the sugar",
           "the bus was late again this morning")
SHORT_REPLY = "Sure."
LONG_REPLY = ("Here is the whole forecast for the week ahead of us with sunshine in the morning and clouds in "
              "the afternoon and a little rain in the evening and a cool breeze from the west")

PAUSE_AFTER_WAKE_S = 0.35  # "okay nabu ... what time is it"
SILENCE_S = 0.6  # [listening.vad] silence_ms default: when the device ends the utterance
ANSWER_MARGIN_S = 0.45  # between one turn's reply and the next wake word
IDLE_TIMEOUT_S = 5.0  # [assistant] idle_timeout_s at its minimum (the cold runs)
INTERRUPT_AFTER_S = 1.0  # how far into a long reply the next interruption starts


@dataclass(frozen=True)
class Conversation:
    """A run plan and the utterances the analysis needs (interruptions: the barge-in onsets)."""

    plan: RunPlan
    turns: int
    interruptions: tuple[Placed, ...] = ()


def _turn(rec: Recording, at: float, i: int) -> float:
    """Say "okay nabu, <question>" from ``at``; returns when the short reply is over (planned)."""
    wake = rec.say(at, WAKE)
    question = rec.say(wake.end + PAUSE_AFTER_WAKE_S, QUESTIONS[i % len(QUESTIONS)])
    return question.end + SILENCE_S + rec.voice.seconds(SHORT_REPLY)


def _turn_seconds(voice: Voice) -> float:
    longest = max(voice.seconds(q) for q in QUESTIONS)
    return voice.seconds(WAKE) + PAUSE_AFTER_WAKE_S + longest + SILENCE_S + _reply_seconds(SHORT_REPLY)


def _reply_seconds(text: str) -> float:
    """How long the emulator's spoken reply lasts (rendered the way it renders it: espeak-ng, 16 kHz)."""
    from edgevoice.audio.speech import Speech

    return len(Speech().render(text, 16000, "alloy")) / 2 / 16000


def warm(voice: Voice, turns: int, idle_s: float, seed: int = 1) -> Conversation:
    """``idle_s`` of a noisy room (the idle CPU is read over it), then ``turns`` turns, a spare session open."""
    period = _turn_seconds(voice) + ANSWER_MARGIN_S
    rec = Recording(idle_s + turns * period + 1.0, voice, seed=seed)
    rec.add_noise(0.0, idle_s, NOISY_ROOM_DBFS)
    rec.add_chatter(0.3, idle_s - 0.3, CHATTER)
    for i in range(turns):
        _turn(rec, idle_s + i * period, i)
    plan = RunPlan("warm", rec, replies=(SHORT_REPLY,) * (turns + 5), cpu_window=(1.5, idle_s - 0.5))
    return Conversation(plan, turns)


def cold(voice: Voice, turns: int, name: str = "cold", seed: int = 2) -> Conversation:
    """``turns`` turns, each after the previous session has closed: no spare session, shortest idle timeout."""
    period = _turn_seconds(voice) + IDLE_TIMEOUT_S + 0.6
    lead = 1.5
    rec = Recording(lead + turns * period, voice, seed=seed)
    for i in range(turns):
        _turn(rec, lead + i * period, i)
    tables = {"assistant": {"prewarm": False, "idle_timeout_s": IDLE_TIMEOUT_S}}
    return Conversation(RunPlan(name, rec, replies=(SHORT_REPLY,) * 5, tables=tables), turns)


def barge(voice: Voice, interruptions: int, seed: int = 3) -> Conversation:
    """One question answered at length, then ``interruptions`` questions, each cutting the reply before."""
    lead = 1.5
    reply_delay = SILENCE_S + 0.05  # the device's endpoint, then the reply's first audio on loopback
    longest = max(voice.seconds(q) for q in INTERRUPTIONS)
    total = lead + 4.0 + interruptions * (INTERRUPT_AFTER_S + longest + reply_delay) + 2.0
    rec = Recording(total, voice, seed=seed)
    wake = rec.say(lead, WAKE)
    question = rec.say(wake.end + PAUSE_AFTER_WAKE_S, QUESTIONS[0])
    at = question.end + reply_delay + INTERRUPT_AFTER_S
    placed = []
    for i in range(interruptions):
        cut = rec.say(at, INTERRUPTIONS[i % len(INTERRUPTIONS)])
        placed.append(cut)
        at = cut.end + reply_delay + INTERRUPT_AFTER_S
    replies = (LONG_REPLY,) * interruptions + (SHORT_REPLY,) * 3
    plan = RunPlan("barge", rec, replies=replies, pacing="realtime")
    return Conversation(plan, interruptions + 1, tuple(placed))
