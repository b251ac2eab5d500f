"""The emulator calls tools: --tool-call scripts a function call, answered from the client's output.

The event sequence is checked against the official SDK models, and the SDK's own client exchanges
a function call with the emulator.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from azure.ai.voicelive import models as sdk
from azure.ai.voicelive.aio import connect as sdk_connect
from azure.core.credentials import AzureKeyCredential
from emulator_helpers import KEY, emulator, make_emulator, types  # noqa: F401
from protocol_helpers import sdk_problems
from test_emulator_conversation import drain, send

from edgevoice.config.errors import ConfigError
from edgevoice.voicelive.emulator.conversation import Conversation
from edgevoice.voicelive.emulator.faults import scenario_from_mapping
from edgevoice.voicelive.emulator.tool_calls import ToolCall, answer_from_output, parse_tool_call
from edgevoice.voicelive.protocol import client_events as ce
from edgevoice.voicelive.protocol import server_events as V
from edgevoice.voicelive.protocol.parser import parse_event

SEARCH = ToolCall("search_knowledge", '{"query": "opening hours on tuesday"}')


def tool_conversation(*calls: ToolCall) -> Conversation:
    conv = Conversation(model="gpt-realtime", now=time.time(), tool_calls=calls)
    send(conv, {"type": "session.update", "session": {"output_audio_format": "pcm16_16000hz", "modalities": ["text"],
                                                      "tools": [{"type": "function", "name": c.name} for c in calls]}})
    return conv


def test_parse_tool_call_specs():
    assert parse_tool_call('get_time:{}') == ToolCall("get_time", "{}")
    assert parse_tool_call("end_conversation") == ToolCall("end_conversation", "{}")
    assert parse_tool_call('lights:{"action": "on"}').arguments == '{"action": "on"}'
    assert parse_tool_call("lights:!{broken").arguments == "{broken"  # malformed on purpose
    with pytest.raises(ValueError, match="not JSON"):
        parse_tool_call("lights:{broken")
    with pytest.raises(ValueError, match="name"):
        parse_tool_call("bad name:{}")


def test_a_scripted_response_calls_the_tool_in_the_documented_order():
    conv = tool_conversation(SEARCH)
    events = send(conv, ce.item_create_user_text("when do you open"))
    events += send(conv, ce.response_create())
    kinds = types(events)
    assert kinds[kinds.index("response.created"):] == [
        "response.created", "response.output_item.added",
        *["response.function_call_arguments.delta"] * kinds.count("response.function_call_arguments.delta"),
        "response.function_call_arguments.done", "response.output_item.done", "response.done",
    ]
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert len(deltas) > 1 and "".join(deltas) == SEARCH.arguments
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["type"] == "function_call" and added["item"]["call_id"] == done["call_id"]
    assert done["name"] == "search_knowledge" and json.loads(done["arguments"]) == {"query": "opening hours on tuesday"}
    for event in events:  # every event is what the SDK's models describe, strictly
        assert sdk_problems(event, sdk.ServerEvent) == [], event["type"]
    parsed = [parse_event(json.dumps(e)) for e in events]
    item = next(p for p in parsed if isinstance(p, V.OutputItemAdded)).item
    assert (item.type, item.name, item.call_id) == ("function_call", "search_knowledge", done["call_id"])
    args = next(p for p in parsed if isinstance(p, V.FunctionCallArgumentsDone))
    assert (args.name, args.call_id, args.arguments) == ("search_knowledge", done["call_id"], SEARCH.arguments)


def test_the_answer_is_built_from_the_function_output():
    conv = tool_conversation(SEARCH)
    events = send(conv, ce.item_create_user_text("when do you open"))
    events += send(conv, ce.response_create())
    call_id = next(e for e in events if e["type"] == "response.function_call_arguments.done")["call_id"]
    output = {"passages": [{"source": "hours.md", "heading": "Hours", "text": "On Tuesday we open at 10 and close at 18."}]}
    assert sdk_problems(ce.item_create_function_output(call_id, output), sdk.ClientEvent) == []
    events = send(conv, ce.item_create_function_output(call_id, output))
    assert types(events) == ["conversation.item.created"]
    events = send(conv, ce.response_create())
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["output"][0]["type"] == "message"
    assert done["output"][0]["content"][0]["text"] == "I found this: On Tuesday we open at 10 and close at 18."


def test_calls_are_used_in_order_and_a_tool_answer_never_calls_again():
    conv = tool_conversation(ToolCall("get_time"), ToolCall("end_conversation"))
    names = []
    for _ in range(2):
        send(conv, ce.item_create_user_text("hello"))
        events = send(conv, ce.response_create())
        done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        names.append(done["name"])
        events = send(conv, ce.item_create_function_output(done["call_id"], {"time": "10:30"}))
        events = send(conv, ce.response_create())
        assert next(e for e in events if e["type"] == "response.done")["response"]["output"][0]["type"] == "message"
    assert names == ["get_time", "end_conversation"]
    send(conv, ce.item_create_user_text("and now"))
    events = send(conv, ce.response_create())
    assert "response.function_call_arguments.done" not in types(events)  # the script is used up: it speaks


def test_a_cancelled_tool_call_ends_incomplete():
    conv = tool_conversation(SEARCH)
    send(conv, ce.item_create_user_text("when do you open"))
    conv.receive(json.dumps(ce.response_create()))
    head = drain(conv, limit=2)
    assert types(head) == ["response.created", "response.output_item.added"]
    conv.receive(json.dumps(ce.response_cancel()))
    events = drain(conv)
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["status"] == "cancelled" and done["output"][0]["status"] == "incomplete"
    assert sdk_problems(next(e for e in events if e["type"] == "response.done"), sdk.ServerEvent) == []


@pytest.mark.parametrize(
    ("output", "said"),
    [
        ('{"error": "the tool took longer than 2 s"}', "The tool failed: the tool took longer than 2 s"),
        ('{"passages": []}', "I found nothing about that."),
        ('{"time": "10:30", "weekday": "Tuesday"}', "The tool answered: time 10:30, weekday Tuesday"),
        ("plain words", "The tool answered: plain words"),
    ],
)
def test_answers_from_outputs(output, said):
    assert answer_from_output(output) == said


def test_scenario_files_script_tool_calls():
    scenario = scenario_from_mapping({"tool_calls": ['get_time:{}', 'lights:{"action": "on"}']})
    assert scenario.tool_calls == (ToolCall("get_time", "{}"), ToolCall("lights", '{"action": "on"}'))
    with pytest.raises(ConfigError, match=r"tool_calls\[0\]"):
        scenario_from_mapping({"tool_calls": ["lights:{oops"]})


def test_the_cli_refuses_a_bad_tool_call():
    proc = subprocess.run([sys.executable, "-m", "edgevoice", "emulator", "--port", "0", "--tool-call", "x:{oops"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--tool-call" in proc.stderr and "not JSON" in proc.stderr


async def _sdk_function_call(url: str) -> list[Any]:
    events: list[Any] = []
    async with sdk_connect(endpoint=url, credential=AzureKeyCredential(KEY), model="gpt-realtime") as conn:
        events.append(await conn.recv())
        tool = sdk.FunctionTool(name="get_time", description="the kiosk's local time",
                                parameters={"type": "object", "properties": {}})
        await conn.session.update(session=sdk.RequestSession(
            modalities=[sdk.Modality.TEXT, sdk.Modality.AUDIO], tools=[tool], tool_choice="auto",
            output_audio_format=sdk.OutputAudioFormat.PCM16_16000_HZ, turn_detection=None))
        await conn.conversation.item.create(item=sdk.UserMessageItem(content=[sdk.InputTextContentPart(text="what time is it")]))
        await conn.response.create()
        call = None
        async for event in conn:
            events.append(event)
            if isinstance(event, sdk.ServerEventResponseFunctionCallArgumentsDone):
                call = event
            if event.type == "response.done":
                break
        assert call is not None
        await conn.conversation.item.create(item=sdk.FunctionCallOutputItem(call_id=call.call_id, output='{"time": "10:30"}'))
        await conn.response.create()
        async for event in conn:
            events.append(event)
            if event.type == "response.done":
                break
    return events


def test_the_sdk_client_exchanges_a_function_call_with_the_emulator(make_emulator):  # noqa: F811
    emu = make_emulator(tool_calls=(ToolCall("get_time"),))
    events = asyncio.run(asyncio.wait_for(_sdk_function_call(emu.url), 30))
    names = [type(e).__name__ for e in events]
    assert "ServerEvent" not in names and "ServerEventError" not in names, names
    assert "ServerEventResponseFunctionCallArgumentsDelta" in names
    first_done = names.index("ServerEventResponseDone")
    assert names[first_done - 2: first_done + 1] == [
        "ServerEventResponseFunctionCallArgumentsDone", "ServerEventResponseOutputItemDone", "ServerEventResponseDone"]
    added = next(e for e in events if type(e).__name__ == "ServerEventResponseOutputItemAdded")
    assert isinstance(added.item, sdk.ResponseFunctionCallItem) and added.item.name == "get_time"
    final = events[-1].response
    assert final.status == "completed" and isinstance(final.output[0], sdk.ResponseMessageItem)
    assert final.output[0].content[0].transcript == "The tool answered: time 10:30"
    record = emu.session()
    outputs = [e for e in record.events("conversation.item.create") if e["item"]["type"] == "function_call_output"]
    assert outputs and outputs[0]["item"]["call_id"] == added.item.call_id
    assert record.client_events[0]["session"]["tools"][0]["name"] == "get_time"


def test_the_emulator_command_calls_the_scripted_tools(tmp_path):
    from test_emulator_cli import running
    from websockets.sync.client import connect

    scenario = tmp_path / "tools.toml"
    scenario.write_text("tool_calls = ['end_conversation']\n")
    for args in ((f"--tool-call={SEARCH.name}:{SEARCH.arguments}",), ("--scenario", str(scenario))):
        with running("--api-key", "k", *args) as (_proc, url), connect(url, additional_headers={"api-key": "k"}) as ws:
            ws.send(json.dumps({"type": "response.create"}))
            while (event := json.loads(ws.recv(timeout=10)))["type"] != "response.function_call_arguments.done":
                pass
            assert event["name"] == (SEARCH.name if len(args) == 1 else "end_conversation")
