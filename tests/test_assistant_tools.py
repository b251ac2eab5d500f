"""Tool calls in the pure machine: run, answer, ask for the reply; cancelled replies; end_conversation."""

from __future__ import annotations

from assistant_helpers import Conversation, chunk, of_type, without_telemetry

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant.machine import NOT_RUN_OUTPUT
from edgevoice.assistant.settings import AssistantSettings, Endpointing
from edgevoice.assistant.state import SessionStatus, State

DEVICE = AssistantSettings(prewarm=False)


def thinking(settings: AssistantSettings = DEVICE) -> Conversation:
    c = Conversation(settings)
    c.send(E.Wake("okay_nabu"), E.SessionReady(), E.SpeechStart(), E.SpeechEnd(), E.UtteranceEnd())
    assert c.state is State.THINKING
    return c


def call(call_id: str = "call_1", name: str = "get_time", response: str = "resp_1") -> E.ToolCallRequested:
    return E.ToolCallRequested(response, call_id, name, "{}")


def finished(call_id: str = "call_1", name: str = "get_time", **kw) -> E.ToolFinished:
    return E.ToolFinished(call_id, name, kw.pop("output", '{"time":"10:30"}'), 12.5, **kw)


def tool_marks(actions: list[A.Action]) -> list[dict]:
    return [dict(a.detail) for a in actions if isinstance(a, A.Telemetry) and a.name is A.Mark.TOOL_CALL]


def test_a_tool_call_is_run_answered_and_then_the_reply_is_asked_for():
    c = thinking()
    assert without_telemetry(c.send(call()))[0] == A.RunTool("call_1", "get_time", "{}")
    acts = c.send(E.ReplyDone("resp_1"))
    assert c.state is State.THINKING and not of_type(acts, A.RequestResponse)  # the tool is still running
    acts = c.send(finished())
    assert of_type(acts, A.SendToolOutput, A.RequestResponse) == [
        A.SendToolOutput("call_1", '{"time":"10:30"}'), A.RequestResponse()]
    assert tool_marks(acts) == [{"name": "get_time", "ms": 12.5, "sources": (), "ok": True}]
    assert c.state is State.THINKING and c.ctx.tools is None
    c.send(chunk("resp_2", "item_2"), E.ReplyDone("resp_2"), E.PlaybackFinished())
    assert c.state is State.FOLLOW_UP


def test_a_tool_that_finishes_before_response_done_waits_for_it():
    c = thinking()
    c.send(call(), finished())
    assert not of_type(c.last, A.RequestResponse) and of_type(c.last, A.SendToolOutput)
    assert of_type(c.send(E.ReplyDone("resp_1")), A.RequestResponse) == [A.RequestResponse()]


def test_two_calls_in_one_response_ask_for_one_reply():
    c = thinking()
    c.send(call("call_1"), call("call_2", "search_knowledge"), E.ReplyDone("resp_1"), finished("call_1"))
    assert not of_type(c.last, A.RequestResponse)
    acts = c.send(finished("call_2", "search_knowledge", sources=("/k/hours.md",)))
    assert of_type(acts, A.RequestResponse) and tool_marks(acts)[0]["sources"] == ("/k/hours.md",)


def test_the_reply_timer_starts_again_for_the_tool_and_for_the_answer():
    c = thinking()
    before = c.timers["reply"]
    c.send(call())
    after_call = c.timers["reply"]
    c.send(E.ReplyDone("resp_1"), finished())
    assert before != after_call != c.timers["reply"]


def test_a_call_from_a_cancelled_reply_is_answered_and_not_run():
    c = thinking(AssistantSettings(prewarm=False, endpointing=Endpointing.DEVICE))
    c.send(E.PushToTalk(True))  # the visitor interrupts while the model is deciding
    assert c.state is State.LISTENING
    acts = c.send(call())
    assert without_telemetry(acts) == [A.SendToolOutput("call_1", NOT_RUN_OUTPUT)]
    assert tool_marks(acts)[0]["ok"] is False


def test_a_call_whose_reply_is_cancelled_while_the_tool_runs_is_answered_without_a_reply():
    c = thinking()
    c.send(call())
    c.send(E.ReplyDone("resp_1", "cancelled", "turn_detected"))  # the server heard the visitor
    assert c.state is State.LISTENING and c.ctx.tools is None
    acts = c.send(finished())
    assert of_type(acts, A.SendToolOutput) == [A.SendToolOutput("call_1", '{"time":"10:30"}')]
    assert not of_type(acts, A.RequestResponse) and c.state is State.LISTENING


def test_a_failed_tool_is_answered_and_the_reply_goes_on():
    c = thinking()
    c.send(call(name="lights"), E.ReplyDone("resp_1"))
    acts = c.send(finished(name="lights", output='{"error":"lights took longer than 2 s"}', ok=False))
    assert of_type(acts, A.RequestResponse) and tool_marks(acts)[0]["ok"] is False


def test_end_conversation_lets_the_reply_finish_then_resets():
    c = thinking(AssistantSettings(prewarm=True))
    c.send(E.SessionReady())
    c.send(call(name="end_conversation"), E.ReplyDone("resp_1"),
           finished(name="end_conversation", output='{"ok":true}', ends_conversation=True))
    assert c.ctx.ending and c.state is State.THINKING
    c.send(chunk("resp_2", "item_2"), E.ReplyDone("resp_2"))
    assert c.state is State.SPEAKING and not of_type(c.last, A.CloseSession)  # the goodbye plays first
    acts = c.send(E.PlaybackFinished())
    assert c.state is State.IDLE and not c.ctx.ending
    assert of_type(acts, A.CloseSession, A.OpenSpareSession) == [A.CloseSession(), A.OpenSpareSession()]
    assert c.ctx.session is SessionStatus.OPENING


def test_end_conversation_is_forgotten_when_the_visitor_goes_on_talking():
    c = thinking()
    c.send(call(name="end_conversation"), E.ReplyDone("resp_1"),
           finished(name="end_conversation", ends_conversation=True), chunk("resp_2", "item_2"))
    c.send(E.SpeechStart())  # barge-in: not done after all
    assert c.state is State.LISTENING and not c.ctx.ending


def test_a_preamble_before_the_call_plays_then_the_answer_follows():
    c = thinking()
    c.send(chunk("resp_1", "item_1"), E.PlaybackStarted(), call(), E.ReplyDone("resp_1"))
    assert c.state is State.SPEAKING and of_type(c.last, A.FinishPlayback)
    acts = c.send(finished())
    assert of_type(acts, A.RequestResponse) and c.state is State.SPEAKING
    c.send(E.PlaybackFinished())  # "let me check" is over: wait for the answer
    assert c.state is State.THINKING and c.ctx.tools is None
    c.send(chunk("resp_2", "item_2"), E.ReplyDone("resp_2"), E.PlaybackFinished())
    assert c.state is State.FOLLOW_UP


def test_a_call_from_a_stale_response_is_not_run():
    c = thinking()
    c.send(chunk("resp_1", "item_1"), E.PlaybackStarted(), E.SpeechStart())  # barge-in: resp_1 is stale
    acts = c.send(E.UtteranceEnd(), call(response="resp_1"))
    assert of_type(acts, A.SendToolOutput) == [A.SendToolOutput("call_1", NOT_RUN_OUTPUT)]
    assert not of_type(acts, A.RunTool)
