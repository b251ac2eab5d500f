"""How the emulator streams the transcript of a user's audio item: deltas, then the completed text.

The service transcribes each committed user item asynchronously: ``gpt-4o-transcribe``,
``gpt-4o-mini-transcribe``, ``azure-speech`` and ``mai-transcribe-1`` stream it as
``conversation.item.input_audio_transcription.delta`` events, a word at a time; ``whisper-1`` is
not a streaming model and sends the whole text as one delta. ``.completed`` always follows with
the full transcript. The emulator's text is the scripted transcript (``--transcript``) or an
honest "not recognised" marker: it does not recognise speech.
"""

from __future__ import annotations

import re

#: Models that send the transcript in a single delta.
WHOLE_TEXT_MODELS = frozenset({"whisper-1"})


def not_recognised(speech_ms: float) -> str:
    """The emulator's transcript of speech it was not given a script for."""
    return f"[emulator: {speech_ms / 1000:.1f} s of speech, not recognised]"


def transcript_deltas(model: str, text: str) -> list[str]:
    """The deltas ``model`` streams for ``text``; joined, they are ``text`` exactly."""
    if not text:
        return []
    if model in WHOLE_TEXT_MODELS:
        return [text]
    # Each word with the space before it, as the service's deltas carry it.
    return re.findall(r"\s*\S+", text) or [text]
