"""The assistant machine with offline answers: an unanswerable turn is recognised first, then answered or apologised for."""

from __future__ import annotations

import dataclasses

from assistant_helpers import Conversation, marks, of_type
from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant.settings import AssistantSettings
from edgevoice.assistant.state import Playing, SessionStatus, State

ANSWERS = AssistantSettings(prewarm=True, chimes=False, offline_answers=True)


def offline_question() -> tuple[Conversation, list[A.Action]]:
    """Known offline (the spare failed); a wake and a question: the actions at the end of the utterance."""
    c = Conversation(ANSWERS)
    c.send(E.SessionFailed(E.FailureKind.OFFLINE, "refused"))
    c.send(E.Wake(), E.SpeechStart())
    return c, c.send(E.UtteranceEnd())


def offline_reply(actions: list[A.Action]) -> dict:
    (mark,) = [a for a in actions if isinstance(a, A.Telemetry) and a.name is A.Mark.OFFLINE_REPLY]
    return dict(mark.detail)


def test_a_question_the_service_cannot_take_is_recognised_before_anything_plays():
    c, acts = offline_question()
    assert of_type(acts, A.RecogniseQuestion) == [A.RecogniseQuestion()]
    assert not of_type(acts, A.PlayCached, A.PlayAnswer, A.Commit)
    assert "offline_reply" not in marks(acts), "the verdict is not known yet"
    assert c.state is State.OFFLINE and c.ctx.playing is Playing.CACHED and c.ctx.answering == "offline"


def test_a_recognised_question_plays_its_answer_and_says_so():
    c, _ = offline_question()
    acts = c.send(E.OfflineHeard("toilets", "where are the toilets", 1.0))
    assert of_type(acts, A.PlayAnswer, A.PlayCached) == [A.PlayAnswer("toilets")]
    assert offline_reply(acts) == {"kind": "answer", "id": "toilets", "heard": "where are the toilets", "score": 1.0,
                                   "failure": "offline"}
    assert c.ctx.answering == "" and c.ctx.playing is Playing.CACHED
    c.send(E.PlaybackFinished())
    assert c.ctx.playing is Playing.NOTHING and c.state is State.OFFLINE


def test_no_fitting_answer_plays_the_apology_of_the_failure():
    c, _ = offline_question()
    acts = c.send(E.OfflineHeard("", "what is the weather", 0.2))
    assert of_type(acts, A.PlayAnswer, A.PlayCached) == [A.PlayCached(A.Phrase.OFFLINE)]
    assert offline_reply(acts) == {"kind": "apology", "phrase": "offline", "heard": "what is the weather", "score": 0.2,
                                   "failure": "offline"}


def test_a_throttled_service_apologises_with_busy_when_no_answer_fits():
    c = Conversation(dataclasses.replace(ANSWERS, prewarm=False))
    c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd())
    acts = c.send(E.SessionFailed(E.FailureKind.THROTTLED, "429", retry_after=5.0))
    assert of_type(acts, A.RecogniseQuestion) == [A.RecogniseQuestion()]
    acts = c.send(E.OfflineHeard("", "", 0.0))
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.BUSY)]


def test_a_new_wake_while_recognising_drops_the_old_question():
    c, _ = offline_question()
    c.send(E.Wake())
    assert c.state is State.LISTENING and c.ctx.answering == ""
    acts = c.send(E.OfflineHeard("toilets", "where are the toilets", 1.0))
    assert not of_type(acts, A.PlayAnswer, A.PlayCached) and not marks(acts)


def test_a_reply_cut_off_mid_way_is_not_recognised_again():
    c = Conversation(dataclasses.replace(ANSWERS, prewarm=False))
    c.send(E.Wake(), E.SessionReady(), E.SpeechStart(), E.UtteranceEnd(), E.ReplyAudio("r", "i", 100.0, bytes(3200)))
    acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE, "dropped", lost=True))
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.SERVICE_ERROR, after_reply=True)]
    assert not of_type(acts, A.RecogniseQuestion)


def test_rejected_credentials_are_never_answered_from_the_cache():
    c = Conversation(dataclasses.replace(ANSWERS, prewarm=False))
    c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd())
    acts = c.send(E.SessionFailed(E.FailureKind.AUTH, "401"))
    assert not of_type(acts, A.RecogniseQuestion)
    assert c.state is State.ERROR


def test_without_answers_the_apology_plays_at_once_as_before():
    c = Conversation(dataclasses.replace(ANSWERS, offline_answers=False))
    c.send(E.SessionFailed(E.FailureKind.OFFLINE, "refused"), E.Wake(), E.SpeechStart())
    acts = c.send(E.UtteranceEnd())
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.OFFLINE)] and not of_type(acts, A.RecogniseQuestion)
    assert c.ctx.session is SessionStatus.CLOSED
