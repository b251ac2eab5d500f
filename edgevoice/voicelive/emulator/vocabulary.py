"""What the emulated service accepts: API versions, enum values, audio rates and session defaults.

Values come from the Voice Live protocol brief and the official SDK's ``_enums.py``; where the
sources disagree the emulator accepts both forms.
"""

from __future__ import annotations

PATH = "/voice-live/realtime"

API_VERSIONS: tuple[str, ...] = (
    "2025-05-01-preview",
    "2025-10-01",
    "2026-01-01-preview",
    "2026-04-10",
    "2026-06-01-preview",
    "2026-07-15",
)

SESSION_LIFETIME_S = 3600  # sessions last at most 60 minutes

MODALITIES = ("text", "audio", "animation", "avatar")
INPUT_AUDIO_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
PCM16_INPUT_RATES = (8000, 16000, 24000)
G711_RATE = 8000

# output_audio_format -> sample rate of the audio deltas
OUTPUT_AUDIO_RATES: dict[str, int] = {
    "pcm16": 24000,
    "pcm16_16000hz": 16000,
    "pcm16_8000hz": 8000,
    "g711_ulaw": 8000,
    "g711_alaw": 8000,
}

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
# voice type -> fields it requires besides "type"
VOICE_TYPES: dict[str, tuple[str, ...]] = {
    "openai": ("name",),
    "azure-standard": ("name",),
    "azure-custom": ("name", "endpoint_id"),
    "azure-personal": ("name", "model"),
}

TURN_DETECTION_TYPES = ("server_vad", "azure_semantic_vad", "azure_semantic_vad_en", "azure_semantic_vad_multilingual")
EOU_MODELS = ("semantic_detection_v1", "semantic_detection_v1_en", "semantic_detection_v1_multilingual")
EOU_THRESHOLD_LEVELS = ("low", "medium", "high", "default")
NOISE_REDUCTION_TYPES = ("azure_deep_noise_suppression", "near_field", "far_field")
ECHO_CANCELLATION_TYPES = ("server_echo_cancellation",)
ECHO_REFERENCE_SOURCES = ("server", "client")
TRANSCRIPTION_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "azure-speech", "mai-transcribe-1")
TOOL_CHOICES = ("auto", "none", "required")
TOOL_TYPES = ("function", "mcp")
TEMPERATURE_RANGE = (0.6, 1.2)
MAX_OUTPUT_TOKENS_RANGE = (1, 4096)

TURN_DETECTION_DEFAULTS: dict[str, object] = {
    "threshold": 0.5,
    "prefix_padding_ms": 400,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
    "auto_truncate": False,
}

# Read-only session fields a client may echo back; the emulator ignores them in session.update.
READ_ONLY_SESSION_FIELDS = ("id", "object", "expires_at")

# Session fields the emulator accepts and keeps but does not act on.
PASSTHROUGH_SESSION_FIELDS = (
    "avatar",
    "animation",
    "output_audio_timestamp_types",
    "parallel_tool_calls",
    "reasoning_effort",
    "interim_response",
    "include",
    "metadata",
    "agent",
)

# Client event types the service defines but the emulator does not implement.
UNSUPPORTED_CLIENT_EVENTS = (
    "input_audio.turn.start",
    "input_audio.turn.append",
    "input_audio.turn.end",
    "input_audio.turn.cancel",
    "input_audio.clear",
    "session.avatar.connect",
    "mcp_approval_response",
    "output_audio_buffer.clear",
    "input_text.delta",
    "input_text.done",
    "transcription_session.update",
)


def is_realtime_model(model: str) -> bool:
    """True for the native-audio gpt-realtime family, whose default voice is an OpenAI voice."""
    return "realtime" in model.lower()


def default_voice(model: str) -> object:
    """The voice a new session starts with for ``model``."""
    if is_realtime_model(model):
        return "alloy"
    return {"type": "azure-standard", "name": "en-US-Ava:DragonHDLatestNeural"}
