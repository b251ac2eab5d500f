"""Tools end to end: the real ``edgevoice run --input-wav`` against the emulator calling tools.

Each run: "okay nabu" and a question in a recording, the emulator scripted with ``--tool-call``
(``Scenario.tool_calls``), the daemon running the tool and answering with ``function_call_output``
and ``response.create``, and the emulator speaking an answer built from that output. The runs of
this module start together (``runs``) and each test reads its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import (  # noqa: F401
    BackgroundRun,
    Recordings,
    Run,
    Say,
    Scenario,
    StartedRuns,
    recordings,
)

WAKE = "okay nabu"
QUESTION = "when do you close on tuesday"
FACT = "On Tuesday the bakery closes at half past two."
QUICK = {"assistant": {"follow_up_s": 1.0}}
MCP_TOML = """
[[tools.mcp]]
server_label = "bookings"
server_url = "https://mcp.example.com/mcp"
allowed_tools = ["find_slot"]
require_approval = "always"
"""


def knowledge_folder(base: Path, *, bad_files: bool = False) -> Path:
    folder = base / "knowledge"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hours.md").write_text(f"# The Corner Bakery\n\n## Opening hours\n\n{FACT}\n\nOn Saturday we close at six.\n")
    (folder / "prices.txt").write_text("A sourdough loaf costs four euros fifty.\n")
    if bad_files:
        (folder / "huge.md").write_text("tuesday " * 200_000)
        (folder / "scan.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 tuesday")
        (folder / "old.txt").write_bytes("Tuesday: ferm\xe9 \xe0 14h".encode("latin-1"))
    return folder


def knowledge_tables(base: Path, **more: Any) -> dict[str, dict[str, Any]]:
    return {**QUICK, "knowledge": {"paths": [str(base / "knowledge")], "index_dir": str(base / "state"), **more}}


def scenarios(rec: Recordings, base: Path) -> dict[str, Scenario]:
    one_turn = rec.make("tool-turn", 6.0, Say(0.5, WAKE), Say(2.2, QUESTION))
    two_turns = rec.make("tool-two-turns", 22.0, Say(0.5, WAKE), Say(2.2, QUESTION), Say(11.0, WAKE), Say(12.7, QUESTION))
    # The error answers are long (about 6 s): the second turn comes after the follow-up window.
    spaced = rec.make("tool-spaced-turns", 26.0, Say(0.5, WAKE), Say(2.2, QUESTION), Say(15.0, WAKE), Say(16.7, QUESTION))
    search = 'search_knowledge:{"query": "when do you close on tuesday"}'
    for name, bad in (("knowledge", False), ("bad_files", True)):
        knowledge_folder(base / name, bad_files=bad)
    return {
        "knowledge": Scenario(one_turn, tool_calls=(search,), tables=knowledge_tables(base / "knowledge")),
        "bad_files": Scenario(one_turn, tool_calls=(search,), tables=knowledge_tables(base / "bad_files", max_file_kb=64)),
        "get_time": Scenario(one_turn, tool_calls=("get_time:{}",), tables=QUICK, config_extra=MCP_TOML),
        "end_conversation": Scenario(two_turns, tool_calls=("end_conversation:{}",), tables={"assistant": {"follow_up_s": 3.0}}),
        # A malformed call, then a call to a tool nobody declared: each answered with what went wrong.
        "bad_calls": Scenario(spaced, tool_calls=('get_time:!{"zone": ', "open_the_safe:{}"), tables=QUICK),
    }


@pytest.fixture(scope="module")
def runs(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BackgroundRun]]:  # noqa: F811
    base = tmp_path_factory.mktemp("tool-runs")
    with StartedRuns() as started:
        for name, scenario in scenarios(recordings, base).items():
            started.start(name, scenario, base / name / "run")
        yield started


def outputs(run: Run) -> list[dict[str, Any]]:
    """The function_call_output items the daemon sent, in order."""
    return [e["item"] for e in run.client_events("conversation.item.create") if e["item"]["type"] == "function_call_output"]


def after_output_a_response_is_asked(run: Run) -> bool:
    kinds = [e["type"] for s in run.sessions for e in s.client_events if e["type"] != "input_audio_buffer.append"]
    i = kinds.index("conversation.item.create")
    return kinds[i + 1] == "response.create"


def test_a_knowledge_question_is_answered_from_the_planted_fact(runs):
    run = runs["knowledge"].result()
    assert run.code == 0, run.explain()
    (session,) = run.sessions
    declared = {t["name"] for t in session.client_events[0]["session"]["tools"]}
    assert declared == {"search_knowledge", "get_time", "end_conversation"}
    assert "search_knowledge" in session.client_events[0]["session"]["instructions"]
    (output,) = outputs(run)
    passages = json.loads(output["output"])["passages"]
    assert passages[0] == {"source": "hours.md", "heading": "The Corner Bakery > Opening hours", "text": FACT}
    assert sum(len(p["text"]) for p in passages) <= 2000
    assert after_output_a_response_is_asked(run)
    tool = run.events.first("tool_call", 1)
    assert tool["name"] == "search_knowledge" and tool["ok"] is True and tool["ms"] >= 0
    assert [Path(s).name for s in tool["sources"]] == ["hours.md"]
    assert run.events.first("reply_text", 1)["text"] == f"I found this: {FACT}"
    latency = run.events.first("turn_latency", 1)
    assert latency["tools_ms"] == tool["ms"] and latency["commit_to_reply_ms"] >= latency["tools_ms"]
    assert run.output is not None and run.output.spans(), "the answer was played"
    assert run.events.states()[:4] == ["listening", "thinking", "speaking", "follow_up"]


def test_bad_knowledge_files_are_skipped_and_named_and_the_good_ones_answer(runs):
    run = runs["bad_files"].result()
    assert run.code == 0, run.explain()
    for name, why in (("huge.md", "KiB"), ("scan.md", "binary"), ("old.txt", "not UTF-8")):
        assert any(name in line and why in line for line in run.stderr.splitlines()), (name, run.stderr[-3000:])
    tool = run.events.first("tool_call", 1)
    assert [Path(s).name for s in tool["sources"]] == ["hours.md"]
    assert run.events.first("reply_text", 1)["text"] == f"I found this: {FACT}"


def test_get_time_tells_the_local_time(runs):
    run = runs["get_time"].result()
    assert run.code == 0, run.explain()
    (output,) = outputs(run)
    told = json.loads(output["output"])
    now = datetime.now().astimezone()
    assert set(told) == {"date", "weekday", "time", "timezone"}
    assert told["weekday"] == datetime.strptime(told["date"], "%Y-%m-%d").strftime("%A")
    assert abs(datetime.strptime(f"{told['date']} {told['time']}", "%Y-%m-%d %H:%M") - now.replace(tzinfo=None)).total_seconds() < 180
    assert run.events.first("tool_call", 1)["name"] == "get_time"
    # The MCP server is only declared, for the service to call: the device never connects to it.
    declared = run.sessions[0].client_events[0]["session"]["tools"]
    assert declared[-1] == {"type": "mcp", "server_label": "bookings", "server_url": "https://mcp.example.com/mcp",
                            "allowed_tools": ["find_slot"], "require_approval": "always"}
    assert run.events.first("reply_text", 1)["text"].startswith(f"The tool answered: date {told['date']}, weekday {told['weekday']}")


def test_end_conversation_lets_the_goodbye_play_then_resets(runs):
    run = runs["end_conversation"].result()
    assert run.code == 0, run.explain()
    assert run.events.first("tool_call", 1)["name"] == "end_conversation"
    states = run.events.states()
    assert states[:4] == ["listening", "thinking", "speaking", "idle"], states  # no follow-up window
    playback_end = run.events.first("playback_end", 1)["t"]
    idle = next(r for r in run.events.records if r["event"] == "state" and r["state"] == "idle")
    assert idle["t"] >= playback_end  # the goodbye played to the end first
    # The next visitor starts afresh: turn 1's session was closed and turn 2 went to a new one.
    first, *later = run.sessions
    assert first.closed and later, run.explain()
    commits = [s for s in run.sessions if s.events("input_audio_buffer.commit")]
    assert len(commits) == 2 and commits[0] is first and commits[1] is not first
    assert run.closed_at[0] < run.events.first("wake", 2)["t"]
    assert run.events.first("tool_call", 2)["name"] == "end_conversation"


def test_malformed_arguments_and_an_unknown_tool_are_answered_and_the_conversation_goes_on(runs):
    run = runs["bad_calls"].result()
    assert run.code == 0, run.explain()
    first, second = outputs(run)
    assert "not valid JSON" in json.loads(first["output"])["error"]
    assert "no tool named 'open_the_safe'" in json.loads(second["output"])["error"]
    assert [r["ok"] for r in run.events.named("tool_call")] == [False, False]
    texts = [r["text"] for r in run.events.named("reply_text")]
    assert len(texts) == 2 and all(t.startswith("The tool failed:") for t in texts)
    assert {r["turn"] for r in run.events.named("playback_end")} == {1, 2}
