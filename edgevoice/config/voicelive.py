"""The [voicelive] table: which model, voice and options the Voice Live session is opened with.

Each nested dataclass is one sub-table of the config file. Values are checked as they are read
(ranges, allowed words, URL shape); ``check()`` methods add the rules that need several keys, such
as "this voice does not work with that model", using the model catalog (edgevoice/data/models.toml).
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import re
from dataclasses import dataclass
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from edgevoice.config.model_catalog import Catalog, ModelFamily, default_catalog
from edgevoice.config.errors import ConfigError, shown
from edgevoice.config.fields import setting

DEFAULT_API_VERSION = "2026-07-15"
DEFAULT_MODEL = "gpt-realtime"
DEFAULT_INSTRUCTIONS = (
    "You are the voice assistant of a public kiosk. Answer in one to three short spoken sentences, "
    "in plain words without lists or markup. If you are not sure, say so."
)
INPUT_SAMPLE_RATE = 16000  # the device always sends 16 kHz mono pcm16; not a config key
OUTPUT_SAMPLE_RATES: Mapping[str, int] = MappingProxyType({"pcm16_16000hz": 16000, "pcm16": 24000})

VoiceType = Literal["openai", "azure-standard", "azure-custom", "azure-personal"]
TurnDetectionType = Literal["none", "server_vad", "azure_semantic_vad", "azure_semantic_vad_en", "azure_semantic_vad_multilingual"]
NoiseReduction = Literal["none", "azure_deep_noise_suppression", "near_field", "far_field"]
EchoCancellation = Literal["client", "server", "off"]
ECHO_CANCELLATION_MODES = ("client", "server", "off")
#: The first API version whose session takes a client echo reference (``reference_source``, ``channels``).
CLIENT_ECHO_REFERENCE_SINCE = "2026-07-15"
OutputAudioFormat = Literal["pcm16_16000hz", "pcm16"]
EndOfUtteranceModel = Literal["semantic_detection_v1", "semantic_detection_v1_en", "semantic_detection_v1_multilingual"]
ThresholdLevel = Literal["low", "medium", "high", "default"]

VOICE_TYPES: tuple[str, ...] = get_args(VoiceType)
TURN_DETECTION_TYPES: tuple[str, ...] = get_args(TurnDetectionType)
SEMANTIC_TYPES = tuple(t for t in TURN_DETECTION_TYPES if t.startswith("azure_semantic_vad"))
NOISE_REDUCTION: tuple[str, ...] = get_args(NoiseReduction)

_API_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(-preview)?")
_AZURE_EXAMPLE = 'voice = {type = "azure-standard", name = "en-US-AvaNeural"}'


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: the only hosts edgevoice talks to without TLS."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_endpoint(raw: Any, key: str) -> str:
    """The resource URL: https (or wss) anywhere, http/ws only to a loopback host such as the emulator."""
    if not isinstance(raw, str):
        raise ConfigError(key, f"expected a URL string, got {shown(raw)}")
    text = raw.strip()
    if not text:
        raise ConfigError(key, 'is empty; set it to your resource URL, e.g. "https://my-resource.services.ai.azure.com"')
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError as exc:
        raise ConfigError(key, f"{shown(raw)} is not a valid URL ({exc})") from None
    scheme = url.scheme.lower()
    if scheme not in ("https", "wss", "http", "ws") or not url.hostname:
        raise ConfigError(key, f"{shown(raw)} is not an https URL; expected e.g. \"https://my-resource.services.ai.azure.com\"")
    if scheme in ("http", "ws") and not is_loopback_host(url.hostname):
        raise ConfigError(
            key, f"{shown(raw)} uses {scheme}:// to a remote host; use https:// (plain {scheme} only for localhost/127.0.0.1)"
        )
    if url.username is not None or url.password is not None:
        raise ConfigError(key, "must not carry a user name or password; the credential comes from the environment or a key file")
    if url.query or url.fragment:
        raise ConfigError(key, f"{shown(raw)} has a query or fragment; give the bare resource URL (api_version and model are keys)")
    del port  # parsed only to reject a bad port number early
    return f"{scheme}://{url.netloc}{url.path.rstrip('/')}"


def parse_echo_cancellation(raw: Any, key: str) -> str:
    """"client", "server" or "off"; ``true``/``false`` (the old switch) mean "server" and "off"."""
    if isinstance(raw, bool):
        return "server" if raw else "off"
    if raw in ECHO_CANCELLATION_MODES:
        return raw
    raise ConfigError(key, f"{shown(raw)} is not an echo cancellation mode; allowed: {', '.join(ECHO_CANCELLATION_MODES)}")


def parse_api_version(raw: Any, key: str) -> str:
    """A service API version: YYYY-MM-DD or YYYY-MM-DD-preview."""
    match = _API_VERSION.fullmatch(raw) if isinstance(raw, str) else None
    if match is not None:
        try:
            datetime.date.fromisoformat(match.group(1))
            return raw
        except ValueError:
            pass
    raise ConfigError(key, f"{shown(raw)} is not an API version; expected YYYY-MM-DD or YYYY-MM-DD-preview, e.g. {DEFAULT_API_VERSION!r}")


def parse_model(raw: Any, key: str) -> str:
    """A model name; whether the catalog can place it in a family is checked with ``model_family``."""
    if not isinstance(raw, str):
        raise ConfigError(key, f"expected a model name string, got {shown(raw)}")
    if not raw.strip():
        raise ConfigError(key, f'is empty; name the model, e.g. "{DEFAULT_MODEL}"')
    return raw


def parse_model_family(raw: Any, key: str) -> str:
    """The name of a catalog family, e.g. "gpt-realtime" or "cascaded"."""
    names = default_catalog().family_names()
    if not isinstance(raw, str) or raw not in names:
        raise ConfigError(key, f"{shown(raw)} is not a model family; choose one of {', '.join(names)}")
    return raw


def place_model(model: str, declared: str | None, catalog: Catalog | None = None) -> tuple[ModelFamily, str | None]:
    """The family of ``model`` and, for a name the catalog does not list, the one-line warning to show.

    A listed name is its catalog family (``declared`` must agree); an unlisted one takes the family
    ``declared`` by ``voicelive.model_family``, else the family its name looks like. A name that cannot
    be placed is a ConfigError naming the setting that places it.
    """
    catalog = catalog or default_catalog()
    known = catalog.family_of(model)
    if known is not None:
        if declared is not None and declared != known.name:
            raise ConfigError(
                "model_family", f"{shown(declared)} disagrees with the catalog: {model!r} is a {known.name} model; remove model_family"
            )
        return known, None
    if declared is not None:
        family = catalog.named(declared)
        assert family is not None  # parse_model_family checked the name
        return family, f"voicelive.model {model!r} is not in the model catalog; using the {family.name} family (voicelive.model_family)"
    family = catalog.inferred_family(model)
    if family is not None:
        return family, (
            f"voicelive.model {model!r} is not in the model catalog; its name places it in the {family.name} family "
            f"({family.kind}); set voicelive.model_family if that is wrong"
        )
    close = catalog.closest(model)
    hint = f"did you mean {close!r}? " if close else ""
    raise ConfigError(
        "model", f"{shown(model)} is not a known Voice Live model and its family cannot be told from the name; {hint}"
        f"if the name is right, set voicelive.model_family to one of {', '.join(catalog.family_names())}"
    )


def parse_service(raw: Any, key: str) -> str:
    """The name of a service dialect: "voice-live" or "azure-openai"."""
    from edgevoice.voicelive.dialects import DIALECTS  # the dialects build on this module

    if not isinstance(raw, str) or raw not in DIALECTS:
        raise ConfigError(key, f"{shown(raw)} is not a service edgevoice speaks; choose one of {', '.join(DIALECTS)}")
    return raw


def parse_transcription_model(raw: Any, key: str) -> str:
    """A transcription model some model family accepts, or "none"."""
    known = default_catalog().transcription_models()
    if not isinstance(raw, str) or raw not in known:
        raise ConfigError(key, f"{shown(raw)} is not a transcription model; choose one of {', '.join(known)}")
    return raw


def parse_prosody(raw: Any, key: str) -> str:
    """An SSML prosody value: a word ("fast"), a change ("+10%"), or a number (1.2)."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ConfigError(key, f"expected a string such as \"+10%\" or a number, got {shown(raw)}")
    text = str(raw).strip()
    if not text:
        raise ConfigError(key, "is empty; leave the key out for the voice's default")
    return text


def parse_max_tokens(raw: Any, key: str) -> int | Literal["inf"]:
    """1 to 4096, or "inf" for no limit."""
    if raw == "inf" or (isinstance(raw, float) and math.isinf(raw) and raw > 0):
        return "inf"
    if isinstance(raw, int) and not isinstance(raw, bool):
        if 1 <= raw <= 4096:
            return raw
        raise ConfigError(key, f"{shown(raw)} is out of range; allowed 1 to 4096, or \"inf\"")
    raise ConfigError(key, f"expected an integer from 1 to 4096 or \"inf\", got {shown(raw)}")


def parse_voice(raw: Any, key: str) -> VoiceConfig:
    """A voice: an OpenAI voice name, an Azure "...Neural" name, or a table with a ``type``."""
    if isinstance(raw, str):
        name = raw.strip()
        if name in default_catalog().openai_voices:
            return VoiceConfig(type="openai", name=name)
        if name.endswith("Neural"):
            return VoiceConfig(type="azure-standard", name=name)
        voices = ", ".join(default_catalog().openai_voices)
        raise ConfigError(
            key, f"{shown(raw)} is neither an OpenAI voice ({voices}) nor an Azure voice name ending in 'Neural'; "
            f"for other voices write {_AZURE_EXAMPLE}"
        )
    if isinstance(raw, dict):
        from edgevoice.config.load import build  # the generic loader; imported here to avoid a cycle

        if "type" not in raw and isinstance(raw.get("name"), str):  # no type: infer it as the string form does
            openai = raw["name"] in default_catalog().openai_voices
            raw = {**raw, "type": "openai" if openai else "azure-standard"}
        return build(VoiceConfig, raw, key)
    raise ConfigError(key, f"expected a voice name or a table like {_AZURE_EXAMPLE}, got {shown(raw)}")


@dataclass(frozen=True)
class VoiceConfig:
    """The voice that speaks the replies: an OpenAI voice or an Azure text-to-speech voice."""

    type: VoiceType = setting(
        "openai", "openai (gpt-realtime models only), azure-standard, azure-custom or azure-personal; inferred from name if unset"
    )
    name: str = setting("alloy", 'voice name, e.g. "alloy" or "en-US-AvaNeural"')
    temperature: float | None = setting(None, "Azure voices: speaking variation, 0.0 to 1.0", min=0.0, max=1.0)
    rate: str | None = setting(None, 'Azure voices: speaking rate, e.g. "fast", "+10%" or 1.2', parse=parse_prosody)
    pitch: str | None = setting(None, 'Azure voices: pitch, e.g. "high", "+5%" or "-2st"', parse=parse_prosody)
    volume: str | None = setting(None, 'Azure voices: volume, e.g. "loud", "+10" or 80', parse=parse_prosody)
    locale: str | None = setting(None, 'Azure voices: always speak this locale, e.g. "en-GB"')
    style: str | None = setting(None, 'Azure voices: speaking style, e.g. "cheerful"')
    endpoint_id: str | None = setting(None, "azure-custom voices: the custom voice deployment id (required there)")
    model: str | None = setting(None, 'azure-personal voices: the voice model, e.g. "DragonLatestNeural" (required there)')

    def check(self) -> None:
        if not self.name.strip():
            raise ConfigError("name", "is empty; name the voice to speak with")
        if self.type == "openai":
            voices = default_catalog().openai_voices
            if self.name not in voices:
                raise ConfigError("name", f"{shown(self.name)} is not an OpenAI voice; choose one of {', '.join(voices)}")
            for key in ("temperature", "rate", "pitch", "volume", "locale", "style"):
                if getattr(self, key) is not None:
                    raise ConfigError(key, f"{shown(getattr(self, key))} is for Azure voices only; OpenAI voices take a name alone")
        if (self.type == "azure-custom") != (self.endpoint_id is not None):
            if self.endpoint_id is None:
                raise ConfigError("endpoint_id", "is required for an azure-custom voice (the custom voice deployment id)")
            raise ConfigError("endpoint_id", f"{shown(self.endpoint_id)} applies to azure-custom voices only, not {self.type!r}")
        if (self.type == "azure-personal") != (self.model is not None):
            if self.model is None:
                raise ConfigError("model", 'is required for an azure-personal voice, e.g. model = "DragonLatestNeural"')
            raise ConfigError("model", f"{shown(self.model)} applies to azure-personal voices only, not {self.type!r}")

    def describe(self) -> str:
        return f"{self.type} {self.name}"


@dataclass(frozen=True)
class EndOfUtteranceConfig:
    """Semantic end-of-utterance detection: waits for the user to finish a thought, not just a pause."""

    model: EndOfUtteranceModel = setting(
        "semantic_detection_v1", "semantic_detection_v1, semantic_detection_v1_en or semantic_detection_v1_multilingual"
    )
    threshold_level: ThresholdLevel | None = setting(
        None, "how readily a pause counts as the end: low, medium, high or default"
    )
    timeout_ms: int | None = setting(None, "end the turn after this much silence even mid-thought (ms)", min=0, max=10000)


@dataclass(frozen=True)
class TurnDetectionConfig:
    """Who decides that the user has finished speaking: the service (a VAD type) or edgevoice ("none")."""

    type: TurnDetectionType = setting(
        "azure_semantic_vad",
        "none (edgevoice commits each turn itself), server_vad, azure_semantic_vad, azure_semantic_vad_en "
        "or azure_semantic_vad_multilingual",
    )
    threshold: float | None = setting(None, "speech probability that counts as speech, 0.0 to 1.0", min=0.0, max=1.0)
    prefix_padding_ms: int | None = setting(None, "audio kept from before speech started (ms)", min=0, max=10000)
    silence_duration_ms: int | None = setting(None, "silence that ends a turn (ms)", min=0, max=10000)
    speech_duration_ms: int | None = setting(None, "semantic VAD: shortest sound that counts as speech (ms)", min=0, max=10000)
    remove_filler_words: bool | None = setting(None, "semantic VAD: ignore 'um' and 'uh' when detecting speech")
    languages: tuple[str, ...] = setting((), 'semantic VAD: expected languages, e.g. ["en", "de"]')
    create_response: bool | None = setting(None, "answer automatically when a turn ends (service default: true)")
    interrupt_response: bool | None = setting(None, "let the user's speech cut off a reply (barge-in; service default: true)")
    auto_truncate: bool | None = setting(None, "trim the cut-off reply from the conversation after a barge-in")
    end_of_utterance: EndOfUtteranceConfig | None = setting(None, "semantic end-of-utterance detection (a sub-table)")

    def check(self) -> None:
        if self.type == "none":
            for key in (
                "threshold", "prefix_padding_ms", "silence_duration_ms", "speech_duration_ms", "remove_filler_words",
                "languages", "create_response", "interrupt_response", "auto_truncate", "end_of_utterance",
            ):
                value = getattr(self, key)
                if value is not None and value != ():
                    raise ConfigError(
                        key, f"is set ({_brief(value)}) but type is 'none' (edgevoice ends turns itself); remove it or pick a VAD type"
                    )
        elif self.type not in SEMANTIC_TYPES:
            for key in ("speech_duration_ms", "remove_filler_words", "languages"):
                value = getattr(self, key)
                if value is not None and value != ():
                    raise ConfigError(key, f"{_brief(value)} needs an azure_semantic_vad type, not {self.type!r}")


@dataclass(frozen=True)
class TranscriptionConfig:
    """Transcribing what the user said (for logs and captions); the reply does not depend on it."""

    model: str = setting(
        "none",
        "none, azure-speech (every model), whisper-1 / gpt-4o-transcribe / gpt-4o-mini-transcribe (gpt-realtime only)",
        parse=parse_transcription_model,
    )
    language: str | None = setting(None, 'language hint, e.g. "en-US", or several: "en,de"')
    phrase_list: tuple[str, ...] = setting((), 'words to recognise better, e.g. ["Contoso", "kiosk"]')
    prompt: str | None = setting(None, "OpenAI transcription models: a hint text for spelling and style")

    def check(self) -> None:
        if self.model == "none":
            for key in ("language", "phrase_list", "prompt"):
                value = getattr(self, key)
                if value is not None and value != ():
                    raise ConfigError(key, f"is set ({_brief(value)}) but model is 'none'; pick a transcription model or remove it")


@dataclass(frozen=True)
class VoiceLiveConfig:
    """The Voice Live session: where to connect, which model and voice, and how turns work."""

    service: str = setting(
        "voice-live", '"voice-live" (Azure AI Voice Live) or "azure-openai" (an Azure OpenAI gpt-realtime deployment, GA API)',
        parse=parse_service,
    )
    endpoint: str = setting("", 'resource URL, e.g. "https://my-resource.services.ai.azure.com" (required)', parse=parse_endpoint)
    api_version: str = setting(DEFAULT_API_VERSION, "service API version: YYYY-MM-DD or YYYY-MM-DD-preview", parse=parse_api_version)
    model: str = setting(DEFAULT_MODEL, "gpt-realtime, gpt-realtime-mini, phi4-mm-realtime, or a cascaded model", parse=parse_model)
    model_family: str | None = setting(
        None, "the catalog family of a model edgevoice does not know yet: gpt-realtime, phi4-mm-realtime or cascaded",
        parse=parse_model_family,
    )
    voice: VoiceConfig | None = setting(None, "the voice; unset means the model's default voice", parse=parse_voice)
    deployment: str | None = setting(None, "azure-openai: the deployment name, when it is not the model name")
    instructions: str = setting(DEFAULT_INSTRUCTIONS, "the system prompt: who the assistant is and how it answers")
    output_audio_format: OutputAudioFormat | None = setting(
        None, "reply audio: pcm16_16000hz (16 kHz, no resampling on the device) or pcm16 (24 kHz); "
        "unset: pcm16_16000hz on Voice Live, pcm16 on Azure OpenAI"
    )
    noise_reduction: NoiseReduction | None = setting(
        None,
        "service-side noise reduction: none, azure_deep_noise_suppression, near_field or far_field (gpt-realtime only); "
        "unset: azure_deep_noise_suppression on Voice Live, none on Azure OpenAI",
    )
    echo_cancellation: EchoCancellation | None = setting(
        None,
        'service-side echo cancellation: "client" (the device streams what its speaker plays as a reference), '
        '"server" (the service\'s own voice only) or "off"; unset: "client" from API version '
        f'{CLIENT_ECHO_REFERENCE_SINCE} on, else "server"',
        parse=parse_echo_cancellation,
    )
    temperature: float | None = setting(None, "model creativity, 0.6 to 1.2 (service default 0.8)", min=0.6, max=1.2)
    max_response_output_tokens: int | Literal["inf"] | None = setting(
        None, 'longest reply in tokens, 1 to 4096, or "inf" (about 20 tokens per second of speech)', parse=parse_max_tokens
    )
    # One value for three waits on purpose: a connection attempt, the first answer to a request and the
    # reachability probe each leave the visitor in silence, so each gets the same bound (see the example config).
    connect_timeout_s: float = setting(
        1.5, "longest wait on the network before the cache speaks: a connection attempt, a request's first answer, "
        "the reachability check (s)", min=0.1, max=60.0,
    )
    stall_timeout_s: float = setting(
        4.0, "while a reply streams, longest silence from the service before the session is taken for dead (s)",
        min=0.5, max=60.0,
    )
    api_key_file: Path | None = setting(None, "file holding the API key (mode 0600); the environment and systemd credentials win")
    token_file: Path | None = setting(None, "file holding an Entra ID bearer token, re-read when it changes")
    turn_detection: TurnDetectionConfig = setting(default_factory=TurnDetectionConfig, doc="[voicelive.turn_detection]")
    transcription: TranscriptionConfig = setting(default_factory=TranscriptionConfig, doc="[voicelive.transcription]")

    @property
    def family(self) -> ModelFamily:
        """The catalog family of ``model`` (which options it accepts)."""
        return place_model(self.model, self.model_family)[0]

    @property
    def model_warning(self) -> str | None:
        """One line to show when ``model`` is not in the catalog and its family was inferred or declared."""
        return place_model(self.model, self.model_family)[1]

    @property
    def dialect(self) -> Any:
        """The service dialect (:class:`edgevoice.voicelive.dialects.base.Dialect`) of ``service``."""
        from edgevoice.voicelive.dialects import dialect_for  # the dialects build on this module

        return dialect_for(self.service)

    @property
    def effective_output_audio_format(self) -> str:
        """The reply audio format: as configured, or the service's default."""
        return self.output_audio_format or self.dialect.default_output_audio_format

    @property
    def effective_noise_reduction(self) -> str:
        """The service-side noise reduction: as configured, or the service's default."""
        return self.noise_reduction or self.dialect.default_noise_reduction

    @property
    def effective_voice(self) -> VoiceConfig:
        """The configured voice, or the model family's default voice."""
        if self.voice is not None:
            return self.voice
        kind, name = self.family.default_voice
        return VoiceConfig(type=kind, name=name)  # type: ignore[arg-type]

    @property
    def echo_mode(self) -> str:
        """The echo cancellation in effect: as configured, or "client" where the API version supports it."""
        if self.echo_cancellation is not None:
            return self.echo_cancellation
        if not self.dialect.echo_cancellation:
            return "off"  # a service without server-side echo cancellation
        return "client" if self.api_version[:10] >= CLIENT_ECHO_REFERENCE_SINCE else "server"

    @property
    def input_channels(self) -> int:
        """Channels of the audio streamed: 2 with a client echo reference (channel 1), else 1."""
        return 2 if self.echo_mode == "client" else 1

    @property
    def output_sample_rate(self) -> int:
        """Sample rate of the reply audio (Hz)."""
        return OUTPUT_SAMPLE_RATES[self.effective_output_audio_format]

    def check(self) -> None:
        if not self.endpoint:
            raise ConfigError(
                "endpoint", 'is required; set it to your resource URL, e.g. endpoint = "https://my-resource.services.ai.azure.com"'
            )
        if self.api_key_file is not None and self.token_file is not None:
            raise ConfigError(
                "token_file", f"{shown(str(self.token_file))} and api_key_file are both set; use one credential file"
            )
        self.dialect.check(self)  # options the chosen service cannot honour
        if self.echo_cancellation == "client" and self.api_version[:10] < CLIENT_ECHO_REFERENCE_SINCE:
            raise ConfigError(
                "echo_cancellation", f'"client" needs api_version {CLIENT_ECHO_REFERENCE_SINCE} or later '
                f'(configured: {self.api_version!r}); use "server" with this version'
            )
        family = self.family
        voice = self.effective_voice
        if voice.type not in family.voice_types:
            if voice.type == "openai":
                able = [m for f in default_catalog().families_with("voice_types", "openai") for m in f.models]
                problem = (
                    f"OpenAI voice {voice.name!r} works only with {', '.join(able)} (and their dated variants); "
                    f"{self.model!r} ({_kind(family)}) speaks with Azure voices: use e.g. {_AZURE_EXAMPLE}"
                )
            else:
                problem = f"{voice.type!r} voices do not work with {self.model!r}; allowed: {', '.join(family.voice_types)}"
            raise ConfigError("voice", problem)
        _allowed(self.effective_noise_reduction, family.noise_reduction, "noise_reduction", self.model, family)
        if self.transcription.model not in family.transcription:
            _refuse("transcription.model", self.transcription.model, family.transcription, self.model, family)
        _allowed(self.turn_detection.type, family.turn_detection, "turn_detection.type", self.model, family)
        _allowed(self.effective_output_audio_format, family.output_audio_formats, "output_audio_format", self.model, family)


def _kind(family: ModelFamily) -> str:
    return "a cascaded model" if family.kind == "cascaded" else f"a {family.kind} model of the {family.name} family"


def _allowed(value: str, allowed: tuple[str, ...], key: str, model: str, family: ModelFamily) -> None:
    if value not in allowed:
        _refuse(key, value, allowed, model, family)


def _refuse(key: str, value: str, allowed: tuple[str, ...], model: str, family: ModelFamily) -> None:
    raise ConfigError(key, f"{shown(value)} is not available with {model!r} ({_kind(family)}); allowed: {', '.join(allowed)}")


def _brief(value: object) -> str:
    if isinstance(value, tuple):
        return shown(list(value))
    if hasattr(value, "__dataclass_fields__"):
        return "a table"
    return shown(value)
