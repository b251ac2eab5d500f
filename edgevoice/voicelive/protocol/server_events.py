"""Typed Voice Live server events: one frozen dataclass per event edgevoice acts on.

The parser (:mod:`edgevoice.voicelive.protocol.parser`) turns JSON frames into these. Field names
follow the official ``azure-ai-voicelive`` SDK models; the Voice Live names
(``response.audio.delta``) and the GA OpenAI realtime names (``response.output_audio.delta``)
map to the same class, listed in each class's ``TYPES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

# --------------------------------------------------------------------------------------------
# Parts shared by several events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """What went wrong, as the server told it (``error`` objects in several events)."""

    type: str = ""
    code: str | None = None
    message: str = ""
    param: str | None = None
    client_event_id: str | None = None  # the client event that caused it, when the server says


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token counts of one response (``response.done``); all zero when the server sends none."""

    total_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_cached_tokens: int = 0
    input_cached_text_tokens: int = 0  # input_token_details.cached_tokens_details
    input_cached_audio_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemInfo:
    """The parts of a conversation item edgevoice looks at (message, function call, ...)."""

    id: str | None = None
    type: str = ""  # "message", "function_call", "function_call_output", ...
    role: str | None = None  # "user", "assistant", "system" for messages
    status: str | None = None
    name: str | None = None  # function calls
    call_id: str | None = None  # function calls and their outputs
    arguments: str | None = None  # function calls (JSON text)
    transcript: str | None = None  # first content part's transcript or text, when present


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """One entry of ``rate_limits.updated``."""

    name: str
    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None


# --------------------------------------------------------------------------------------------
# Server events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerEvent:
    """Base of every typed server event; ``event_id`` is the server's id for it ("" if none)."""

    TYPES: ClassVar[tuple[str, ...]] = ()
    event_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionCreated(ServerEvent):
    """The service opened the session (always the first event)."""

    TYPES: ClassVar[tuple[str, ...]] = ("session.created",)
    session_id: str | None = None
    model: str | None = None
    expires_at: float | None = None  # Unix seconds; sent from api-version 2026-07-15
    session: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the raw session object


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionUpdated(ServerEvent):
    """The service applied a ``session.update``; ``session`` is the full effective config."""

    TYPES: ClassVar[tuple[str, ...]] = ("session.updated",)
    session_id: str | None = None
    model: str | None = None
    expires_at: float | None = None
    session: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted(ServerEvent):
    """Server VAD heard speech start in the input buffer."""

    TYPES: ClassVar[tuple[str, ...]] = ("input_audio_buffer.speech_started",)
    audio_start_ms: int
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStopped(ServerEvent):
    """Server VAD heard speech end in the input buffer."""

    TYPES: ClassVar[tuple[str, ...]] = ("input_audio_buffer.speech_stopped",)
    audio_end_ms: int
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputCommitted(ServerEvent):
    """The input audio buffer became a user item (by the client's commit or server VAD)."""

    TYPES: ClassVar[tuple[str, ...]] = ("input_audio_buffer.committed",)
    item_id: str
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InputBufferCleared(ServerEvent):
    """The input audio buffer was emptied (answer to ``input_audio_buffer.clear``)."""

    TYPES: ClassVar[tuple[str, ...]] = ("input_audio_buffer.cleared",)


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemCreated(ServerEvent):
    """An item joined the conversation (``conversation.item.added`` in the GA protocol)."""

    TYPES: ClassVar[tuple[str, ...]] = ("conversation.item.created", "conversation.item.added")
    item: ItemInfo
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemTruncated(ServerEvent):
    """The server cut an assistant item's audio where the client said playback stopped."""

    TYPES: ClassVar[tuple[str, ...]] = ("conversation.item.truncated",)
    item_id: str
    content_index: int
    audio_end_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemDeleted(ServerEvent):
    """An item was removed from the conversation."""

    TYPES: ClassVar[tuple[str, ...]] = ("conversation.item.deleted",)
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTranscriptionDelta(ServerEvent):
    """Part of the transcript of what the user said (asynchronous to the response)."""

    TYPES: ClassVar[tuple[str, ...]] = ("conversation.item.input_audio_transcription.delta",)
    item_id: str
    content_index: int = 0
    delta: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTranscriptionCompleted(ServerEvent):
    """The full transcript of what the user said."""

    TYPES: ClassVar[tuple[str, ...]] = ("conversation.item.input_audio_transcription.completed",)
    item_id: str
    content_index: int = 0
    transcript: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTranscriptionFailed(ServerEvent):
    """The user's audio could not be transcribed (the response may still go on)."""

    TYPES: ClassVar[tuple[str, ...]] = ("conversation.item.input_audio_transcription.failed",)
    item_id: str
    content_index: int = 0
    error: ErrorInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCreated(ServerEvent):
    """The service started a response."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.created",)
    response_id: str
    status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputItemAdded(ServerEvent):
    """A response started an output item (an assistant message or a function call)."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.output_item.added",)
    response_id: str
    output_index: int
    item: ItemInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputItemDone(ServerEvent):
    """A response finished an output item."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.output_item.done",)
    response_id: str
    output_index: int
    item: ItemInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentPartAdded(ServerEvent):
    """A content part (audio or text) started inside an output item."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.content_part.added",)
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentPartDone(ServerEvent):
    """A content part finished."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.content_part.done",)
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioDelta(ServerEvent):
    """A chunk of reply audio, already decoded from base64 (in the session's output format)."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.audio.delta", "response.output_audio.delta")
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    pcm: bytes = field(repr=False)

    def __repr__(self) -> str:  # the audio itself is useless in a log line; its size is not
        return (
            f"AudioDelta(response_id={self.response_id!r}, item_id={self.item_id!r}, "
            f"output_index={self.output_index}, content_index={self.content_index}, pcm=<{len(self.pcm)} bytes>)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioDone(ServerEvent):
    """The reply audio of one content part is complete."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.audio.done", "response.output_audio.done")
    response_id: str
    item_id: str
    output_index: int
    content_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptDelta(ServerEvent):
    """Part of the text of the spoken reply."""

    TYPES: ClassVar[tuple[str, ...]] = (
        "response.audio_transcript.delta",
        "response.output_audio_transcript.delta",
    )
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptDone(ServerEvent):
    """The full text of the spoken reply."""

    TYPES: ClassVar[tuple[str, ...]] = (
        "response.audio_transcript.done",
        "response.output_audio_transcript.done",
    )
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    transcript: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta(ServerEvent):
    """Part of a text-only reply (modalities without audio)."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.text.delta", "response.output_text.delta")
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDone(ServerEvent):
    """The full text of a text-only reply."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.text.done", "response.output_text.done")
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallArgumentsDelta(ServerEvent):
    """Part of the JSON arguments of a function call the model is making."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.function_call_arguments.delta",)
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallArgumentsDone(ServerEvent):
    """The model finished a function call; run it and send a ``function_call_output`` item."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.function_call_arguments.done",)
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    name: str | None = None
    arguments: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseDone(ServerEvent):
    """A response ended: ``status`` completed, cancelled (``reason`` turn_detected or
    client_cancelled), failed (``error``) or incomplete (``reason`` max_output_tokens, ...)."""

    TYPES: ClassVar[tuple[str, ...]] = ("response.done",)
    response_id: str
    status: str
    reason: str | None = None
    error: ErrorInfo | None = None
    usage: Usage | None = None
    usage_problem: str | None = None  # why a usage block that was sent cannot be used (usage is then None)
    output: tuple[ItemInfo, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Error(ServerEvent):
    """The service reports an error; most errors leave the session open."""

    TYPES: ClassVar[tuple[str, ...]] = ("error",)
    type: str = ""
    code: str | None = None
    message: str = ""
    param: str | None = None
    client_event_id: str | None = None  # the event_id of the client event that caused it


@dataclass(frozen=True, slots=True, kw_only=True)
class Warning(ServerEvent):  # noqa: A001 - the protocol's name; import it qualified if it clashes
    """An informational notice from the service; nothing failed."""

    TYPES: ClassVar[tuple[str, ...]] = ("warning",)
    message: str = ""
    code: str | None = None
    param: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitsUpdated(ServerEvent):
    """The service's current rate limits (optional, informational)."""

    TYPES: ClassVar[tuple[str, ...]] = ("rate_limits.updated",)
    rate_limits: tuple[RateLimit, ...] = ()


#: Every typed server event class, in protocol order.
EVENT_CLASSES: tuple[type[ServerEvent], ...] = (
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    InputCommitted,
    InputBufferCleared,
    ItemCreated,
    ItemTruncated,
    ItemDeleted,
    InputTranscriptionDelta,
    InputTranscriptionCompleted,
    InputTranscriptionFailed,
    ResponseCreated,
    OutputItemAdded,
    OutputItemDone,
    ContentPartAdded,
    ContentPartDone,
    AudioDelta,
    AudioDone,
    TranscriptDelta,
    TranscriptDone,
    TextDelta,
    TextDone,
    FunctionCallArgumentsDelta,
    FunctionCallArgumentsDone,
    ResponseDone,
    Error,
    Warning,
    RateLimitsUpdated,
)

__all__ = [
    "EVENT_CLASSES",
    "ErrorInfo",
    "ItemInfo",
    "RateLimit",
    "ServerEvent",
    "Usage",
    *(cls.__name__ for cls in EVENT_CLASSES),
]
