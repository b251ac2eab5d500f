"""Turn the [voicelive] config into what goes on the wire: the session object and the URL.

Pure functions, no I/O: ``session_payload`` builds the ``session`` of a ``session.update``
client event in the Voice Live wire shape (wrap it with ``client_events.session_update``),
``realtime_url`` builds the WebSocket URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from edgevoice.config.errors import ConfigError
from edgevoice.config.voicelive import (
    INPUT_SAMPLE_RATE,
    EndOfUtteranceConfig,
    TranscriptionConfig,
    TurnDetectionConfig,
    VoiceConfig,
    VoiceLiveConfig,
    is_loopback_host,
)

REALTIME_PATH = "/voice-live/realtime"
MODALITIES = ("text", "audio")  # audio alone is not allowed by the service
INPUT_AUDIO_FORMAT = "pcm16"

_VOICE_EXTRAS = ("temperature", "rate", "pitch", "volume", "locale", "style", "endpoint_id", "model")
_TURN_FIELDS = (
    "threshold", "prefix_padding_ms", "silence_duration_ms", "speech_duration_ms", "remove_filler_words",
    "create_response", "interrupt_response", "auto_truncate",
)


def session_payload(cfg: VoiceLiveConfig) -> dict[str, Any]:
    """The ``session`` object of ``session.update``; keys the user left unset are omitted.

    ``turn_detection`` is always present (null when edgevoice ends turns itself), because the
    service default (server VAD) would otherwise apply silently.
    """
    session: dict[str, Any] = {"modalities": list(MODALITIES)}
    if cfg.instructions.strip():
        session["instructions"] = cfg.instructions.strip()
    session["voice"] = voice_payload(cfg.effective_voice)
    session["input_audio_format"] = INPUT_AUDIO_FORMAT
    session["input_audio_sampling_rate"] = INPUT_SAMPLE_RATE
    session["output_audio_format"] = cfg.effective_output_audio_format
    session["turn_detection"] = turn_detection_payload(cfg.turn_detection)
    if cfg.effective_noise_reduction != "none":
        session["input_audio_noise_reduction"] = {"type": cfg.effective_noise_reduction}
    echo = echo_cancellation_payload(cfg.echo_mode)
    if echo is not None:
        session["input_audio_echo_cancellation"] = echo
    transcription = transcription_payload(cfg.transcription)
    if transcription is not None:
        session["input_audio_transcription"] = transcription
    if cfg.temperature is not None:
        session["temperature"] = cfg.temperature
    if cfg.max_response_output_tokens is not None:
        session["max_response_output_tokens"] = cfg.max_response_output_tokens
    return session


def echo_cancellation_payload(mode: str) -> dict[str, Any] | None:
    """``input_audio_echo_cancellation`` for a mode: "client" streams stereo with the speaker's sound on
    channel 1 as the reference; "server" uses the service's own voice; "off" sends none."""
    if mode == "off":
        return None
    if mode == "client":
        return {"type": "server_echo_cancellation", "reference_source": "client", "channels": 2}
    return {"type": "server_echo_cancellation"}


def voice_payload(voice: VoiceConfig) -> str | dict[str, Any]:
    """An OpenAI voice as its bare name; an Azure voice as a typed object with the options set."""
    if voice.type == "openai":
        return voice.name
    payload: dict[str, Any] = {"type": voice.type, "name": voice.name}
    for key in _VOICE_EXTRAS:
        value = getattr(voice, key)
        if value is not None:
            payload[key] = value
    return payload


def turn_detection_payload(td: TurnDetectionConfig) -> dict[str, Any] | None:
    """The ``turn_detection`` object, or None (JSON null) for type "none"."""
    if td.type == "none":
        return None
    payload: dict[str, Any] = {"type": td.type}
    for key in _TURN_FIELDS:
        value = getattr(td, key)
        if value is not None:
            payload[key] = value
    if td.languages:
        payload["languages"] = list(td.languages)
    if td.end_of_utterance is not None:
        payload["end_of_utterance_detection"] = end_of_utterance_payload(td.end_of_utterance)
    return payload


def end_of_utterance_payload(eou: EndOfUtteranceConfig) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": eou.model}
    if eou.threshold_level is not None:
        payload["threshold_level"] = eou.threshold_level
    if eou.timeout_ms is not None:
        payload["timeout_ms"] = eou.timeout_ms
    return payload


def transcription_payload(tr: TranscriptionConfig) -> dict[str, Any] | None:
    """The ``input_audio_transcription`` object, or None when transcription is off."""
    if tr.model == "none":
        return None
    payload: dict[str, Any] = {"model": tr.model}
    if tr.language is not None:
        payload["language"] = tr.language
    if tr.phrase_list:
        payload["phrase_list"] = list(tr.phrase_list)
    if tr.prompt is not None:
        payload["prompt"] = tr.prompt
    return payload


def realtime_url(cfg: VoiceLiveConfig) -> str:
    """``wss://host[/prefix]/voice-live/realtime?api-version=...&model=...`` for the configured endpoint.

    https becomes wss; http becomes ws, for loopback hosts only (the local emulator). A path prefix
    on the endpoint (a gateway) is kept; an endpoint that already ends in /voice-live/realtime is not
    extended twice.
    """
    url = urlsplit(cfg.endpoint)
    scheme = url.scheme.lower()
    host = url.hostname or ""
    if scheme in ("https", "wss"):
        ws_scheme = "wss"
    elif scheme in ("http", "ws") and is_loopback_host(host):
        ws_scheme = "ws"
    else:
        raise ConfigError("voicelive.endpoint", f"{cfg.endpoint!r} must be https:// (http:// only for localhost/127.0.0.1)")
    path = quote(url.path.rstrip("/"), safe="/%:@!$&'()*+,;=-._~")
    if not path.endswith(REALTIME_PATH):
        path += REALTIME_PATH
    query = urlencode({"api-version": cfg.api_version, "model": cfg.model})
    return urlunsplit((ws_scheme, url.netloc, path, query, ""))
