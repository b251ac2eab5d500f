"""The usage ledger: tokens and cost per day and per conversation, kept in the state directory.

``usage.json`` is rewritten atomically after every response, so a crash or a power cut loses at
most the response in flight. A file that cannot be read (corrupt, another program's) is set aside
as ``usage.json.corrupt`` with one clear log line and a new ledger starts; a directory that cannot
be written is logged once and the ledger goes on in memory: counting never stops the assistant.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevoice.cost.usage import Tokens
from edgevoice.offline.cache import atomic_write

logger = logging.getLogger(__name__)

LEDGER_FILE = "usage.json"
VERSION = 1
KEEP_DAYS = 400  # a year of days, and some
KEEP_CONVERSATIONS = 20  # the most recent finished conversations


SERVICE_STATE_DIR = Path("/var/lib/edgevoice")  # the unit's StateDirectory=edgevoice


def ledger_directory(configured: Path | None, environ: Mapping[str, str], *, reading: bool = False) -> Path | None:
    """Where usage.json lives: ``cost.state_dir``, else systemd's $STATE_DIRECTORY (the first), else
    nowhere (the daemon counts in memory), or, for ``reading`` (``edgevoice cost``), the service's directory."""
    if configured is not None:
        return configured
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    return SERVICE_STATE_DIR if reading else None


class LedgerError(Exception):
    """The ledger file cannot be used; the message says what is wrong with it."""


@dataclass(slots=True)
class Tally:
    """Tokens, cost and responses added up (a day, a conversation, or everything)."""

    tokens: Tokens = field(default_factory=Tokens)
    cost: float = 0.0
    responses: int = 0
    conversations: int = 0

    def add(self, tokens: Tokens, cost: float) -> None:
        self.tokens = self.tokens + tokens
        self.cost += cost
        self.responses += 1

    def as_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens.as_dict(), "cost": round(self.cost, 9), "responses": self.responses,
                "conversations": self.conversations}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Tally:
        if not isinstance(data, Mapping):
            raise LedgerError(f"{where} is not an object")
        try:
            tokens = Tokens.from_dict(data.get("tokens") or {})
        except (ValueError, AttributeError) as exc:
            raise LedgerError(f"{where}: {exc}") from None
        cost, responses, conversations = data.get("cost", 0.0), data.get("responses", 0), data.get("conversations", 0)
        if type(cost) not in (int, float) or cost < 0:
            raise LedgerError(f"{where}: cost is not an amount: {cost!r}")
        for name, value in (("responses", responses), ("conversations", conversations)):
            if type(value) is not int or value < 0:
                raise LedgerError(f"{where}: {name} is not a count: {value!r}")
        return cls(tokens, float(cost), responses, conversations)


@dataclass(slots=True)
class Conversation:
    """One session's conversation: its number, the day it began, and what it used so far."""

    number: int
    day: str
    tally: Tally = field(default_factory=Tally)

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "day": self.day, **self.tally.as_dict()}


class Ledger:
    """Per-day and per-conversation usage, persisted in ``directory/usage.json``."""

    def __init__(self, directory: Path | None, currency: str) -> None:
        self.path = None if directory is None else Path(directory) / LEDGER_FILE  # None: in memory only
        self.currency = currency
        self.total = Tally()
        self.days: dict[str, Tally] = {}
        self.conversation: Conversation | None = None
        self.recent: list[Conversation] = []
        self._conversations = 0  # numbers handed out
        self._write_failed = False

    @classmethod
    def open(cls, directory: Path | None, currency: str) -> Ledger:
        """The ledger in ``directory``: read from its file, or new (a bad file is set aside, and logged);
        without a directory, a ledger in memory."""
        ledger = cls(directory, currency)
        if ledger.path is None:
            logger.info("usage is counted in memory only (no cost.state_dir, no $STATE_DIRECTORY)")
            return ledger
        try:
            ledger._load(read_ledger(ledger.path))
        except FileNotFoundError:
            pass
        except LedgerError as exc:
            aside = ledger.path.with_name(LEDGER_FILE + ".corrupt")
            try:
                os.replace(ledger.path, aside)
                kept = f"kept as {aside}"
            except OSError as err:
                kept = f"and cannot be set aside ({err.strerror or err})"
            logger.error("usage ledger %s cannot be used (%s); %s; counting starts again from zero", ledger.path, exc, kept)
        if ledger.currency != currency and ledger.total.responses:
            logger.warning("usage ledger: costs so far were in %s; new costs are in %s", ledger.currency, currency)
        ledger.currency = currency
        return ledger

    @classmethod
    def read(cls, directory: Path) -> Ledger:
        """The ledger as its file has it (``edgevoice cost``); FileNotFoundError or LedgerError when unusable."""
        ledger = cls(directory, "")
        assert ledger.path is not None
        ledger._load(read_ledger(ledger.path))
        return ledger

    def _load(self, data: Mapping[str, Any]) -> None:
        self.currency = str(data.get("currency") or self.currency)
        self.total = Tally.from_dict(data.get("total") or {}, "total")
        days = data.get("days") or {}
        if not isinstance(days, Mapping):
            raise LedgerError("days is not an object")
        self.days = {str(day): Tally.from_dict(t, f"day {day}") for day, t in days.items()}
        recent = data.get("conversations") or []
        if not isinstance(recent, list):
            raise LedgerError("conversations is not a list")
        for i, c in enumerate(recent):
            if not isinstance(c, Mapping) or type(c.get("number")) is not int:
                raise LedgerError(f"conversation {i} has no number")
            self.recent.append(Conversation(c["number"], str(c.get("day", "")), Tally.from_dict(c, f"conversation {i}")))
        self._conversations = max([c.number for c in self.recent] + [int(self.total.conversations)])

    # --- counting ---------------------------------------------------------------------------

    def begin_conversation(self, day: str) -> None:
        """A new session (a fresh context) starts; what follows counts towards it."""
        self._finish_conversation()
        self._conversations += 1
        self.conversation = Conversation(self._conversations, day)

    def record(self, tokens: Tokens, cost: float, day: str) -> None:
        """Add one response's usage to the day, the conversation and the total; write the file."""
        if self.conversation is None:
            self.begin_conversation(day)
        assert self.conversation is not None
        today = self.days.setdefault(day, Tally())
        if self.conversation.tally.responses == 0:
            today.conversations += 1
            self.total.conversations += 1
        today.add(tokens, cost)
        self.conversation.tally.add(tokens, cost)
        self.total.add(tokens, cost)
        self._prune()
        self.save()

    def day(self, day: str) -> Tally:
        return self.days.get(day) or Tally()

    def _finish_conversation(self) -> None:
        if self.conversation is not None and self.conversation.tally.responses:
            self.recent = (self.recent + [self.conversation])[-KEEP_CONVERSATIONS:]
        self.conversation = None

    def _prune(self) -> None:
        if len(self.days) > KEEP_DAYS:
            for day in sorted(self.days)[: len(self.days) - KEEP_DAYS]:
                del self.days[day]

    # --- the file ---------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        recent = list(self.recent)
        if self.conversation is not None and self.conversation.tally.responses:
            recent.append(self.conversation)
        return {
            "version": VERSION,
            "currency": self.currency,
            "total": self.total.as_dict(),
            "days": {day: t.as_dict() for day, t in sorted(self.days.items())},
            "conversations": [c.as_dict() for c in recent[-KEEP_CONVERSATIONS:]],
        }

    def save(self) -> None:
        """Write the ledger atomically (readers see the old file or the new one); failures are logged once."""
        if self.path is None:
            return
        data = (json.dumps(self.as_dict(), indent=1) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, data)
        except OSError as exc:
            if not self._write_failed:
                logger.error("usage ledger %s cannot be written (%s); usage is counted in memory until it can",
                             self.path, exc.strerror or exc)
            self._write_failed = True
            return
        if self._write_failed:
            logger.info("usage ledger %s written again", self.path)
        self._write_failed = False


def read_ledger(path: Path) -> dict[str, Any]:
    """The ledger file's contents; FileNotFoundError when there is none, LedgerError when it is unusable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise LedgerError(f"cannot be read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LedgerError(f"not a JSON ledger: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise LedgerError(f"not a version {VERSION} usage ledger")
    return data
