"""Tool declarations in session.update conform to the SDK models FunctionTool and MCPServer."""

from __future__ import annotations

import pytest
from azure.ai.voicelive import models as sdk
from protocol_helpers import sdk_object, sdk_problems

from edgevoice.config.load import parse_config
from edgevoice.voicelive.protocol import client_events as ce
from edgevoice.voicelive.protocol.session_config import session_payload
from edgevoice.voicelive.protocol.tools import function_tool, mcp_tool

CONFIG = '[voicelive]\nendpoint = "https://example.services.ai.azure.com"\n'


def test_function_and_mcp_tools_in_session_update_conform():
    tools = [
        function_tool("search_knowledge", "search the owner's documents",
                      {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        function_tool("get_time", "the kiosk's local time"),
        mcp_tool("docs", "https://mcp.example.com/sse", allowed_tools=["lookup"], require_approval="never"),
    ]
    event = ce.session_update({**session_payload(parse_config(CONFIG, "<t>").voicelive), "tools": tools, "tool_choice": "auto"})
    assert sdk_problems(event, sdk.ClientEvent) == []
    session = sdk_object(event, sdk.ClientEvent).session
    assert [type(t) for t in session.tools] == [sdk.FunctionTool, sdk.FunctionTool, sdk.MCPServer]
    assert session.tool_choice == "auto"
    assert session.tools[2].allowed_tools == ["lookup"] and session.tools[2].require_approval == "never"
    assert session.tools[1].parameters == {"type": "object", "properties": {}}


def test_no_tools_no_tool_keys():
    from edgevoice.tools.setup import declared_fields

    config = parse_config(CONFIG + "[tools]\nget_time = false\nend_conversation = false\n", "<t>")
    assert "tools" not in session_payload(config.voicelive) and declared_fields(config) == {}


def test_the_checker_sees_a_bad_tool():
    event = ce.session_update({"tools": [{"type": "mcp", "server_label": "x"}]})
    assert any("server_url" in p for p in sdk_problems(event, sdk.ClientEvent))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: function_tool("bad name", "x"), "name"),
        (lambda: function_tool("ok", "x", {"type": "string"}), "object"),
        (lambda: mcp_tool("x", "https://e", require_approval="sometimes"), "require_approval"),
    ],
)
def test_builders_refuse_bad_declarations(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_session_a_kiosk_config_declares_conforms():
    from edgevoice.tools.setup import declared_fields

    text = CONFIG + """instructions = "You are the bakery's kiosk."
[knowledge]
paths = ["/srv/knowledge"]
[[tools.gpio]]
name = "lights"
pin = 26
description = "the display case lights"
actions = ["on", "off"]
[[tools.mcp]]
server_label = "bookings"
server_url = "https://mcp.example.com/mcp"
require_approval = "always"
"""
    config = parse_config(text, "<kiosk>")
    event = ce.session_update({**session_payload(config.voicelive), **declared_fields(config)})
    assert sdk_problems(event, sdk.ClientEvent) == []
    session = event["session"]
    assert [t.get("name", t.get("server_label")) for t in session["tools"]] == [
        "search_knowledge", "get_time", "end_conversation", "lights", "bookings"]
    assert session["tools"][3]["parameters"]["properties"]["action"]["enum"] == ["on", "off"]
    assert session["instructions"].startswith("You are the bakery's kiosk.\n\nFor any question about this place")
