"""The assistant machine when the service cannot answer: known outages answer at once, recovery, phrases."""

from __future__ import annotations

import dataclasses

from assistant_helpers import Conversation, chunk, marks, of_type, without_telemetry
from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant import machine
from edgevoice.assistant.settings import AssistantSettings, Endpointing
from edgevoice.assistant.state import ConnectHold, Led, Playing, SessionStatus, State, Timer

DEVICE = AssistantSettings(prewarm=False, chimes=False)
SERVER = dataclasses.replace(DEVICE, endpointing=Endpointing.SERVER)
PREWARM = dataclasses.replace(DEVICE, prewarm=True)


def known_offline(settings: AssistantSettings = PREWARM) -> Conversation:
    """The spare session could not connect: the device knows the service is unreachable."""
    c = Conversation(settings)
    if not settings.prewarm:
        c.send(E.Wake(), E.SessionFailed(E.FailureKind.OFFLINE, "refused"), E.UtteranceEnd(E.NO_SPEECH))
    else:
        acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE, "refused"))
        assert not of_type(acts, A.PlayCached), "nobody asked: say nothing"
    assert c.state is State.OFFLINE and c.led is Led.OFFLINE and c.ctx.outage == "offline"
    return c


def test_a_known_outage_answers_at_the_end_of_the_utterance_without_waiting_for_the_connect():
    c = known_offline()
    acts = c.send(E.Wake())
    assert of_type(acts, A.OpenSession) == [A.OpenSession()], "the wake still tries the service"
    c.send(E.SpeechStart())
    acts = c.send(E.UtteranceEnd())  # the connect has not got through yet
    assert without_telemetry(acts)[:4] == [A.CloseGate(), A.StopStreaming(), A.CloseSession(), A.PlayCached(A.Phrase.OFFLINE)]
    assert marks(acts) == ["offline_reply"] and not of_type(acts, A.Commit)
    assert c.state is State.OFFLINE and c.ctx.session is SessionStatus.CLOSED


def test_a_connect_that_gets_through_during_the_utterance_ends_the_outage():
    c = known_offline()
    c.send(E.Wake(), E.SpeechStart(), E.SessionReady())
    assert c.ctx.outage == ""
    acts = c.send(E.UtteranceEnd())
    assert of_type(acts, A.Commit, A.RequestResponse) == [A.Commit(), A.RequestResponse()]
    assert c.state is State.THINKING


def test_server_endpointing_with_a_known_outage_does_not_wait_for_the_server():
    c = known_offline(dataclasses.replace(SERVER, prewarm=True))
    c.send(E.Wake(), E.SpeechStart())
    acts = c.send(E.UtteranceEnd())
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.OFFLINE)]


def test_server_endpointing_answers_when_the_session_fails_after_the_device_heard_the_end():
    c = Conversation(SERVER)
    c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd())
    assert c.state is State.LISTENING  # waiting for the server's speech_stopped
    acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE, "timed out"))
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.OFFLINE)]
    assert c.state is State.OFFLINE


def test_the_background_check_finding_the_service_ends_offline_and_reopens_a_spare():
    c = known_offline()
    acts = c.send(E.ServiceBack())
    assert c.state is State.IDLE and c.ctx.outage == "" and c.led is Led.OFF
    assert of_type(acts, A.OpenSpareSession) == [A.OpenSpareSession()]
    assert without_telemetry(c.send(E.ServiceBack())) == []  # nothing more to do


def test_offline_lasts_until_the_service_is_back():
    c = known_offline(DEVICE)
    assert c.timers == {}
    assert c.state is State.OFFLINE


def test_a_failed_background_check_shows_offline_when_idle_and_after_a_turn():
    c = Conversation(DEVICE)
    acts = c.send(E.ServiceUnreachable(E.FailureKind.OFFLINE, "no answer"))
    assert c.state is State.OFFLINE and not of_type(acts, A.PlayCached)
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SessionReady(), E.SpeechStart(), E.ServiceUnreachable())
    assert c.state is State.LISTENING  # the turn goes on with its session
    c.send(E.UtteranceEnd(), chunk(), E.ReplyDone("resp_1"), E.PlaybackFinished())
    assert c.state is State.FOLLOW_UP
    c.send(E.SessionFailed(E.FailureKind.OFFLINE, lost=True))
    assert c.state is State.OFFLINE


def test_each_failure_says_the_right_phrase():
    expected = {
        E.FailureKind.OFFLINE: A.Phrase.OFFLINE,
        E.FailureKind.THROTTLED: A.Phrase.BUSY,
        E.FailureKind.SERVICE: A.Phrase.SERVICE_ERROR,
    }
    for kind, phrase in expected.items():
        c = Conversation(DEVICE)
        c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd())
        acts = c.send(E.SessionFailed(kind, "x"))
        assert of_type(acts, A.PlayCached) == [A.PlayCached(phrase)], kind
        assert marks(acts)[-1] == "offline_reply" and c.state is State.OFFLINE
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SessionReady(), E.SpeechStart(), E.UtteranceEnd())
    acts = c.send(E.ServiceError("input_audio_buffer_commit_empty", "buffer too small"))
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.NOT_HEARD)]


def test_the_cached_phrase_becoming_audible_is_marked():
    c = known_offline()
    c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd())
    assert marks(c.send(E.PlaybackStarted())) == ["cached_playback_start"]
    c.send(E.PlaybackFinished())
    assert c.ctx.playing is Playing.NOTHING


def test_push_to_talk_with_nothing_said_says_it_did_not_catch_that():
    c = Conversation(DEVICE)
    c.send(E.PushToTalk(True), E.SessionReady())
    acts = c.send(E.PushToTalk(False))
    assert of_type(acts, A.ClearInput, A.PlayCached) == [A.ClearInput(), A.PlayCached(A.Phrase.NOT_HEARD)]
    assert c.state is State.IDLE
    # A false wake word stays quiet.
    c = Conversation(DEVICE)
    acts = c.send(E.Wake(), E.UtteranceEnd(E.NO_SPEECH))
    assert not of_type(acts, A.PlayCached)


def test_the_mute_switch_is_confirmed_and_a_button_press_while_muted_is_answered():
    c = Conversation(DEVICE)
    acts = c.send(E.MuteChanged(True))
    assert A.PlayCached(A.Phrase.MUTED) in acts and c.state is State.MUTED
    acts = c.send(E.PushToTalk(True))
    assert of_type(acts, A.PlayCached, A.OpenGate, A.OpenSession) == [A.PlayCached(A.Phrase.MUTED)]
    assert c.ctx.playing is Playing.NOTHING  # a notice like a chime: nothing waits for it


def test_a_429_while_talking_answers_busy_when_the_user_finishes():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SpeechStart())
    c.send(E.SessionFailed(E.FailureKind.THROTTLED, "429", retry_after=30.0))
    acts = c.send(E.UtteranceEnd())
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.BUSY)]
    assert c.ctx.outage == "throttled"


def test_rejected_credentials_are_an_error_state_with_no_outage():
    c = Conversation(PREWARM)
    c.send(E.SessionFailed(E.FailureKind.AUTH, "401"))
    assert c.state is State.ERROR and c.ctx.outage == ""
    assert without_telemetry(c.send(E.ServiceUnreachable(E.FailureKind.AUTH))) == []


def test_changed_credentials_end_the_error_state_at_once_and_only_there():
    c = Conversation(PREWARM)
    c.send(E.SessionFailed(E.FailureKind.AUTH, "401"))
    assert c.state is State.ERROR and any(name is Timer.RETRY for name, _ in c.ctx.timers)
    acts = c.send(E.CredentialsChanged())  # the key file was fixed: no need to wait for error_retry_s
    assert c.state is State.IDLE and not any(name is Timer.RETRY for name, _ in c.ctx.timers)
    assert any(isinstance(a, A.CancelTimer) and a.name is Timer.RETRY for a in acts)
    assert without_telemetry(c.send(E.CredentialsChanged())) == []  # anywhere else it changes nothing


# --- connecting held off (the service's Retry-After, the offline backoff) ----------------------


THROTTLED = ConnectHold("throttled", "Voice Live asked to wait (Retry-After)")
BACKING_OFF = ConnectHold("offline", "waiting for the next check before connecting again", spare_only=True)


def test_while_retry_after_runs_a_wanted_session_is_refused_by_the_machine_not_opened():
    c = Conversation(DEVICE)
    assert c.send(E.HoldChanged(THROTTLED)) == [] and c.ctx.hold == THROTTLED
    acts = c.send(E.Wake("okay_nabu"))
    refused = E.SessionFailed(E.FailureKind.THROTTLED, THROTTLED.detail, held=True)
    assert of_type(acts, A.OpenSession, A.OpenSpareSession, A.RefuseConnect) == [A.RefuseConnect(refused)]
    assert c.ctx.session is SessionStatus.OPENING and c.state is State.LISTENING
    # The shell hands the refusal back: the turn is answered from the cache once the person stops.
    c.send(refused, E.SpeechStart(vad_only=True))
    acts = c.send(E.UtteranceEnd())
    assert of_type(acts, A.Commit) == [] and of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.BUSY)]
    # Retry-After is over: the next turn connects.
    c.send(E.PlaybackFinished(), E.HoldChanged(None))
    assert of_type(c.send(E.Wake("okay_nabu")), A.OpenSession) == [A.OpenSession()]


def test_a_backoff_holds_only_the_spare_session_a_person_connects_anyway():
    c = Conversation(PREWARM)
    c.send(E.SessionFailed(E.FailureKind.OFFLINE, "refused"), E.HoldChanged(BACKING_OFF))
    acts = c.send(E.ServiceBack())  # the service is back, but the hold says a spare still waits
    assert of_type(acts, A.OpenSpareSession) == [] and len(of_type(acts, A.RefuseConnect)) == 1
    c.send(of_type(acts, A.RefuseConnect)[0].failure)
    assert of_type(c.send(E.Wake("okay_nabu")), A.OpenSession, A.RefuseConnect) == [A.OpenSession()]


def test_starting_over_while_retry_after_runs_opens_no_spare_session():
    ctx, actions = machine.start(PREWARM, THROTTLED)
    refused = E.SessionFailed(E.FailureKind.THROTTLED, THROTTLED.detail, held=True)
    assert of_type(actions, A.OpenSpareSession, A.RefuseConnect) == [A.RefuseConnect(refused)]
    assert ctx.hold == THROTTLED and ctx.session is SessionStatus.OPENING
    assert of_type(machine.start(PREWARM)[1], A.OpenSpareSession) == [A.OpenSpareSession()]
