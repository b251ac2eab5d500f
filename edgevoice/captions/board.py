"""What the captions page shows, worked out from the daemon's milestone records (pure: no clock, no I/O).

The visitor's words come as ``transcript_delta`` records while the service transcribes them and
as one ``transcript`` record when it is done. The reply's words come as ``reply_delta`` records
*ahead* of its audio, each placed in the reply's audio (``audio_ms``): a word is shown once the
speaker has played up to it (``playback_start`` plus its offset), so the caption keeps in step
with the voice, and a barge-in (``barge_in``) cuts it where the voice stopped; the words after
the cut are dropped. A cached reply (``cached_reply``: a phrase or an offline answer, whose texts
the board is given) is shown whole once it is heard (``cached_playback_start``). When the conversation is over (a resting state) the board is emptied after
``linger_s``; a new conversation empties it at once. Nothing is kept beyond that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgevoice.config.offline import ANSWER_PREFIX

#: What the page says for each state of the assistant.
STATE_LABELS = {
    "idle": "ready",
    "listening": "listening",
    "thinking": "thinking",
    "speaking": "speaking",
    "follow_up": "listening",
    "muted": "microphone off",
    "offline": "offline",
    "error": "out of service",
}
RESTING = frozenset({"idle", "offline", "error", "muted"})  # no conversation under way
SPOKEN_CHARS_PER_S = 15.0  # about how fast a cached phrase is spoken (how long its caption stays)


@dataclass
class Line:
    """One caption line: the visitor's words of one item, or the reply text of one response."""

    role: str  # "user" or "assistant"
    key: str  # the user item's id, or the response's id
    turn: int
    seq: int
    text: str = ""  # the visitor's words so far
    final: bool = False  # the visitor's transcript is complete / the reply played to its end
    words: list[tuple[float, str]] = field(default_factory=list)  # the reply's (audio ms, text)
    anchor: float | None = None  # when the reply's audio began to play
    cut_ms: float | None = None  # a barge-in stopped the voice here
    cached: bool = False  # a cached phrase or offline answer (shown whole once it plays)

    def shown(self, now: float) -> str:
        if self.role == "user":
            return self.text
        heard = self.heard_ms(now)
        return "".join(text for at, text in self.words if at <= heard)

    def heard_ms(self, now: float) -> float:
        """How much of the reply's audio has been played (infinite once it played to its end)."""
        if self.cut_ms is not None:
            return self.cut_ms
        if self.final:
            return math.inf
        if self.anchor is None:
            return -1.0
        return (now - self.anchor) * 1000


class CaptionBoard:
    """The page's content: records in (``take``), a JSON-able view out (``view``)."""

    def __init__(self, *, linger_s: float = 3.0, max_lines: int = 8, cached_texts: Mapping[str, str] | None = None) -> None:
        self.linger_s = linger_s
        self.cached_texts = dict(cached_texts or {})  # phrase name or "answer:ID" -> what it says
        self.max_lines = max_lines
        self.state = "idle"
        self.lines: list[Line] = []
        self._seq = 0
        self._clear_at: float | None = None
        self._pending_anchor: float | None = None  # a reply began to play before its first words came

    # --- records in ------------------------------------------------------------------------

    def take(self, record: Mapping[str, Any], now: float) -> None:
        """Apply one milestone record (unknown and malformed ones change nothing)."""
        self.tick(now)
        event = record.get("event")
        t = record.get("t")
        t = float(t) if isinstance(t, (int, float)) and math.isfinite(t) else now
        turn = record.get("turn") if isinstance(record.get("turn"), int) else 0
        text = record.get("text") if isinstance(record.get("text"), str) else ""
        if event == "state":
            self._state(str(record.get("state", "")), t)
        elif event == "transcript_delta":
            line = self._line("user", str(record.get("item_id", "")), turn)
            if not line.final:
                line.text += text
        elif event == "transcript":
            line = self._line("user", str(record.get("item_id", "")), turn)
            line.text, line.final = text, True
        elif event == "reply_delta":
            self._reply_delta(str(record.get("response_id", "")), turn, text, record.get("audio_ms"))
        elif event == "cached_reply":
            self._cached_reply(record, turn)
        elif event == "cached_playback_start":
            line = self._last_reply(cached=True)
            if line is not None and line.anchor is None:
                line.anchor, line.final = t, True
                if self.state in RESTING:  # an apology after a failed turn: shown while it plays, then linger_s
                    spoken = now + self.linger_s + len(line.words[0][1]) / SPOKEN_CHARS_PER_S
                    self._clear_at = max(self._clear_at or 0.0, spoken)
        elif event == "playback_start":
            line = self._last_reply(cached=False)
            if line is not None and line.anchor is None and line.cut_ms is None:
                line.anchor = t
            else:
                self._pending_anchor = t
        elif event == "playback_end":
            line = self._last_reply()
            if line is not None and line.cut_ms is None:
                line.final = True
            self._pending_anchor = None
        elif event == "barge_in":
            line = self._last_reply()
            if line is not None and not line.final and line.cut_ms is None:
                line.cut_ms = max(0.0, line.heard_ms(t))
                line.words = [(at, w) for at, w in line.words if at <= line.cut_ms]  # the rest is never shown
            self._pending_anchor = None
        if self.state in RESTING and self.lines and self._clear_at is None:
            self._clear_at = now + self.linger_s  # also words that came late, after the conversation ended

    def tick(self, now: float) -> None:
        """Empty the board once a finished conversation's linger time is up."""
        if self._clear_at is not None and now >= self._clear_at:
            self.clear()

    def clear(self) -> None:
        self.lines = []
        self._clear_at = None
        self._pending_anchor = None

    def _state(self, new: str, t: float) -> None:
        if new not in STATE_LABELS:
            return
        old, self.state = self.state, new
        if new in RESTING:
            self._pending_anchor = None  # the board empties linger_s after this (see take)
        elif old in RESTING:
            self.clear()  # a new conversation: nothing of the last one stays
        else:
            self._clear_at = None

    def _line(self, role: str, key: str, turn: int) -> Line:
        for line in self.lines:
            if line.role == role and line.key == key:
                return line
        self._seq += 1
        line = Line(role, key, turn, self._seq)
        self.lines.append(line)
        # The visitor's words first within a turn (their transcript may come after the reply began).
        self.lines.sort(key=lambda ln: (ln.turn, ln.role != "user", ln.seq))
        del self.lines[: max(0, len(self.lines) - self.max_lines)]
        return line

    def _reply_delta(self, response_id: str, turn: int, text: str, audio_ms: Any) -> None:
        line = self._line("assistant", response_id, turn)
        if line.cut_ms is not None or line.final:
            return  # late words of a reply that was interrupted (or is over)
        if line.anchor is None and self._pending_anchor is not None:
            line.anchor, self._pending_anchor = self._pending_anchor, None
        at = float(audio_ms) if isinstance(audio_ms, (int, float)) and math.isfinite(audio_ms) else 0.0
        line.words.append((at, text))

    def _cached_reply(self, record: Mapping[str, Any], turn: int) -> None:
        phrase, answer = record.get("phrase"), record.get("answer")
        key = phrase if isinstance(phrase, str) and phrase else f"{ANSWER_PREFIX}{answer}" if isinstance(answer, str) else ""
        text = self.cached_texts.get(key, "")
        if text:
            line = self._line("assistant", f"cached:{self._seq + 1}", turn)
            line.cached, line.words = True, [(0.0, text)]

    def _last_reply(self, cached: bool | None = None) -> Line | None:
        replies = [ln for ln in self.lines if ln.role == "assistant" and (cached is None or ln.cached == cached)]
        return max(replies, key=lambda ln: ln.seq) if replies else None

    # --- the view out ----------------------------------------------------------------------

    def view(self, now: float) -> dict[str, Any]:
        """What the page shows now: the state and the caption lines (empty ones left out)."""
        self.tick(now)
        lines = []
        for line in self.lines:
            text = line.shown(now)
            if text.strip():
                lines.append({"role": line.role, "text": text.strip(), "final": line.final or line.cut_ms is not None,
                              "cut": line.cut_ms is not None})
        return {"state": self.state, "label": STATE_LABELS.get(self.state, self.state), "lines": lines}

    def next_change(self, now: float) -> float | None:
        """When the view changes by itself (a word becomes due, the board empties); None if never."""
        times = [self._clear_at] if self._clear_at is not None else []
        for line in self.lines:
            if line.role != "assistant" or line.anchor is None or line.final or line.cut_ms is not None:
                continue
            heard = line.heard_ms(now)
            due = [at for at, _ in line.words if at > heard]
            if due:
                times.append(line.anchor + min(due) / 1000)
        return min(times) if times else None
