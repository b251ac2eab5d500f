"""One response as a stream of server events, produced lazily so it can be cancelled or failed mid-way.

The stream opens with ``response.created``, ``response.output_item.added`` and
``response.content_part.added``, then asks for speech (a :class:`SpeechRequest`), then
interleaves audio and transcript deltas, and ends with the ``*.done`` events and ``response.done``.
"""

from __future__ import annotations

import base64
import math
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgevoice.voicelive.emulator import formats

AUDIO_TOKENS_PER_S_OUT = 20
AUDIO_TOKENS_PER_S_IN = 10  # also for the assistant's earlier replies, read back as context
CACHE_MIN_TOKENS = 1024  # prompt caching: only an input prefix this long is cached ...
CACHE_STEP_TOKENS = 128  # ... in steps of this many tokens (as OpenAI documents its prompt caching)


def text_tokens(text: str) -> int:
    """Rough token count of text: about 1.3 tokens a word."""
    return math.ceil(len(text.split()) * 1.3)


@dataclass(frozen=True)
class SpeechRequest:
    """The shell must render ``text`` as PCM16 at ``sample_rate`` and hand it to ``provide_speech``."""

    response_id: str
    text: str
    voice: Any
    sample_rate: int


@dataclass(frozen=True)
class InputUsage:
    """A response's input: every text and audio token of the conversation it reads, and how many of
    them were cached (the prefix an earlier response of the session already read)."""

    text_tokens: int
    audio_tokens: int
    cached_text_tokens: int = 0
    cached_audio_tokens: int = 0

    def cached_after(self, earlier: InputUsage | None) -> InputUsage:
        """This input with the prefix ``earlier`` read counted as cached (in whole cache steps)."""
        if earlier is None or earlier.text_tokens + earlier.audio_tokens < CACHE_MIN_TOKENS:
            return self
        text = min(earlier.text_tokens, self.text_tokens)
        audio = min(earlier.audio_tokens, self.audio_tokens)
        whole = (text + audio) // CACHE_STEP_TOKENS * CACHE_STEP_TOKENS
        audio -= min(audio, text + audio - whole)
        text = whole - audio
        return InputUsage(self.text_tokens, self.audio_tokens, text, audio)


def usage_record(inputs: InputUsage, out_text: int, out_audio: int) -> dict[str, Any]:
    """``response.done``'s usage, shaped as the SDK's TokenUsage (input counts include the cached ones)."""
    in_text, in_audio = inputs.text_tokens, inputs.audio_tokens
    cached_text, cached_audio = inputs.cached_text_tokens, inputs.cached_audio_tokens
    return {
        "total_tokens": in_text + in_audio + out_text + out_audio,
        "input_tokens": in_text + in_audio,
        "output_tokens": out_text + out_audio,
        "input_token_details": {
            "cached_tokens": cached_text + cached_audio,
            "text_tokens": in_text,
            "audio_tokens": in_audio,
            "image_tokens": 0,
            "cached_tokens_details": {"text_tokens": cached_text, "audio_tokens": cached_audio, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
    }


class ResponseStream:
    """The events of one response; ``next()`` gives the next event, a SpeechRequest, or None when done."""

    def __init__(
        self,
        *,
        response_id: str,
        item_id: str,
        text: str,
        modalities: list[str],
        voice: Any,
        output_audio_format: str,
        temperature: float,
        max_output_tokens: Any,
        conversation_id: str | None,
        metadata: Any,
        input_usage: InputUsage,
        chunk_ms: int,
    ) -> None:
        self.id = response_id
        self.item_id = item_id
        self.text = text
        self.audio = "audio" in modalities
        self.output_audio_format = output_audio_format
        self.voice = voice
        self.audio_ms = 0  # length of the synthesized reply (known once speech arrives)
        self.sent_audio_ms = 0.0
        self.status: str | None = None  # set when the stream ends: completed | cancelled | failed
        self.finished = False
        self._chunk_ms = chunk_ms
        self._input = input_usage
        self._words = re.findall(r"\S+\s*", text)
        self._sent_words = 0
        self._head = {
            "object": "realtime.response",
            "id": response_id,
            "conversation_id": conversation_id,
            "modalities": list(modalities),
            "voice": voice,
            "output_audio_format": output_audio_format,
            "temperature": temperature,
            "max_output_tokens": max_output_tokens,
            "metadata": metadata,
        }
        self._ready: deque[dict[str, Any]] = deque(
            [
                {"type": "response.created", "response": {**self._head, "status": "in_progress", "status_details": None, "output": [], "usage": None}},
                {"type": "response.output_item.added", "response_id": self.id, "output_index": 0, "item": self._item("in_progress", [])},
                {"type": "response.content_part.added", **self._where(), "part": self._part("")},
            ]
        )
        self._speech_requested = False
        self._body: Iterator[dict[str, Any]] | None = None if self.audio else self._text_body()
        self._tail_queued = False

    # --- the stream ---------------------------------------------------------------------------

    def next(self) -> dict[str, Any] | SpeechRequest | None:
        if self._ready:
            return self._ready.popleft()
        if self._tail_queued:
            self.finished = True
            return None
        if self._body is None:
            if self._speech_requested:
                return None  # waiting for provide_speech()
            self._speech_requested = True
            rate = formats.output_rate(self.output_audio_format)
            return SpeechRequest(self.id, self.text, self.voice, rate)
        event = next(self._body, None)
        if event is not None:
            return event
        self._finish("completed", None)
        return self.next()

    def provide_speech(self, pcm16: bytes) -> None:
        """Hand over the rendered reply (PCM16 at the requested rate)."""
        if self._body is not None or self._tail_queued:
            return
        self._body = self._audio_body(np.frombuffer(pcm16, dtype="<i2"))

    def cancel(self, reason: str) -> None:
        """End now with status cancelled (reason ``turn_detected`` or ``client_cancelled``)."""
        if not self._tail_queued:
            self._finish("cancelled", {"type": "cancelled", "reason": reason})

    def fail(self, error: dict[str, Any]) -> None:
        """End now with status failed."""
        if not self._tail_queued:
            self._finish("failed", {"type": "failed", "error": error})

    @property
    def active(self) -> bool:
        return not self._tail_queued

    # --- pieces -------------------------------------------------------------------------------

    def _where(self) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": self.item_id, "output_index": 0, "content_index": 0}

    def _part(self, text: str) -> dict[str, Any]:
        return {"type": "audio", "transcript": text} if self.audio else {"type": "text", "text": text}

    def _item(self, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.item_id, "object": "realtime.item", "type": "message", "role": "assistant", "status": status, "content": content}

    @property
    def spoken_text(self) -> str:
        """The part of the reply text already sent as transcript deltas."""
        return "".join(self._words[: self._sent_words]).rstrip()

    def _audio_body(self, samples: np.ndarray) -> Iterator[dict[str, Any]]:
        rate = formats.output_rate(self.output_audio_format)
        self.audio_ms = int(len(samples) * 1000 / rate)
        per_chunk = rate * self._chunk_ms // 1000
        total = max(len(samples), 1)
        for start in range(0, len(samples), per_chunk):
            end = min(start + per_chunk, len(samples))
            # transcript runs slightly ahead of the audio: send the words that start in this chunk
            while self._sent_words < len(self._words) and self._sent_words * total / len(self._words) < end:
                self._sent_words += 1
                yield {"type": "response.audio_transcript.delta", **self._where(), "delta": self._words[self._sent_words - 1]}
            chunk = formats.from_pcm16(self.output_audio_format, samples[start:end])
            self.sent_audio_ms += (end - start) * 1000 / rate
            yield {"type": "response.audio.delta", **self._where(), "delta": base64.b64encode(chunk).decode("ascii")}
        while self._sent_words < len(self._words):
            self._sent_words += 1
            yield {"type": "response.audio_transcript.delta", **self._where(), "delta": self._words[self._sent_words - 1]}

    def _text_body(self) -> Iterator[dict[str, Any]]:
        for word in self._words:
            self._sent_words += 1
            yield {"type": "response.text.delta", **self._where(), "delta": word}

    def _finish(self, status: str, details: dict[str, Any] | None) -> None:
        self.status = status
        self._tail_queued = True  # head events not yet sent stay queued before the tail
        said = self.text if status == "completed" else self.spoken_text
        part = self._part(said)
        item = self._item("completed" if status == "completed" else "incomplete", [part])
        where = self._where()
        if self.audio:
            self._ready.append({"type": "response.audio.done", **where})
            self._ready.append({"type": "response.audio_transcript.done", **where, "transcript": said})
        else:
            self._ready.append({"type": "response.text.done", **where, "text": said})
        self._ready.append({"type": "response.content_part.done", **where, "part": part})
        self._ready.append({"type": "response.output_item.done", "response_id": self.id, "output_index": 0, "item": item})
        self._ready.append(
            {
                "type": "response.done",
                "response": {**self._head, "status": status, "status_details": details, "output": [item], "usage": self._usage(said)},
            }
        )

    def _usage(self, said: str) -> dict[str, Any]:
        out_audio = round(self.sent_audio_ms / 1000 * AUDIO_TOKENS_PER_S_OUT)
        return usage_record(self._input, text_tokens(said), out_audio)
