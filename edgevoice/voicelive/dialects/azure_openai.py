"""The Azure OpenAI dialect: a gpt-realtime deployment spoken to in the GA realtime shape.

``wss://<resource>.openai.azure.com/openai/v1/realtime?model=<deployment>`` with the ``api-key``
header or an Entra ID bearer token. The session is GA-shaped (``type = "realtime"``, ``audio.input``
and ``audio.output`` with format, turn detection, noise reduction, transcription and voice), audio
is 24 kHz PCM both ways, and the server events carry the GA names (``response.output_audio.delta``,
``conversation.item.added`` ...). There are no Azure voices, no semantic VAD, no echo cancellation
and no pre-generated messages: configs asking for them are refused (exit 78) with the key named.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from edgevoice.config.errors import ConfigError
from edgevoice.config.voicelive import TranscriptionConfig, TurnDetectionConfig, VoiceLiveConfig
from edgevoice.voicelive.dialects.base import Dialect

RATE = 24000  # GA realtime PCM is 24 kHz, in and out
PCM = MappingProxyType({"type": "audio/pcm", "rate": RATE})
TURN_DETECTION = ("none", "server_vad")
NOISE_REDUCTION = ("none", "near_field", "far_field")
TRANSCRIPTION = ("none", "whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
_TURN_FIELDS = ("threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response")
_VOICE_LIVE_ONLY = ("auto_truncate", "end_of_utterance")

#: Voice Live (beta) server event names and their GA spelling.
GA_EVENT_NAMES: Mapping[str, str] = MappingProxyType({
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "conversation.item.created": "conversation.item.added",
})


class AzureOpenAI(Dialect):
    """Azure OpenAI gpt-realtime (GA): OpenAI voices, server VAD, 24 kHz audio."""

    name = "azure-openai"
    title = "Azure OpenAI"
    path = "/openai/v1/realtime"
    input_rate = RATE
    pre_generated_messages = False
    default_output_audio_format = "pcm16"  # 24 kHz: the only PCM rate of the GA API
    default_noise_reduction = "none"
    event_names = GA_EVENT_NAMES

    def query(self, cfg: VoiceLiveConfig) -> dict[str, str]:
        return {"model": cfg.deployment or cfg.model}

    def session_payload(self, cfg: VoiceLiveConfig) -> dict[str, Any]:
        audio_in: dict[str, Any] = {"format": dict(PCM), "turn_detection": _turn_detection(cfg.turn_detection)}
        noise = cfg.effective_noise_reduction
        audio_in["noise_reduction"] = {"type": noise} if noise != "none" else None
        transcription = _transcription(cfg.transcription)
        if transcription is not None:
            audio_in["transcription"] = transcription
        session: dict[str, Any] = {"type": "realtime", "output_modalities": ["audio"]}
        if cfg.instructions.strip():
            session["instructions"] = cfg.instructions.strip()
        session["audio"] = {"input": audio_in, "output": {"format": dict(PCM), "voice": cfg.effective_voice.name}}
        if cfg.max_response_output_tokens is not None:
            session["max_output_tokens"] = cfg.max_response_output_tokens
        return session

    def client_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Voice Live shape to GA: the session's ``type``, and ``response.create``'s audio options."""
        out = dict(event)
        if out.get("type") == "session.update" and isinstance(out.get("session"), Mapping):
            out["session"] = {"type": "realtime", **out["session"]}
        elif out.get("type") == "response.create":
            if "additional_instructions" in out:
                raise ValueError("Azure OpenAI has no additional_instructions; put them in instructions")
            if isinstance(out.get("response"), Mapping):
                out["response"] = _response_params(out["response"])
        return out

    def check(self, cfg: VoiceLiveConfig) -> None:
        family = cfg.family
        if "openai" not in family.voice_types:
            raise ConfigError(
                "model", f"{cfg.model!r} is a {family.name} model, which only Voice Live runs; an Azure OpenAI realtime "
                "deployment runs a gpt-realtime model (set service = \"voice-live\" for this one)"
            )
        voice = cfg.effective_voice
        if voice.type != "openai":
            raise ConfigError("voice", f"{voice.type!r} voices are Voice Live's; Azure OpenAI speaks with OpenAI voices, e.g. voice = \"alloy\"")
        td = cfg.turn_detection
        if td.type not in TURN_DETECTION:
            raise ConfigError(
                "turn_detection.type", f"{td.type!r} is Voice Live's; Azure OpenAI takes {' or '.join(TURN_DETECTION)}"
            )
        for key in _VOICE_LIVE_ONLY:
            if getattr(td, key) is not None:
                raise ConfigError(f"turn_detection.{key}", "is a Voice Live option; Azure OpenAI has no such setting, remove it")
        if cfg.effective_noise_reduction not in NOISE_REDUCTION:
            raise ConfigError(
                "noise_reduction", f"{cfg.effective_noise_reduction!r} is Voice Live's; Azure OpenAI takes {', '.join(NOISE_REDUCTION)}"
            )
        if cfg.echo_cancellation in ("client", "server"):
            raise ConfigError(
                "echo_cancellation", f"{cfg.echo_cancellation!r} is a Voice Live option; Azure OpenAI has no echo cancellation, "
                "remove it (the device's echo guard still works)"
            )
        tr = cfg.transcription
        if tr.model not in TRANSCRIPTION:
            raise ConfigError("transcription.model", f"{tr.model!r} is Voice Live's; Azure OpenAI takes {', '.join(TRANSCRIPTION)}")
        if tr.phrase_list:
            raise ConfigError("transcription.phrase_list", "is a Voice Live option; with Azure OpenAI use transcription.prompt")
        if cfg.effective_output_audio_format != "pcm16":
            raise ConfigError(
                "output_audio_format", f"{cfg.effective_output_audio_format!r} is Voice Live's; Azure OpenAI sends \"pcm16\" (24 kHz)"
            )
        if cfg.temperature is not None:
            raise ConfigError("temperature", "is a Voice Live option; GA realtime sessions take no temperature, remove it")


def _turn_detection(td: TurnDetectionConfig) -> dict[str, Any] | None:
    if td.type == "none":
        return None
    payload: dict[str, Any] = {"type": td.type}
    for key in _TURN_FIELDS:
        value = getattr(td, key)
        if value is not None:
            payload[key] = value
    return payload


def _transcription(tr: TranscriptionConfig) -> dict[str, Any] | None:
    if tr.model == "none":
        return None
    payload: dict[str, Any] = {"model": tr.model}
    if tr.language is not None:
        payload["language"] = tr.language
    if tr.prompt is not None:
        payload["prompt"] = tr.prompt
    return payload


def _response_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    if "pre_generated_assistant_message" in out:
        raise ValueError("Azure OpenAI has no pre-generated messages; ask with instructions")
    if "temperature" in out:
        raise ValueError("Azure OpenAI responses take no temperature")
    modalities = out.pop("modalities", None)
    if modalities is not None:
        out["output_modalities"] = ["audio"] if "audio" in modalities else ["text"]
    output: dict[str, Any] = {}
    if "voice" in out:
        output["voice"] = out.pop("voice")
    if "output_audio_format" in out:
        out.pop("output_audio_format")
        output["format"] = dict(PCM)
    if output:
        out["audio"] = {"output": output}
    return out


DIALECT = AzureOpenAI()
