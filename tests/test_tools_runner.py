"""The toolbox and its runner: bad calls become answers, slow tools time out, nothing blocks the loop."""

from __future__ import annotations

import json
import queue
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.config.load import parse_config
from edgevoice.tools.builtin import get_time_tool
from edgevoice.tools.device import DeviceTools
from edgevoice.tools.runner import MAX_STUCK, ToolRunner
from edgevoice.tools.toolbox import Tool, Toolbox, ToolResult, object_schema

BASE = '[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n'


def echo_tool() -> Tool:
    schema = object_schema({"word": {"type": "string"}, "mode": {"type": "string", "enum": ["a", "b"]}}, ["word"])
    return Tool("echo", "say a word", schema, lambda args: ToolResult({"said": args["word"]}))


@pytest.mark.parametrize(
    ("name", "arguments", "problem"),
    [
        ("nope", "{}", "there is no tool named 'nope' on this device (tools: echo)"),
        ("echo", '{"word": ', "the arguments for echo are not valid JSON"),
        ("echo", "[1]", "must be a JSON object, not list"),
        ("echo", "{}", "echo: the argument 'word' is missing"),
        ("echo", '{"word": 3}', "echo: the argument 'word' must be a string"),
        ("echo", '{"word": "x", "mode": "c"}', "must be one of a, b, not 'c'"),
        ("echo", '{"word": "x", "colour": "red"}', "there is no argument 'colour'"),
    ],
)
def test_bad_calls_are_answered_with_what_went_wrong(name, arguments, problem):
    result = Toolbox([echo_tool()]).call(name, arguments)
    assert not result.ok and problem in result.output["error"]


def test_a_tool_that_raises_is_an_answer_not_a_crash():
    def boom(_args):
        raise ValueError("the sensor is unplugged")

    result = Toolbox([Tool("sensor", "read it", object_schema(), boom)]).call("sensor", "")
    assert result.output == {"error": "sensor failed on the device (ValueError: the sensor is unplugged)"}


def test_an_answer_too_long_for_the_model_says_so():
    result = ToolResult({"text": "x" * 10_000})
    assert "too long" in json.loads(result.output_json())["error"]


def test_get_time_says_date_weekday_time_and_zone():
    tz = timezone(timedelta(hours=1), "CET")
    out = get_time_tool(lambda: datetime(2026, 12, 8, 9, 5, tzinfo=tz)).run({}).output
    assert out == {"date": "2026-12-08", "weekday": "Tuesday", "time": "09:05", "timezone": "CET (UTC+01:00)"}


def collect() -> tuple[queue.SimpleQueue, callable]:
    q: queue.SimpleQueue = queue.SimpleQueue()
    return q, q.put


def test_the_runner_posts_the_result_from_another_thread():
    q, post = collect()
    seen = []
    tool = Tool("who", "", object_schema(), lambda _a: (seen.append(threading.current_thread().name), ToolResult({"ok": 1}))[1])
    ToolRunner(Toolbox([tool]), post, timeout_s=5).run("call_1", "who", "{}")
    finished = q.get(timeout=10)
    assert isinstance(finished, E.ToolFinished) and finished.call_id == "call_1" and finished.ok
    assert json.loads(finished.output) == {"ok": 1} and seen == ["tool-who"]


def test_a_slow_tool_is_answered_at_the_timeout_and_its_late_result_dropped():
    q, post = collect()
    release = threading.Event()
    returned = threading.Event()

    def slow(_args):
        release.wait(10)
        returned.set()
        return ToolResult({"late": True})

    runner = ToolRunner(Toolbox([Tool("slow", "", object_schema(), slow)]), post, timeout_s=0.2)
    runner.run("call_1", "slow", "{}")
    finished = q.get(timeout=10)
    assert not finished.ok and "took longer than 0.2 s" in finished.output
    release.set()
    assert returned.wait(10)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.3)  # the late result is not posted (the call was answered already)


def test_stuck_tools_are_bounded():
    q, post = collect()
    never = threading.Event()
    runner = ToolRunner(Toolbox([Tool("hang", "", object_schema(), lambda _a: never.wait(30) or ToolResult({}))]),
                        post, timeout_s=0.05)
    for i in range(MAX_STUCK):
        runner.run(f"call_{i}", "hang", "{}")
        assert "took longer" in q.get(timeout=10).output
    runner.run("call_x", "hang", "{}")
    refused = q.get(timeout=10)
    assert refused.call_id == "call_x" and "stuck" in refused.output
    never.set()


def test_device_tools_declare_run_and_update_the_index_on_rebuild(tmp_path):
    folder = tmp_path / "k"
    folder.mkdir()
    doc = folder / "hours.md"
    doc.write_text("# Hours\n\nWe open at nine.\n")
    config = parse_config(BASE + f'[knowledge]\npaths = ["{folder}"]\nindex_dir = "{tmp_path / "state"}"\n'
                          "[tools]\nend_conversation = false\n", "<t>")
    q, post = collect()
    tools = DeviceTools(config, post)
    assert [t["name"] for t in tools.session_fields["tools"]] == ["search_knowledge", "get_time"]
    tools.run(A.RunTool("call_1", "search_knowledge", '{"query": "open"}'))
    found = q.get(timeout=10)
    assert json.loads(found.output)["passages"][0]["text"] == "We open at nine." and found.sources == (str(doc.resolve()),)
    tools.close()
    doc.write_text("# Hours\n\nWe open at ten now.\n")
    again = DeviceTools(config, post)  # what the daemon builds on reload: the changed file is indexed again
    again.run(A.RunTool("call_2", "search_knowledge", '{"query": "open"}'))
    assert "ten now" in json.loads(q.get(timeout=10).output)["passages"][0]["text"]
    again.close()


def test_an_index_that_cannot_be_kept_turns_search_off_and_the_rest_works(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    config = parse_config(BASE + f'[knowledge]\npaths = ["{tmp_path}"]\nindex_dir = "{blocker}"\n', "<t>")
    tools = DeviceTools(config, lambda _e: None)
    assert tools.index is None
    assert [t["name"] for t in tools.session_fields["tools"]] == ["get_time", "end_conversation"]
    assert "instructions" not in tools.session_fields
    tools.close()


def test_no_tools_no_session_fields():
    config = parse_config(BASE + "[tools]\nget_time = false\nend_conversation = false\n", "<t>")
    tools = DeviceTools(config, lambda _e: None)
    assert tools.session_fields == {} and tools.sessions("factory") == "factory"
