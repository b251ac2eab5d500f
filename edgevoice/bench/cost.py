"""What a kiosk costs, measured with the emulator's usage figures (the README's cost section).

Conversations are played against the emulator's sans-I/O :class:`Conversation` with the session
edgevoice would open (the shipped config's instructions and tools): for each turn, the visitor's
question as audio of a given length, a commit and a response; the reply is spoken at 160 words a
minute. Each ``response.done`` usage goes through edgevoice's parser and billing kinds, as the
daemon counts it. Two studies:

- ``kiosk_hour``: an hour of a busy kiosk (visitors, turns each, question and reply lengths);
- ``context_study``: one long conversation, turn by turn, with no cap, with
  ``max_turns_per_conversation`` and no summary, and with the carried summary.

Run ``python -m edgevoice.bench.cost`` for the tables.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgevoice.config.load import parse_config
from edgevoice.config.schema import Config
from edgevoice.cost.prices import Prices
from edgevoice.cost.usage import KINDS, Tokens
from edgevoice.daemon.carry import LastExchange
from edgevoice.daemon.link import Transcript
from edgevoice.tools.setup import build_toolbox, session_fields
from edgevoice.voicelive.emulator.conversation import Conversation
from edgevoice.voicelive.emulator.response import SpeechRequest
from edgevoice.voicelive.protocol import client_events
from edgevoice.voicelive.protocol.parser import ServerEventParser
from edgevoice.voicelive.protocol.session_config import session_payload

WORDS_PER_S = 160 / 60  # how fast the reply is spoken (espeak-ng's default pace, and a calm voice's)
RATE = 16000

#: List prices per million tokens (EUR, late 2026, approximate; the example config carries the same).
LIST_PRICES: Mapping[str, Mapping[str, float]] = {
    "gpt-realtime": {"input_audio": 40.0, "cached_audio": 2.5, "input_text": 4.4, "cached_text": 2.2,
                     "output_text": 17.5, "output_audio": 35.0},
    "gpt-realtime-mini": {"input_audio": 10.0, "cached_audio": 0.3, "input_text": 0.6, "cached_text": 0.3,
                          "output_text": 2.4, "output_audio": 35.0},
}


def list_prices(model: str) -> Prices:
    table = LIST_PRICES[model]
    return Prices("EUR", tuple(table[kind] for kind in KINDS))


def reply_text(words: int, n: int) -> str:
    """A reply of ``words`` words (its text is what the transcript carries)."""
    base = f"Answer {n}: the museum opens at nine and the cloakroom is on the left past the shop".split()
    return " ".join((base * (words // len(base) + 1))[:words]) + "."


def shipped_config() -> Config:
    path = Path(__file__).resolve().parents[2] / "config" / "edgevoice.toml"
    text = path.read_text(encoding="utf-8") if path.exists() else '[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n'
    return parse_config(text, str(path))


@dataclass
class Session:
    """One emulated Voice Live session opened as edgevoice opens it."""

    conversation: Conversation
    channels: int = 1  # 2 with the client echo reference (the microphone and what the speaker played)
    parser: ServerEventParser = field(default_factory=ServerEventParser)

    @classmethod
    def open(cls, config: Config, replies: list[str], transcripts: list[str], primer: str = "") -> Session:
        conv = Conversation(model=config.voicelive.model, now=time.time(), replies=replies, transcripts=transcripts)
        session = {**session_payload(config.voicelive), **session_fields(config, build_toolbox(config, None, gpio=False))}
        opened = cls(conv, config.voicelive.input_channels)
        opened.send(client_events.session_update(session))
        if primer:
            opened.send(client_events.item_create_user_text(primer))
        opened.drain()
        return opened

    def send(self, event: Mapping[str, object]) -> None:
        self.conversation.receive(json.dumps(event))

    def drain(self) -> Tokens | None:
        """Run the conversation until it waits; the usage of a response that ended, if one did."""
        usage = None
        while (out := self.conversation.next_event()) is not None:
            if isinstance(out, SpeechRequest):
                seconds = max(1, len(out.text.split())) / WORDS_PER_S
                self.conversation.provide_speech(out, bytes(2 * int(seconds * out.sample_rate)))
                continue
            event = self.parser.parse(json.dumps(out))
            done_usage = getattr(event, "usage", None)
            if out.get("type") == "response.done" and done_usage is not None:
                usage = Tokens.from_usage(done_usage)
        return usage

    def turn(self, question_s: float) -> Tokens:
        """The visitor speaks for ``question_s`` seconds; the reply is asked for and played out."""
        self.send(client_events.input_audio_append(bytes(2 * self.channels * int(question_s * RATE))))
        self.send(client_events.input_audio_commit())
        self.send(client_events.response_create())
        usage = self.drain()
        assert usage is not None, "the emulator's response.done carries usage"
        return usage


def conversation(config: Config, turns: int, *, question_s: float = 3.0, reply_words: int = 25,
                 max_turns: int = 0, carry_summary: bool = True) -> list[Tokens]:
    """The usage of each reply of one conversation of ``turns`` turns (a fresh session every
    ``max_turns`` turns, starting with the last exchange when ``carry_summary``)."""
    replies = [reply_text(reply_words, n) for n in range(turns)]
    questions = [f"question number {n} about the museum" for n in range(turns)]
    out: list[Tokens] = []
    exchange = LastExchange()
    session: Session | None = None
    for n in range(turns):
        if session is None or (max_turns and n % max_turns == 0):
            primer = exchange.summary() if (session is not None and carry_summary) else ""
            session = Session.open(config, replies[n:], questions[n:], primer)
        out.append(session.turn(question_s))
        exchange.note(Transcript("user", questions[n]))
        exchange.note(Transcript("assistant", replies[n]))
    return out


@dataclass(frozen=True)
class HourReport:
    visitors: int
    turns: int
    tokens: Tokens
    cost: dict[str, float]  # model -> EUR

    def audio_minutes(self, question_s: float, reply_words: int) -> tuple[float, float]:
        return self.turns * question_s / 60, self.turns * reply_words / WORDS_PER_S / 60


def kiosk_hour(config: Config, *, visitors: int = 30, turns: int = 3, question_s: float = 3.0,
               reply_words: int = 25) -> HourReport:
    """An hour of a busy kiosk: ``visitors`` conversations of ``turns`` turns (the idle reset between them)."""
    per_visit = conversation(config, turns, question_s=question_s, reply_words=reply_words)
    total = Tokens()
    for usage in per_visit:
        total = total + usage
    hour = Tokens(*(getattr(total, kind) * visitors for kind in KINDS))
    return HourReport(visitors, visitors * turns, hour, {m: list_prices(m).cost(hour) for m in LIST_PRICES})


def context_study(config: Config, turns: int = 16, cap: int = 4) -> dict[str, list[Tokens]]:
    """Per-turn usage of one long conversation: no cap; capped, forgetting; capped, with the summary."""
    return {
        "no cap": conversation(config, turns),
        f"cap {cap}, no summary": conversation(config, turns, max_turns=cap, carry_summary=False),
        f"cap {cap}, summary": conversation(config, turns, max_turns=cap, carry_summary=True),
    }


def main() -> None:
    config = shipped_config()
    report = kiosk_hour(config)
    t = report.tokens
    print(f"An hour: {report.visitors} visitors, {report.turns} turns; tokens by kind: "
          + ", ".join(f"{k} {getattr(t, k):,}" for k in KINDS) + f"; total {t.total:,}")
    for model, cost in report.cost.items():
        print(f"  at {model} list prices: {cost:.2f} EUR an hour")
    prices = list_prices("gpt-realtime")
    study = context_study(config)
    print("\nOne conversation, turn by turn (gpt-realtime list prices, EUR):")
    names = list(study)
    print("turn  " + "  ".join(f"{n:>26}" for n in names))
    sums = dict.fromkeys(names, 0.0)
    turns = len(study[names[0]])
    for i in range(turns):
        cells = []
        for n in names:
            u = study[n][i]
            sums[n] += prices.cost(u)
            cells.append(f"{u.context:>6} in {prices.cost(u):.4f} ({sums[n]:.3f})")
        print(f"{i + 1:>4}  " + "  ".join(f"{c:>26}" for c in cells))
    for n in names:
        print(f"{n}: {sums[n]:.3f} EUR for {turns} turns, {math.fsum(prices.cost(u) for u in study[n]) / turns:.4f} a turn")


if __name__ == "__main__":
    main()
