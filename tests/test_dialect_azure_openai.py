"""The Azure OpenAI (GA realtime) dialect: config, URL, handshake, session payload, refused options,
and a real session with the emulator speaking the dialect (chosen by the URL path)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from emulator_helpers import KEY, make_emulator, silence, speech_pcm  # noqa: F401 - make_emulator is a fixture

from edgevoice.config.errors import ConfigError
from edgevoice.config.load import parse_config
from edgevoice.config.voicelive import VoiceLiveConfig
from edgevoice.daemon.sessions import session_factory
from edgevoice.config.secrets import ApiKey
from edgevoice.offline.render import PhraseRenderer
from edgevoice.voicelive.dialects import DIALECTS, dialect_for
from edgevoice.voicelive.emulator import Emulator
from edgevoice.voicelive.emulator.conversation import Conversation, SpeechRequest
from edgevoice.voicelive.emulator.ga import GaWire
from edgevoice.voicelive.protocol import client_events as ce
from edgevoice.voicelive.protocol import server_events as ev
from session_helpers import Collector

AOAI = 'service = "azure-openai"\nendpoint = "https://my-resource.openai.azure.com"'
GA_TURN = '[voicelive.turn_detection]\ntype = "server_vad"\n'


def vl(text: str, tables: str = GA_TURN) -> VoiceLiveConfig:
    return parse_config(f"[voicelive]\n{text}\n{tables}", "<test>").voicelive


def test_the_two_dialects_are_registered() -> None:
    assert set(DIALECTS) == {"voice-live", "azure-openai"}
    assert dialect_for("azure-openai").name == "azure-openai"
    with pytest.raises(KeyError, match="voice-live, azure-openai"):
        dialect_for("openai")


def test_url_query_and_headers() -> None:
    cfg = vl(AOAI + '\nmodel = "gpt-realtime-2"')
    d = cfg.dialect
    assert d.realtime_url(cfg) == "wss://my-resource.openai.azure.com/openai/v1/realtime?model=gpt-realtime-2"
    assert d.realtime_url(vl(AOAI + '\ndeployment = "kiosk-voice"')).endswith("/openai/v1/realtime?model=kiosk-voice")
    assert d.handshake_headers({"api-key": "k"}) == {"api-key": "k"}
    assert d.handshake_headers({"Authorization": "Bearer t"}) == {"Authorization": "Bearer t"}
    assert vl('endpoint = "https://r.services.ai.azure.com"', "").dialect.realtime_url(
        vl('endpoint = "https://r.services.ai.azure.com"', "")
    ) == "wss://r.services.ai.azure.com/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"


def test_ga_session_payload_from_the_config() -> None:
    cfg = vl(AOAI + '\nvoice = "marin"\nnoise_reduction = "far_field"\nmax_response_output_tokens = 300',
             GA_TURN + 'silence_duration_ms = 600\ninterrupt_response = true\n'
             '[voicelive.transcription]\nmodel = "gpt-4o-transcribe"\nlanguage = "en"\n')
    assert cfg.dialect.session_payload(cfg) == {
        "type": "realtime",
        "output_modalities": ["audio"],
        "instructions": cfg.instructions.strip(),
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 600, "interrupt_response": True},
                "noise_reduction": {"type": "far_field"},
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"},
        },
        "max_output_tokens": 300,
    }
    assert (cfg.effective_output_audio_format, cfg.output_sample_rate, cfg.echo_mode, cfg.input_channels) == ("pcm16", 24000, "off", 1)


def test_defaults_follow_the_service() -> None:
    ga, live = vl(AOAI), vl('endpoint = "https://r.services.ai.azure.com"', "")
    assert (ga.effective_noise_reduction, ga.effective_output_audio_format, ga.echo_mode) == ("none", "pcm16", "off")
    assert (live.effective_noise_reduction, live.effective_output_audio_format, live.echo_mode) == (
        "azure_deep_noise_suppression", "pcm16_16000hz", "client")


@pytest.mark.parametrize(
    ("text", "tables", "key", "words"),
    [
        ('voice = "en-US-AvaNeural"', GA_TURN, "voicelive.voice", "OpenAI voices"),
        ("", '[voicelive.turn_detection]\ntype = "azure_semantic_vad"\n', "voicelive.turn_detection.type", "server_vad"),
        ("", "", "voicelive.turn_detection.type", "'azure_semantic_vad' is Voice Live's"),  # the Voice Live default
        ('echo_cancellation = "client"', GA_TURN, "voicelive.echo_cancellation", "no echo cancellation"),
        ('noise_reduction = "azure_deep_noise_suppression"', GA_TURN, "voicelive.noise_reduction", "near_field"),
        ('output_audio_format = "pcm16_16000hz"', GA_TURN, "voicelive.output_audio_format", "24 kHz"),
        ("temperature = 0.7", GA_TURN, "voicelive.temperature", "no temperature"),
        ('model = "gpt-4.1"', GA_TURN, "voicelive.model", "only Voice Live runs"),
        ("", GA_TURN + '[voicelive.transcription]\nmodel = "azure-speech"\n', "voicelive.transcription.model", "whisper-1"),
        ("", GA_TURN + '[voicelive.transcription]\nmodel = "whisper-1"\nphrase_list = ["Contoso"]\n',
         "voicelive.transcription.phrase_list", "prompt"),
        ("", GA_TURN + "auto_truncate = true\n", "voicelive.turn_detection.auto_truncate", "Voice Live option"),
    ],
)
def test_options_azure_openai_cannot_honour_are_refused(text: str, tables: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        vl(AOAI + "\n" + text, tables)
    assert info.value.key == key and words in info.value.problem
    assert "\n" not in str(info.value)


def test_voice_live_refuses_the_deployment_key_and_unknown_services() -> None:
    with pytest.raises(ConfigError, match='voicelive.deployment: .* is for service = "azure-openai"'):
        vl('endpoint = "https://r.services.ai.azure.com"\ndeployment = "x"', "")
    with pytest.raises(ConfigError, match="voicelive.service: 'openai' is not a service edgevoice speaks; choose one of voice-live, azure-openai"):
        vl('service = "openai"\nendpoint = "https://r.services.ai.azure.com"', "")


def test_client_events_in_the_ga_shape() -> None:
    d = dialect_for("azure-openai")
    assert d.client_event(ce.session_update({"tools": []}, event_id="e"))["session"] == {"type": "realtime", "tools": []}
    created = d.client_event(ce.response_create("Say hi.", voice="cedar", output_audio_format="pcm16", modalities=["text", "audio"]))
    assert created["response"] == {"instructions": "Say hi.", "output_modalities": ["audio"],
                                   "audio": {"output": {"voice": "cedar", "format": {"type": "audio/pcm", "rate": 24000}}}}
    with pytest.raises(ValueError, match="pre-generated"):
        d.client_event(ce.response_create(pre_generated_text="Hello."))
    append = ce.input_audio_append(b"\x00\x00" * 10, event_id="a")
    assert d.client_event(append) == append


# --- against the emulator, which picks the dialect from the URL path -----------------------------


def ga_config(emu: Emulator, turn_detection: str = "none") -> VoiceLiveConfig:
    return vl(f'service = "azure-openai"\nendpoint = "{emu.url}"\nvoice = "alloy"',
              f'[voicelive.turn_detection]\ntype = "{turn_detection}"\n[voicelive.transcription]\nmodel = "whisper-1"\n')


def test_a_full_spoken_turn_in_the_ga_dialect(make_emulator) -> None:
    emu = make_emulator(api_key=KEY)
    collector = Collector()
    session = session_factory(ga_config(emu), ApiKey(KEY))(on_event=collector.on_event, on_close=collector.on_close)
    session.connect()
    try:
        pcm = speech_pcm("what time is it") + silence(300)
        for start in range(0, len(pcm), 640):  # 20 ms of 16 kHz, as the microphone delivers it
            session.append_audio(pcm[start:start + 640])
        session.commit()
        session.create_response()
        assert collector.wait_for(lambda: collector.of_type(ev.ResponseDone))
    finally:
        session.close()
    record = emu.session()
    assert record.model == "gpt-realtime"
    # the emulator heard the turn at 24 kHz: 1.5 times the bytes the device captured
    sent = sum(e["audio_bytes"] for e in record.client_events if e.get("type") == "input_audio_buffer.append")
    assert sent == pytest.approx(len(pcm) * 1.5, abs=64)
    assert "response.output_audio.delta" in record.server_events and "response.audio.delta" not in record.server_events
    assert "conversation.item.added" in record.server_events
    done = collector.of_type(ev.ResponseDone)[0]
    assert done.status == "completed"
    audio = b"".join(d.pcm for d in collector.of_type(ev.AudioDelta))
    assert len(audio) > 24000  # more than half a second of 24 kHz reply speech
    assert collector.of_type(ev.TranscriptDone)[0].transcript
    assert session.stats.errors == 0 and session.stats.unknown == 0  # every GA event is typed


def test_the_emulator_refuses_voice_live_fields_in_the_ga_dialect() -> None:
    conv = Conversation(model="gpt-realtime", now=0.0, wire=GaWire())
    assert conv.next_event()["type"] == "session.created"
    conv.receive(json.dumps({"type": "response.create", "event_id": "evt_pg", "response": {"pre_generated_assistant_message": {}}}))
    conv.receive(json.dumps({"type": "session.update", "event_id": "evt_vl", "session": {"input_audio_sampling_rate": 16000}}))
    conv.receive(json.dumps({"type": "session.update", "event_id": "evt_16k", "session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}}))
    errors = [conv.next_event() for _ in range(3)]
    assert [(e["type"], e["error"]["param"], e["error"]["event_id"]) for e in errors] == [
        ("error", "response.pre_generated_assistant_message", "evt_pg"),
        ("error", "session.input_audio_sampling_rate", "evt_vl"),
        ("error", "session.audio.input.format.rate", "evt_16k"),
    ]
    assert conv.next_event() is None


def test_phrases_render_without_pre_generated_messages(make_emulator) -> None:
    emu = make_emulator(api_key=KEY, replies=("One moment please.",))  # the model does as the instructions say
    cfg = ga_config(emu)
    with PhraseRenderer(session_factory(cfg, ApiKey(KEY)), rate=cfg.output_sample_rate) as renderer:
        sound = renderer.render("One moment please.")
    assert sound.rate == 24000 and len(sound.pcm) > 4800
    creates = [e for e in emu.session().client_events if e.get("type") == "response.create"]
    assert len(creates) == 1 and "pre_generated_assistant_message" not in creates[0].get("response", {})
    assert "word for word" in creates[0]["response"]["instructions"]


def test_check_prints_the_ga_session_and_refuses_the_voice_live_default(tmp_path, capsys) -> None:
    from tests.config_helpers import run_cli, run_subprocess, write_config

    good = write_config(tmp_path, f"[voicelive]\n{AOAI}\n{GA_TURN}")
    result = run_cli(["check", "--config", str(good)], capsys)
    assert result.status == 0, result.err
    assert "service:     Azure OpenAI (azure-openai)" in result.out
    assert "url:         wss://my-resource.openai.azure.com/openai/v1/realtime?model=gpt-realtime" in result.out
    session = json.loads(result.out.split("session.update:\n", 1)[1])["session"]
    assert session["type"] == "realtime" and session["audio"]["output"]["voice"] == "alloy"
    bad = write_config(tmp_path, f"[voicelive]\n{AOAI}\n", name="bad.toml")
    done = run_subprocess(["check", "--config", str(bad)])
    assert done.status == 78 and done.err.count("\n") == 1
    assert "voicelive.turn_detection.type: 'azure_semantic_vad' is Voice Live's; Azure OpenAI takes none or server_vad" in done.err


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 30000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["type", "audio", "input", "output", "format", "rate", "voice", "turn_detection", "output_modalities",
         "instructions", "noise_reduction", "transcription", "model", "tools"]), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["session.update", "response.create"]), body=_json)
def test_the_emulator_answers_any_ga_shaped_junk_with_an_error_not_a_crash(kind: str, body) -> None:
    conv = Conversation(model="gpt-realtime", now=0.0, wire=GaWire())
    conv.next_event()
    key = "session" if kind == "session.update" else "response"
    conv.receive(json.dumps({"type": kind, key: body}))  # never raises
    while (event := conv.next_event()) is not None:
        if isinstance(event, SpeechRequest):  # a valid request: the reply is rendered
            conv.provide_speech(event, b"\x00\x00" * 2400)
            continue
        assert isinstance(event, dict) and event["type"]
