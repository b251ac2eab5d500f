"""Conformance with the official Voice Live SDK (azure-ai-voicelive), issue 2 item 6.

1. Every client event edgevoice builds, including ``session.update`` from real configs through
   ``session_config.session_payload`` and ``response.create`` with a pre-generated message,
   deserializes into the right SDK ``ClientEvent`` subclass with no field the SDK does not know,
   no required field missing and every enum value a member of the SDK's enum.
2. The SDK's own async client holds a complete turn with the emulator and is refused with a
   wrong key, so the emulator that edgevoice's tests rely on is the service the SDK expects.
"""

from __future__ import annotations

import asyncio
import base64

import pytest
from azure.ai.voicelive import models as sdk
from azure.ai.voicelive.aio import ConnectionError as SdkConnectionError
from azure.ai.voicelive.aio import connect as sdk_connect
from azure.core.credentials import AzureKeyCredential
from emulator_helpers import KEY, silence, speech_pcm

from edgevoice.config.load import parse_config
from edgevoice.voicelive.emulator import Emulator
from edgevoice.voicelive.protocol import client_events as ce
from edgevoice.voicelive.protocol.session_config import realtime_url, session_payload
from edgevoice.voicelive.session import VoiceLiveSession
from protocol_helpers import sdk_object, sdk_problems
from session_helpers import Collector, MiniVoiceLive

ENDPOINT = 'endpoint = "https://my-resource.services.ai.azure.com"'

BUILT = {
    "session.update": (ce.session_update({"modalities": ["text", "audio"], "turn_detection": None}), "ClientEventSessionUpdate"),
    "input_audio_buffer.append": (ce.input_audio_append(b"\x01\x00" * 320), "ClientEventInputAudioBufferAppend"),
    "input_audio_buffer.commit": (ce.input_audio_commit(), "ClientEventInputAudioBufferCommit"),
    "input_audio_buffer.clear": (ce.input_audio_clear(), "ClientEventInputAudioBufferClear"),
    "response.create": (ce.response_create(), "ClientEventResponseCreate"),
    "response.create+pre_generated": (ce.response_create(pre_generated_text="One moment please."), "ClientEventResponseCreate"),
    "response.create+options": (
        ce.response_create("Answer briefly.", voice="alloy", output_audio_format="pcm16_16000hz", modalities=["text", "audio"],
                           temperature=0.7, max_output_tokens=200, additional_instructions="x", metadata={"k": "v"}),
        "ClientEventResponseCreate",
    ),
    "response.create+azure_voice": (
        ce.response_create(voice={"type": "azure-standard", "name": "en-US-AvaNeural", "rate": "+5%"}), "ClientEventResponseCreate",
    ),
    "response.cancel": (ce.response_cancel(), "ClientEventResponseCancel"),
    "response.cancel+id": (ce.response_cancel("resp_1"), "ClientEventResponseCancel"),
    "conversation.item.truncate": (ce.item_truncate("item_1", 1200), "ClientEventConversationItemTruncate"),
    "conversation.item.create+user_text": (ce.item_create_user_text("hello", previous_item_id="item_0"), "ClientEventConversationItemCreate"),
    "conversation.item.create+function_output": (ce.item_create_function_output("call_1", {"ok": True}), "ClientEventConversationItemCreate"),
}


@pytest.mark.parametrize("name", list(BUILT))
def test_built_client_events_conform(name) -> None:
    event, class_name = BUILT[name]
    obj = sdk_object(event, sdk.ClientEvent)
    assert type(obj).__name__ == class_name
    assert obj.type in set(sdk.ClientEventType)
    assert sdk_problems(event, sdk.ClientEvent) == []


def test_pre_generated_message_is_an_assistant_message_with_a_text_part() -> None:
    obj = sdk_object(BUILT["response.create+pre_generated"][0], sdk.ClientEvent)
    message = obj.response.pre_generated_assistant_message
    assert type(message).__name__ == "AssistantMessageItem"
    assert message.type == sdk.ItemType.MESSAGE and message.role == sdk.MessageRole.ASSISTANT
    assert type(message.content[0]).__name__ == "OutputTextContentPart" and message.content[0].text == "One moment please."


def test_nested_items_resolve_to_the_right_sdk_classes() -> None:
    user = sdk_object(BUILT["conversation.item.create+user_text"][0], sdk.ClientEvent).item
    assert type(user).__name__ == "UserMessageItem" and type(user.content[0]).__name__ == "InputTextContentPart"
    output = sdk_object(BUILT["conversation.item.create+function_output"][0], sdk.ClientEvent).item
    assert type(output).__name__ == "FunctionCallOutputItem" and output.output == '{"ok":true}'


def test_audio_append_is_valid_base64_for_the_sdk() -> None:
    obj = sdk_object(BUILT["input_audio_buffer.append"][0], sdk.ClientEvent)
    assert base64.b64decode(obj.audio, validate=True) == b"\x01\x00" * 320


def test_conversation_option_is_the_only_field_outside_the_sdk() -> None:
    """``conversation`` (OpenAI realtime) is not in the SDK's ResponseCreateParams; it is only
    sent when asked for, and it is the only such field."""
    problems = sdk_problems(ce.response_create(conversation="none"), sdk.ClientEvent)
    assert problems == ["$.response.conversation: not a field of ResponseCreateParams"]


# --------------------------------------------------------------------------------------------
# session.update from real configs
# --------------------------------------------------------------------------------------------

CONFIGS = {
    "defaults": f"[voicelive]\n{ENDPOINT}\n",
    "azure-voice-server-vad": f"""[voicelive]
{ENDPOINT}
voice = {{type = "azure-standard", name = "en-US-Ava:DragonHDLatestNeural", temperature = 0.7, rate = "+5%", pitch = "high", volume = "loud", locale = "en-GB", style = "cheerful"}}
temperature = 0.9
max_response_output_tokens = 600
output_audio_format = "pcm16"
[voicelive.turn_detection]
type = "server_vad"
threshold = 0.6
prefix_padding_ms = 300
silence_duration_ms = 400
create_response = true
interrupt_response = true
auto_truncate = true
[voicelive.transcription]
model = "azure-speech"
language = "en-US"
phrase_list = ["Contoso"]
""",
    "cascaded-semantic-eou": f"""[voicelive]
{ENDPOINT}
model = "gpt-4o"
voice = "en-US-AvaNeural"
noise_reduction = "none"
echo_cancellation = false
max_response_output_tokens = "inf"
[voicelive.turn_detection]
type = "azure_semantic_vad_multilingual"
languages = ["en", "de"]
remove_filler_words = true
speech_duration_ms = 80
[voicelive.turn_detection.end_of_utterance]
model = "semantic_detection_v1_multilingual"
threshold_level = "medium"
timeout_ms = 1000
""",
    "custom-voice-no-turn-detection": f"""[voicelive]
{ENDPOINT}
model = "gpt-4.1"
voice = {{type = "azure-custom", name = "my-voice", endpoint_id = "abc-123"}}
[voicelive.turn_detection]
type = "none"
""",
    "personal-voice": f"""[voicelive]
{ENDPOINT}
model = "gpt-4o-mini"
voice = {{type = "azure-personal", name = "speaker-1", model = "DragonLatestNeural"}}
[voicelive.transcription]
model = "azure-speech"
""",
    "realtime-mini-far-field": f"""[voicelive]
{ENDPOINT}
model = "gpt-realtime-mini"
voice = "marin"
noise_reduction = "far_field"
[voicelive.turn_detection]
type = "azure_semantic_vad_en"
[voicelive.transcription]
model = "gpt-4o-transcribe"
language = "en"
""",
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_session_update_from_config_conforms(name) -> None:
    cfg = parse_config(CONFIGS[name], name).voicelive
    event = ce.session_update(session_payload(cfg))
    obj = sdk_object(event, sdk.ClientEvent)
    assert type(obj).__name__ == "ClientEventSessionUpdate"
    assert sdk_problems(event, sdk.ClientEvent) == []
    assert obj.session.output_audio_format in set(sdk.OutputAudioFormat)
    assert obj.session.input_audio_format in set(sdk.InputAudioFormat)
    assert all(m in set(sdk.Modality) for m in obj.session.modalities)


def test_shipped_example_config_conforms() -> None:
    from config_helpers import EXAMPLE

    cfg = parse_config(EXAMPLE.read_text(), str(EXAMPLE)).voicelive
    assert sdk_problems(ce.session_update(session_payload(cfg)), sdk.ClientEvent) == []


@pytest.mark.xfail(
    strict=True,
    reason="transcription.prompt is sent as input_audio_transcription.prompt, which the SDK 1.3 "
    "AudioInputTranscriptionOptions does not have (it has model, language, custom_speech, phrase_list)",
)
def test_transcription_prompt_conforms() -> None:
    text = f'[voicelive]\n{ENDPOINT}\n[voicelive.transcription]\nmodel = "gpt-4o-transcribe"\nprompt = "kiosk words"\n'
    cfg = parse_config(text, "<prompt>").voicelive
    assert sdk_problems(ce.session_update(session_payload(cfg)), sdk.ClientEvent) == []


def test_session_update_on_the_wire_conforms() -> None:
    """What VoiceLiveSession actually sends, captured by a server, is a valid SDK session.update."""
    collector = Collector()
    with MiniVoiceLive() as server:
        text = CONFIGS["azure-voice-server-vad"].replace(ENDPOINT, f'endpoint = "http://127.0.0.1:{server.port}"')
        cfg = parse_config(text, "<wire>").voicelive
        session = VoiceLiveSession(realtime_url(cfg), {"api-key": "k"}, session_payload(cfg), on_event=collector.on_event)
        session.connect()
        session.append_audio(b"\x00\x00" * 160)
        session.commit()
        session.create_response(pre_generated_text="Hi.")
        session.truncate("item_1", 10)
        session.cancel_response()
        session.close()
        assert server.closed.wait(5)
    assert server.request_lines[0].startswith("GET /voice-live/realtime?api-version=2026-07-15&model=gpt-realtime ")
    assert [e["type"] for e in server.received] == [
        "session.update", "input_audio_buffer.append", "input_audio_buffer.commit", "response.create",
        "conversation.item.truncate", "response.cancel",
    ]
    assert server.received[0]["session"] == session_payload(cfg)
    for event in server.received:
        assert sdk_problems(event, sdk.ClientEvent) == [], event["type"]


# --------------------------------------------------------------------------------------------
# the checker itself must be able to fail
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"type": "session.update", "session": {"voice": "alloyy"}}, "'alloyy' is not one of"),
        ({"type": "session.update", "session": {"output_audio_format": "pcm16-24khz"}}, "is not one of"),
        ({"type": "session.update", "session": {"turn_detection": {"type": "client_vad"}}}, "no subclass for type='client_vad'"),
        ({"type": "session.update", "session": {"voice": {"type": "azure-custom", "name": "v"}}}, "endpoint_id: required"),
        ({"type": "session.update", "session": {"modalities": ["speech"]}}, "'speech' is not one of"),
        ({"type": "session.update", "session": {"max_response_output_tokens": "lots"}}, "max_response_output_tokens"),
        ({"type": "session.update", "session": {"avatar_mode": True}}, "not a field of RequestSession"),
        ({"type": "session.update"}, "session: required"),
        ({"type": "input_audio_buffer.append"}, "audio: required"),
        ({"type": "input_audio_buffer.append", "audio": 5}, "is not a str"),
        ({"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": "5"}, "is not a int"),
        ({"type": "response.create", "response": {"pre_generated_assistant_message": {"type": "message", "role": "user", "content": []}}}, "'user' is not one of"),
        ({"type": "response.create", "response": {"max_response_output_tokens": 5}}, "not a field of ResponseCreateParams"),
        ({"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}}, "no subclass for role='robot'"),
        ({"type": "input_audio.buffer.append", "audio": ""}, "ClientEvent has no subclass"),
    ],
)
def test_the_checker_catches_nonconforming_events(event, problem) -> None:
    problems = sdk_problems(event, sdk.ClientEvent)
    assert any(problem in p for p in problems), problems


# --------------------------------------------------------------------------------------------
# the SDK's own client against the emulator
# --------------------------------------------------------------------------------------------


async def _sdk_turn(url: str, key: str) -> dict[str, object]:
    """One complete turn with the SDK's async client; returns what it saw."""
    seen: dict[str, object] = {"types": [], "audio": 0, "status": None}
    async with sdk_connect(endpoint=url, credential=AzureKeyCredential(key), model="gpt-realtime") as conn:
        await conn.session.update(session=sdk.RequestSession(
            modalities=[sdk.Modality.TEXT, sdk.Modality.AUDIO],
            turn_detection=None,
            input_audio_format=sdk.InputAudioFormat.PCM16,
            input_audio_sampling_rate=16000,
            output_audio_format=sdk.OutputAudioFormat.PCM16_16000_HZ,
        ))
        pcm = speech_pcm("hello kiosk") + silence(200)
        async def until(kind: str) -> sdk.ServerEvent:
            while True:
                event = await asyncio.wait_for(conn.recv(), 10)
                seen["types"].append(event.type)  # type: ignore[union-attr]
                if isinstance(event, sdk.ServerEventResponseAudioDelta):
                    seen["audio"] += len(event.delta)  # type: ignore[operator]
                if event.type == kind:
                    return event

        await until(sdk.ServerEventType.SESSION_UPDATED)
        for start in range(0, len(pcm), 3200):
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[start : start + 3200]).decode())
        await conn.input_audio_buffer.commit()
        await until(sdk.ServerEventType.INPUT_AUDIO_BUFFER_COMMITTED)
        await conn.response.create()
        done = await until(sdk.ServerEventType.RESPONSE_DONE)
        seen["status"] = done.response.status
    return seen


def test_sdk_client_holds_a_turn_with_the_emulator() -> None:
    with Emulator(api_key=KEY) as emu:
        seen = asyncio.run(_sdk_turn(emu.url, KEY))
    assert seen["status"] == sdk.ResponseStatus.COMPLETED
    assert seen["audio"] > 16000  # over half a second of 16 kHz PCM16 reply
    types = seen["types"]
    assert types[0] in (sdk.ServerEventType.SESSION_CREATED, sdk.ServerEventType.SESSION_UPDATED)
    assert sdk.ServerEventType.RESPONSE_CREATED in types and sdk.ServerEventType.RESPONSE_AUDIO_DONE in types


def test_sdk_client_is_refused_with_a_wrong_key() -> None:
    with Emulator(api_key=KEY) as emu:
        with pytest.raises(SdkConnectionError, match="401"):
            asyncio.run(_sdk_turn(emu.url, "not-the-key"))
        assert emu.rejected == [401] and emu.accepted == 0
