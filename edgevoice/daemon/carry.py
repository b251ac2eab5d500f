"""The last exchange of a conversation, kept to start a fresh session with after a context limit.

When ``assistant.max_turns_per_conversation`` or ``max_context_tokens`` ends a session, the next
one starts with a short text item (the visitor's last question and the reply, cut to a few dozen
words) instead of nothing: a follow-up ("and on Sunday?") still makes sense, for some 60-150 text
tokens rather than the whole conversation's audio.
"""

from __future__ import annotations

import threading

from edgevoice.daemon.link import Transcript

MAX_WORDS = 40  # of the question and of the answer, each


def _cut(text: str, words: int = MAX_WORDS) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


class LastExchange:
    """The visitor's last question and the assistant's last reply (transcripts arrive on the session's thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._question = ""
        self._answer = ""

    def note(self, transcript: Transcript) -> None:
        with self._lock:
            if transcript.role == "user":
                self._question, self._answer = transcript.text.strip(), ""
            else:
                self._answer = transcript.text.strip()

    def forget(self) -> None:
        with self._lock:
            self._question = self._answer = ""

    def summary(self) -> str:
        """The text the fresh session starts with ("" when there is nothing to carry)."""
        with self._lock:
            question, answer = self._question, self._answer
        if not question and not answer:
            return ""
        parts = ["(Earlier in this conversation, which continues in a new session:"]
        if question:
            parts.append(f'the visitor asked "{_cut(question)}"')
        if answer:
            parts.append(f'{"and " if question else ""}you answered "{_cut(answer)}"')
        return " ".join(parts) + ". Do not reply to this note.)"
