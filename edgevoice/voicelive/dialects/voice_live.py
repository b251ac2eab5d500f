"""The Azure Voice Live dialect: ``/voice-live/realtime?api-version&model``, the Voice Live session shape.

Its session payload is :func:`edgevoice.voicelive.protocol.session_config.session_payload`; every
option of the [voicelive] table is Voice Live's, so only the Azure OpenAI ones are refused here.
"""

from __future__ import annotations

from typing import Any

from edgevoice.config.errors import ConfigError
from edgevoice.config.voicelive import VoiceLiveConfig
from edgevoice.voicelive.dialects.base import Dialect
from edgevoice.voicelive.protocol.session_config import REALTIME_PATH, session_payload


class VoiceLive(Dialect):
    """Azure AI Voice Live: Azure voices, semantic VAD, echo cancellation, pre-generated messages."""

    name = "voice-live"
    title = "Voice Live"
    path = REALTIME_PATH
    pre_generated_messages = True
    echo_cancellation = True
    default_output_audio_format = "pcm16_16000hz"  # 16 kHz out: no resampling on the device
    default_noise_reduction = "azure_deep_noise_suppression"

    def query(self, cfg: VoiceLiveConfig) -> dict[str, str]:
        return {"api-version": cfg.api_version, "model": cfg.model}

    def session_payload(self, cfg: VoiceLiveConfig) -> dict[str, Any]:
        return session_payload(cfg)

    def check(self, cfg: VoiceLiveConfig) -> None:
        if cfg.deployment is not None:
            raise ConfigError("deployment", f"{cfg.deployment!r} is for service = \"azure-openai\"; Voice Live takes the model name alone")


DIALECT = VoiceLive()
