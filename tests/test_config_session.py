"""session_payload and realtime_url: the exact wire shape, checked against the official SDK."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.ai.voicelive import models as sdk
from azure.ai.voicelive.aio._patch import _VoiceLiveConnectionManager
from azure.core.credentials import AzureKeyCredential

from config_helpers import ENDPOINT
from edgevoice.config.errors import ConfigError
from edgevoice.config.load import parse_config
from edgevoice.config.voicelive import DEFAULT_INSTRUCTIONS, VoiceLiveConfig
from edgevoice.voicelive.protocol.client_events import session_update as wrap_session
from edgevoice.voicelive.protocol.session_config import realtime_url, session_payload


def session_update(vl: VoiceLiveConfig, event_id: str = "evt_test") -> dict[str, Any]:
    return wrap_session(session_payload(vl), event_id=event_id)


def _vl(body: str = "", endpoint: str = ENDPOINT) -> VoiceLiveConfig:
    return parse_config(f"[voicelive]\n{endpoint}\n{body}\n", "<test>").voicelive


def test_default_kiosk_session_exactly() -> None:
    assert session_payload(_vl()) == {
        "modalities": ["text", "audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "input_audio_sampling_rate": 16000,
        "output_audio_format": "pcm16_16000hz",
        "turn_detection": {"type": "azure_semantic_vad"},
        "input_audio_noise_reduction": {"type": "azure_deep_noise_suppression"},
        # The default: the device streams what its speaker plays as the echo reference (channel 1).
        "input_audio_echo_cancellation": {"type": "server_echo_cancellation", "reference_source": "client", "channels": 2},
    }


def test_everything_set() -> None:
    vl = _vl(
        """
model = "gpt-realtime-mini"
instructions = '''
Be brief.
'''
output_audio_format = "pcm16"
noise_reduction = "far_field"
echo_cancellation = false
temperature = 0.9
max_response_output_tokens = "inf"
[voicelive.voice]
type = "azure-standard"
name = "en-US-Ava:DragonHDLatestNeural"
temperature = 0.7
rate = "+5%"
pitch = "low"
volume = 90
locale = "en-GB"
style = "cheerful"
[voicelive.turn_detection]
type = "azure_semantic_vad_multilingual"
threshold = 0.4
prefix_padding_ms = 300
silence_duration_ms = 600
speech_duration_ms = 80
remove_filler_words = true
languages = ["en", "de"]
create_response = true
interrupt_response = false
auto_truncate = true
[voicelive.turn_detection.end_of_utterance]
model = "semantic_detection_v1_multilingual"
threshold_level = "high"
timeout_ms = 2000
[voicelive.transcription]
model = "gpt-4o-mini-transcribe"
language = "en,de"
phrase_list = ["Contoso"]
prompt = "kiosk words"
"""
    )
    assert session_update(vl, event_id="evt-1") == {
        "type": "session.update",
        "event_id": "evt-1",
        "session": {
            "modalities": ["text", "audio"],
            "instructions": "Be brief.",
            "voice": {"type": "azure-standard", "name": "en-US-Ava:DragonHDLatestNeural", "temperature": 0.7, "rate": "+5%",
                      "pitch": "low", "volume": "90", "locale": "en-GB", "style": "cheerful"},
            "input_audio_format": "pcm16",
            "input_audio_sampling_rate": 16000,
            "output_audio_format": "pcm16",
            "turn_detection": {
                "type": "azure_semantic_vad_multilingual", "threshold": 0.4, "prefix_padding_ms": 300, "silence_duration_ms": 600,
                "speech_duration_ms": 80, "remove_filler_words": True, "create_response": True, "interrupt_response": False,
                "auto_truncate": True, "languages": ["en", "de"],
                "end_of_utterance_detection": {"model": "semantic_detection_v1_multilingual", "threshold_level": "high", "timeout_ms": 2000},
            },
            "input_audio_noise_reduction": {"type": "far_field"},
            "input_audio_transcription": {"model": "gpt-4o-mini-transcribe", "language": "en,de", "phrase_list": ["Contoso"], "prompt": "kiosk words"},
            "temperature": 0.9,
            "max_response_output_tokens": "inf",
        },
    }


def test_turn_detection_none_is_an_explicit_null() -> None:
    payload = session_payload(_vl('[voicelive.turn_detection]\ntype = "none"'))
    assert payload["turn_detection"] is None
    assert json.loads(json.dumps(payload))["turn_detection"] is None


def test_off_switches_omit_their_objects() -> None:
    payload = session_payload(_vl('noise_reduction = "none"\necho_cancellation = false\ninstructions = "  "'))
    for key in ("input_audio_noise_reduction", "input_audio_echo_cancellation", "input_audio_transcription", "instructions",
                "temperature", "max_response_output_tokens"):
        assert key not in payload


def test_cascaded_model_gets_the_family_default_azure_voice() -> None:
    assert session_payload(_vl('model = "gpt-4.1"'))["voice"] == {"type": "azure-standard", "name": "en-US-AvaNeural"}
    custom = _vl('model = "gpt-5"\nvoice = {type = "azure-custom", name = "Mine", endpoint_id = "ep-1"}')
    assert session_payload(custom)["voice"] == {"type": "azure-custom", "name": "Mine", "endpoint_id": "ep-1"}
    personal = _vl('model = "phi4-mm-realtime"\nvoice = {type = "azure-personal", name = "Me", model = "DragonLatestNeural"}')
    assert session_payload(personal)["voice"] == {"type": "azure-personal", "name": "Me", "model": "DragonLatestNeural"}


# --- the official SDK as an oracle ------------------------------------------------------------------

# Keys the protocol brief documents that this SDK version does not model (sent anyway, marked (!) there).
NOT_IN_SDK = {("AudioInputTranscriptionOptions", "prompt")}

_DISCRIMINATED = {
    "voice": (sdk.AzureVoice, "type"),
    "turn_detection": (sdk.TurnDetection, "type"),
    "end_of_utterance_detection": (sdk.EouDetection, "model"),
}
_PLAIN = {
    "input_audio_noise_reduction": sdk.AudioNoiseReduction,
    "input_audio_echo_cancellation": sdk.AudioEchoCancellation,
    "input_audio_transcription": sdk.AudioInputTranscriptionOptions,
}


def _sdk_class_for(key: str, value: dict[str, Any]) -> type:
    if key in _DISCRIMINATED:
        base, field = _DISCRIMINATED[key]
        assert value[field] in base.__mapping__, f"{key}: SDK knows no {field} {value[field]!r}"
        return base.__mapping__[value[field]]
    return _PLAIN[key]


def assert_sdk_accepts(sdk_class: type, raw: dict[str, Any]) -> None:
    """Every key is a field the SDK model declares, nested objects recursively, values round-trip."""
    obj = sdk_class(raw)
    declared = {rf._rest_name: attr for attr, rf in sdk_class._attr_to_rest_field.items()}
    for key, value in raw.items():
        if (sdk_class.__name__, key) in NOT_IN_SDK:
            continue
        assert key in declared, f"{sdk_class.__name__} has no field {key!r}"
        if isinstance(value, dict):
            assert_sdk_accepts(_sdk_class_for(key, value), value)
        else:
            got = getattr(obj, declared[key])
            assert got == value, f"{sdk_class.__name__}.{key}: {got!r} != {value!r}"
    assert obj.as_dict() == raw


CONFIGS = [
    "",
    'voice = "cedar"\nmax_response_output_tokens = 300\ntemperature = 1.2',
    '[voicelive.turn_detection]\ntype = "none"',
    '[voicelive.turn_detection]\ntype = "server_vad"\nthreshold = 0.5\nprefix_padding_ms = 300\nsilence_duration_ms = 500\n'
    'create_response = false\ninterrupt_response = true\nauto_truncate = false\n'
    '[voicelive.turn_detection.end_of_utterance]\nmodel = "semantic_detection_v1_en"\ntimeout_ms = 800',
    '[voicelive.turn_detection]\ntype = "azure_semantic_vad_en"\nremove_filler_words = true\n'
    '[voicelive.turn_detection.end_of_utterance]\nthreshold_level = "low"',
    'model = "gpt-4o"\nvoice = {type = "azure-standard", name = "de-DE-SeraphinaNeural", locale = "de-DE", rate = 1.1}\n'
    '[voicelive.transcription]\nmodel = "azure-speech"\nlanguage = "de-DE"\nphrase_list = ["Kiosk"]',
    'model = "phi4-mm-realtime"\nvoice = {type = "azure-personal", name = "Me", model = "PhoenixV2Neural", style = "calm"}\n'
    'noise_reduction = "azure_deep_noise_suppression"\n[voicelive.transcription]\nmodel = "azure-speech"',
    'model = "gpt-5.1-chat"\nvoice = {type = "azure-custom", name = "Brand", endpoint_id = "1234", temperature = 0.3, pitch = "+2st"}',
    'model = "gpt-realtime-2025-08-28"\nnoise_reduction = "near_field"\noutput_audio_format = "pcm16"\n'
    '[voicelive.transcription]\nmodel = "whisper-1"\nprompt = "hint"',
]


@pytest.mark.parametrize("body", CONFIGS)
def test_session_update_round_trips_through_the_sdk(body: str) -> None:
    event = session_update(_vl(body))
    session = event["session"]
    assert_sdk_accepts(sdk.RequestSession, session)
    parsed = sdk.ClientEventSessionUpdate(event)
    assert parsed.type == "session.update"
    assert parsed.as_dict() == event
    built = sdk.ClientEventSessionUpdate(session=sdk.RequestSession(session), event_id=event["event_id"])
    assert built.as_dict() == event
    assert set(session["modalities"]) <= {m.value for m in sdk.Modality}
    assert session["input_audio_format"] in {f.value for f in sdk.InputAudioFormat}
    assert session["output_audio_format"] in {f.value for f in sdk.OutputAudioFormat}
    if isinstance(session["voice"], str):
        assert session["voice"] in {v.value for v in sdk.OpenAIVoiceName}


# --- the URL -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("https://r.services.ai.azure.com", "wss://r.services.ai.azure.com/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"),
        ("https://r.services.ai.azure.com/", "wss://r.services.ai.azure.com/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"),
        ("https://r.cognitiveservices.azure.com:8443/gw/v1/", "wss://r.cognitiveservices.azure.com:8443/gw/v1/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"),
        ("https://r.services.ai.azure.com/voice-live/realtime", "wss://r.services.ai.azure.com/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"),
        ("wss://gw.example.com/prefix", "wss://gw.example.com/prefix/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"),
        ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"),
        ("http://localhost:8765/", "ws://localhost:8765/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"),
        ("http://[::1]:8765", "ws://[::1]:8765/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"),
        ("https://gw.example.com/a b", "wss://gw.example.com/a%20b/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"),
    ],
)
def test_realtime_url(endpoint: str, url: str) -> None:
    assert realtime_url(_vl(endpoint=f'endpoint = "{endpoint}"')) == url


def test_url_query_is_encoded() -> None:
    vl = _vl('api_version = "2026-06-01-preview"\nmodel = "gpt-5.2-chat"\nvoice = "en-US-AvaNeural"')
    query = parse_qs(urlsplit(realtime_url(vl)).query, strict_parsing=True)
    assert query == {"api-version": ["2026-06-01-preview"], "model": ["gpt-5.2-chat"]}


@pytest.mark.parametrize(
    "endpoint",
    ["https://r.services.ai.azure.com", "https://r.cognitiveservices.azure.com/gw/", "http://127.0.0.1:8765", "http://localhost:9000"],
)
def test_url_matches_the_sdk(endpoint: str) -> None:
    """The SDK's own connect() URL, minus its telemetry parameter, is the same URL."""
    vl = _vl('model = "gpt-realtime-mini"\napi_version = "2025-10-01"', endpoint=f'endpoint = "{endpoint}"')
    manager = _VoiceLiveConnectionManager(
        credential=AzureKeyCredential("k"), endpoint=endpoint, api_version="2025-10-01", model="gpt-realtime-mini",
        extra_query={}, extra_headers={},
    )
    theirs, ours = urlsplit(manager._prepare_url()), urlsplit(realtime_url(vl))
    assert (ours.scheme, ours.netloc, ours.path) == (theirs.scheme, theirs.netloc, theirs.path)
    their_query = {k: v for k, v in parse_qs(theirs.query).items() if k != "x-ms-client-sdk"}
    assert parse_qs(ours.query) == their_query


def test_url_refuses_plain_http_to_a_remote_host_even_if_built_by_hand() -> None:
    vl = VoiceLiveConfig(endpoint="http://r.services.ai.azure.com")
    with pytest.raises(ConfigError, match="voicelive.endpoint"):
        realtime_url(vl)


# --- echo cancellation: "client" | "server" | "off" -------------------------------------------------


@pytest.mark.parametrize(("body", "mode", "payload"), [
    ("", "client", {"type": "server_echo_cancellation", "reference_source": "client", "channels": 2}),
    ('echo_cancellation = "client"', "client",
     {"type": "server_echo_cancellation", "reference_source": "client", "channels": 2}),
    ('echo_cancellation = "server"', "server", {"type": "server_echo_cancellation"}),
    ("echo_cancellation = true", "server", {"type": "server_echo_cancellation"}),  # the old switch
    ('echo_cancellation = "off"', "off", None),
    ("echo_cancellation = false", "off", None),
    ('api_version = "2025-10-01"', "server", {"type": "server_echo_cancellation"}),  # no client reference yet
])
def test_echo_cancellation_modes(body, mode, payload) -> None:
    vl = _vl(body)
    assert vl.echo_mode == mode
    assert vl.input_channels == (2 if mode == "client" else 1)
    assert session_payload(vl).get("input_audio_echo_cancellation") == payload
    if payload is not None:
        model = sdk.AudioEchoCancellation(payload)
        assert model.type == "server_echo_cancellation"
        if mode == "client":
            assert model.reference_source == sdk.EchoCancellationReferenceSource.CLIENT and model.channels == 2


@pytest.mark.parametrize(("body", "says"), [
    ('echo_cancellation = "both"', "allowed: client, server, off"),
    ('echo_cancellation = "client"\napi_version = "2025-10-01"', "needs api_version 2026-07-15"),
])
def test_bad_echo_cancellation_is_named(body, says) -> None:
    with pytest.raises(ConfigError, match="echo_cancellation") as err:
        _vl(body)
    assert says in str(err.value)
