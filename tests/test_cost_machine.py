"""The machine's cost decisions: the daily budget (cheaper model, cached replies) and context caps."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant.settings import AssistantSettings
from edgevoice.assistant.state import SessionStatus, State, Timer
from edgevoice.cost.budget import BudgetLevel
from assistant_helpers import Conversation, chunk, marks, of_type

OVER, OK, WARN = E.BudgetChanged(BudgetLevel.OVER), E.BudgetChanged(BudgetLevel.OK), E.BudgetChanged(BudgetLevel.WARN)


def turn(c: Conversation, response: str, *, context_tokens: int = 0, wake: bool = True) -> list[A.Action]:
    """One answered turn (device endpointing) whose reply plays to the end; the actions of its last step."""
    c.send(E.Wake("okay_nabu") if wake else E.SpeechStart())
    if c.ctx.session is SessionStatus.OPENING:
        c.send(E.SessionReady())
    c.send(E.SpeechStart(), E.UtteranceEnd())
    c.send(chunk(response, f"item_{response}"), E.PlaybackStarted(),
           E.ReplyDone(response, context_tokens=context_tokens))
    return c.send(E.PlaybackFinished())


def test_the_turn_cap_starts_a_fresh_session_after_the_reply_and_carries_the_summary() -> None:
    c = Conversation(AssistantSettings(prewarm=False, max_turns=2))
    assert not of_type(turn(c, "r1"), A.CloseSession)
    last = turn(c, "r2", wake=False)  # a follow-up
    assert of_type(last, A.CloseSession) == [A.CloseSession(carry_summary=True)]
    assert "context_reset" in marks(last)
    # Without prewarm the fresh session is opened at once: the summary is sent to it, and the idle
    # reset still closes it for the next visitor.
    assert of_type(last, A.OpenSession) and c.ctx.session is SessionStatus.OPENING
    assert c.state is State.FOLLOW_UP and c.ctx.turns == 0
    c.send(E.SessionReady())
    c.fire(Timer.FOLLOW_UP)
    assert of_type(c.fire(Timer.IDLE), A.CloseSession) == [A.CloseSession(carry_summary=False)]


def test_without_the_summary_the_fresh_session_waits_for_the_next_turn() -> None:
    c = Conversation(AssistantSettings(prewarm=False, max_turns=1, carry_summary=False))
    last = turn(c, "r1")
    assert of_type(last, A.CloseSession) == [A.CloseSession(carry_summary=False)] and not of_type(last, A.OpenSession)
    acts = c.send(E.SpeechStart())  # the follow-up goes to a fresh session
    assert of_type(acts, A.OpenSession) and c.ctx.turns == 0


def test_the_context_token_cap_never_cuts_a_reply() -> None:
    c = Conversation(AssistantSettings(prewarm=True, max_context_tokens=4000, carry_summary=False))
    c.send(E.SessionReady(), E.Wake("okay_nabu"), E.SpeechStart(), E.UtteranceEnd(), chunk("r1", "i1"), E.PlaybackStarted())
    acts = c.send(E.ReplyDone("r1", context_tokens=4100))
    assert not of_type(acts, A.CloseSession) and c.state is State.SPEAKING  # still playing: nothing happens yet
    assert c.ctx.context_tokens == 4100
    acts = c.send(E.PlaybackFinished())
    assert of_type(acts, A.CloseSession) == [A.CloseSession(carry_summary=False)]
    assert of_type(acts, A.OpenSpareSession), "prewarm: the fresh session is opened at once"
    assert c.ctx.context_tokens == 0


def test_under_the_caps_the_conversation_keeps_its_session() -> None:
    c = Conversation(AssistantSettings(prewarm=False, max_turns=5, max_context_tokens=10_000))
    for i in range(4):
        assert not of_type(turn(c, f"r{i}", context_tokens=2000 * i, wake=i == 0), A.CloseSession)
    assert c.ctx.turns == 4 and c.ctx.context_tokens == 6000


def test_over_budget_with_cheaper_model_replaces_an_unused_spare_at_once() -> None:
    c = Conversation(AssistantSettings(over_budget="cheaper_model"))
    c.send(E.SessionReady())
    acts = c.send(OVER)
    assert of_type(acts, A.UseModel) == [A.UseModel(cheaper=True)]
    assert of_type(acts, A.CloseSession) and of_type(acts, A.OpenSpareSession)
    assert "budget" in marks(acts)
    acts = c.send(OK)  # after midnight
    assert of_type(acts, A.UseModel) == [A.UseModel(cheaper=False)]


def test_over_budget_mid_conversation_switches_only_for_the_next_conversation() -> None:
    c = Conversation(AssistantSettings(over_budget="cheaper_model", prewarm=False))
    c.send(E.Wake("okay_nabu"), E.SessionReady(), E.SpeechStart(), E.UtteranceEnd(), chunk("r1", "i1"), E.PlaybackStarted())
    acts = c.send(OVER)  # mid-reply
    assert of_type(acts, A.UseModel) == [A.UseModel(cheaper=True)]
    assert not of_type(acts, A.CloseSession, A.StopPlayback, A.CancelResponse) and c.state is State.SPEAKING
    c.send(E.ReplyDone("r1"), E.PlaybackFinished())
    c.fire(Timer.FOLLOW_UP)
    acts = c.fire(Timer.IDLE)  # the visitor has gone: the next one gets a new session (with the cheaper model)
    assert of_type(acts, A.CloseSession)


def test_cached_only_rests_between_conversations_and_answers_with_the_resting_phrase() -> None:
    c = Conversation(AssistantSettings(over_budget="cached_only"))
    c.send(E.SessionReady())
    acts = c.send(OVER)
    assert of_type(acts, A.CloseSession) and not of_type(acts, A.OpenSpareSession)
    assert Timer.SPARE not in c.timers and c.ctx.session is SessionStatus.CLOSED
    acts = c.send(E.Wake("okay_nabu"))
    assert not of_type(acts, A.OpenSession, A.OpenSpareSession), "no session while resting"
    acts = c.send(E.SpeechStart(), E.UtteranceEnd())
    assert A.PlayCached(A.Phrase.RESTING) in acts and not of_type(acts, A.Commit)
    assert c.state is State.IDLE
    c.send(E.PlaybackFinished())
    acts = c.send(OK)  # midnight: a spare session again
    assert of_type(acts, A.OpenSpareSession) and not of_type(acts, A.UseModel)


def test_cached_only_with_offline_answers_recognises_the_question_first() -> None:
    c = Conversation(AssistantSettings(over_budget="cached_only", offline_answers=True, prewarm=False))
    c.send(OVER, E.Wake("okay_nabu"), E.SpeechStart())
    acts = c.send(E.UtteranceEnd())
    assert of_type(acts, A.RecogniseQuestion)
    assert A.PlayAnswer("hours") in c.send(E.OfflineHeard("hours", "when do you open", 0.9))
    c.send(E.PlaybackFinished(), E.Wake("okay_nabu"), E.SpeechStart(), E.UtteranceEnd())
    assert A.PlayCached(A.Phrase.RESTING) in c.send(E.OfflineHeard("", "tell me a joke", 0.1))


def test_cached_only_lets_a_conversation_under_way_finish() -> None:
    c = Conversation(AssistantSettings(over_budget="cached_only", prewarm=False))
    turn(c, "r1")
    c.send(OVER)
    acts = c.send(E.SpeechStart(), E.UtteranceEnd())  # a follow-up in the same conversation
    assert of_type(acts, A.Commit) and A.PlayCached(A.Phrase.RESTING) not in acts


def test_warn_and_the_warn_policy_change_nothing_but_the_record() -> None:
    c = Conversation(AssistantSettings(over_budget="warn"))
    c.send(E.SessionReady())
    for event in (WARN, OVER):
        acts = c.send(event)
        assert marks(acts) == ["budget"] and not of_type(acts, A.UseModel, A.CloseSession)
    assert c.ctx.budget == "over"


def test_the_budget_survives_the_mute_switch() -> None:
    c = Conversation(AssistantSettings(over_budget="cached_only"))
    c.send(OVER, E.MuteChanged(True), E.MuteChanged(False))
    assert c.ctx.budget == "over" and c.ctx.session is SessionStatus.CLOSED


COST_SETTINGS = st.builds(
    AssistantSettings,
    follow_up_s=st.sampled_from([0.0, 5.0]),
    prewarm=st.booleans(),
    offline_answers=st.booleans(),
    max_turns=st.sampled_from([0, 1, 2]),
    max_context_tokens=st.sampled_from([0, 3000]),
    over_budget=st.sampled_from(["warn", "cheaper_model", "cached_only"]),
)
EVENTS = st.sampled_from([
    E.Wake("okay_nabu"), E.SpeechStart(), E.UtteranceEnd(), E.SessionReady(), chunk("r1", "i1"), E.PlaybackStarted(),
    E.ReplyDone("r1", context_tokens=2000), E.ReplyDone("r1", context_tokens=4000), E.PlaybackFinished(),
    OVER, OK, WARN, E.OfflineHeard("", "", 0.0), E.MuteChanged(True), E.MuteChanged(False),
    E.SessionFailed(E.FailureKind.OFFLINE, lost=True),
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(COST_SETTINGS, st.lists(EVENTS, max_size=40))
def test_cost_decisions_never_cut_into_a_turn(cost_settings, events) -> None:
    c = Conversation(cost_settings)
    for event in events:
        before = c.state
        acts = c.send(event)
        if isinstance(event, E.BudgetChanged) and before in (State.LISTENING, State.THINKING, State.SPEAKING):
            assert not of_type(acts, A.CloseSession, A.StopPlayback, A.CancelResponse), (before, acts)
        for close in of_type(acts, A.CloseSession):
            if close.carry_summary:  # a context reset: only once a reply has played out
                assert isinstance(event, E.PlaybackFinished) or event.__class__ is E.ReplyDone, event
        if c.ctx.session is SessionStatus.CLOSED:
            assert c.ctx.turns == 0 and c.ctx.context_tokens == 0
