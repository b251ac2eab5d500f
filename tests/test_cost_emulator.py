"""The emulator's usage, shaped like the service's and read through the official SDK's models.

Audio tokens in proportion to the seconds heard and spoken (10 a second in, 20 out), text tokens
for the instructions and for tool output, and cached tokens that grow as the conversation does
(the prefix an earlier response of the session read, from 1024 tokens on, in steps of 128).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from azure.ai.voicelive.models import CachedTokenDetails, InputTokenDetails, OutputTokenDetails, ServerEvent, TokenUsage
from emulator_helpers import Client, emulator, silence, speech_pcm  # noqa: F401
from test_emulator_sdk import conformance_problems

from edgevoice.cost.usage import Tokens
from edgevoice.voicelive.emulator.response import text_tokens
from edgevoice.voicelive.protocol.parser import ServerEventParser

INSTRUCTIONS = " ".join(["You are the kiosk of the town museum and answer visitors briefly."] * 80)  # ~1000 words


def usage_of(done: dict[str, Any]) -> TokenUsage:
    """The response.done's usage as the SDK reads it, checked for every field the SDK requires."""
    event = ServerEvent._deserialize(done, [])  # noqa: SLF001 - what the SDK's recv() does
    assert not conformance_problems(event, "done")
    usage = event.response.usage
    assert isinstance(usage, TokenUsage)
    assert isinstance(usage.input_token_details, InputTokenDetails)
    assert isinstance(usage.input_token_details.cached_tokens_details, CachedTokenDetails)
    assert isinstance(usage.output_token_details, OutputTokenDetails)
    return usage


def spoken_turn(client: Client, text: str) -> tuple[TokenUsage, float, float]:
    """Say ``text``, commit, ask for the reply: its usage, the seconds of reply audio and of audio sent."""
    pcm = silence(200) + speech_pcm(text) + silence(200)
    client.append(pcm)
    client.send({"type": "input_audio_buffer.commit"})
    client.send({"type": "response.create"})
    events = client.until("response.done", timeout=20)
    audio = sum(len(base64.b64decode(e["delta"])) for e in events if e["type"] == "response.audio.delta")
    return usage_of(events[-1]), audio / 32000, len(pcm) / 32000


def test_usage_grows_with_the_conversation_and_the_cached_part_with_it(emulator) -> None:  # noqa: F811
    with Client(emulator) as client:
        client.configure(instructions=INSTRUCTIONS, input_audio_sampling_rate=16000, output_audio_format="pcm16_16000hz",
                         turn_detection=None)
        instructions = text_tokens(INSTRUCTIONS)
        turns = [spoken_turn(client, text) for text in ("where is the exit", "and the cloakroom", "thank you very much")]
    usages = [u for u, _, _ in turns]
    first, heard_s, spoken_s = turns[0][0], turns[0][2], turns[0][1]
    details = first.input_token_details
    assert details.text_tokens == instructions and details.cached_tokens == 0
    assert details.audio_tokens == round(heard_s * 10)
    assert first.output_token_details.audio_tokens == round(spoken_s * 20)
    assert first.input_tokens == details.text_tokens + details.audio_tokens
    assert first.total_tokens == first.input_tokens + first.output_tokens
    # Each reply reads the whole conversation again: the visitor's audio and the earlier replies' audio.
    inputs = [u.input_tokens for u in usages]
    assert inputs[0] < inputs[1] < inputs[2]
    assert usages[1].input_token_details.audio_tokens >= details.audio_tokens + round(spoken_s * 10)
    # ... and what an earlier reply read is cached, in steps of 128, growing turn by turn.
    cached = [u.input_token_details.cached_tokens for u in usages]
    assert cached[0] == 0 < cached[1] < cached[2]
    for before, usage in zip(usages, usages[1:]):
        c = usage.input_token_details
        assert c.cached_tokens % 128 == 0 and c.cached_tokens <= before.input_tokens
        assert c.cached_tokens == c.cached_tokens_details.text_tokens + c.cached_tokens_details.audio_tokens
        assert c.cached_tokens_details.text_tokens <= c.text_tokens and c.cached_tokens_details.audio_tokens <= c.audio_tokens
    # edgevoice reads the same figures: the billing kinds add up to the total.
    parsed = ServerEventParser().parse(json.dumps({"type": "response.done", "response": {
        "id": "r", "status": "completed", "usage": usages[2].as_dict()}}))
    assert parsed is not None and parsed.usage is not None
    tokens = Tokens.from_usage(parsed.usage)
    assert tokens.total == usages[2].total_tokens and tokens.context == usages[2].input_tokens
    assert tokens.cached_text + tokens.cached_audio == cached[2]


def test_tool_output_is_counted_as_text(emulator) -> None:  # noqa: F811
    output = json.dumps({"passages": [{"text": "The museum opens at nine and closes at five, every day but Monday."}]})
    with Client(emulator) as client:
        client.configure(instructions="Be brief.", turn_detection=None)
        client.send({"type": "response.create"})
        before = usage_of(client.until("response.done")[-1])
        client.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "c1",
                                                                  "output": output}})
        client.send({"type": "response.create"})
        after = usage_of(client.until("response.done")[-1])
    added = after.input_token_details.text_tokens - before.input_token_details.text_tokens
    assert added == text_tokens(output)  # the tool's output is text; the first (spoken) reply is read back as audio
    spoken_back = before.output_token_details.audio_tokens / 2  # 20 tokens a second out, 10 a second in
    assert abs(after.input_token_details.audio_tokens - spoken_back) <= 1
