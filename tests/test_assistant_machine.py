"""The assistant's pure state machine: event sequences in, actions out."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant.machine import step
from edgevoice.assistant.settings import AssistantSettings, BargeIn, Endpointing
from edgevoice.assistant.state import Led, Playing, SessionStatus, State, Timer
from assistant_helpers import Conversation, chunk, marks, of_type, without_telemetry

# Cold sessions unless a test says otherwise: each turn shows its OpenSession.
DEVICE = AssistantSettings(prewarm=False)
SERVER = AssistantSettings(endpointing=Endpointing.SERVER, prewarm=False)
SERVER_WAKE_BARGE = AssistantSettings(endpointing=Endpointing.SERVER, barge_in=BargeIn.WAKE, prewarm=False)


def speaking(settings: AssistantSettings = DEVICE, *, ms: float = 1000.0) -> Conversation:
    """A conversation whose reply (resp_1 / item_1) has started playing."""
    c = Conversation(settings)
    c.send(E.Wake("okay_nabu"), E.SessionReady(), E.SpeechStart(), E.SpeechEnd())
    if settings.endpointing is Endpointing.DEVICE:
        c.send(E.UtteranceEnd())
    else:
        c.send(E.ServerSpeechStarted(), E.ServerSpeechStopped())
    c.send(chunk(ms=ms), E.PlaybackStarted())
    assert c.state is State.SPEAKING
    return c


def follow_up(settings: AssistantSettings = DEVICE) -> Conversation:
    c = speaking(settings)
    c.send(E.ReplyDone("resp_1"), E.PlaybackFinished())
    assert c.state is State.FOLLOW_UP
    return c


# --- a whole turn ---------------------------------------------------------------------------


def test_full_turn_with_device_endpointing():
    c = Conversation(DEVICE)
    assert c.led is Led.OFF

    acts = c.send(E.Wake("okay_nabu"))
    assert without_telemetry(acts) == [
        A.OpenSession(),
        A.StartStreaming(),
        A.OpenGate(pre_roll=True),
        A.PlayChime(A.Chime.WAKE),
        A.SetLeds(Led.LISTENING),
        A.StartTimer(Timer.LISTEN, 30.0, 1),
    ]
    assert marks(acts) == ["wake"]
    assert c.ctx.session is SessionStatus.OPENING

    assert without_telemetry(c.send(E.SessionReady())) == []
    assert marks(c.send(E.SpeechStart(), E.SpeechEnd())) == ["speech_start", "speech_end"]

    acts = c.send(E.UtteranceEnd("silence"))
    assert without_telemetry(acts) == [
        A.CloseGate(),
        A.StopStreaming(),
        A.PlayChime(A.Chime.END),
        A.Commit(),
        A.RequestResponse(),
        A.SetLeds(Led.THINKING),
        A.CancelTimer(Timer.LISTEN, 1),
        A.StartTimer(Timer.REPLY, 15.0, 2),
    ]
    assert marks(acts) == ["commit"]

    first, second = chunk(ms=400), chunk(ms=600)
    acts = c.send(first)
    assert without_telemetry(acts) == [
        A.PlayAudio("resp_1", "item_1", first.pcm),
        A.SetLeds(Led.SPEAKING),  # the reply timer runs on: the rest of the reply must keep coming
    ]
    assert of_type(acts, A.PlayAudio)[0].pcm == first.pcm
    assert marks(acts) == ["reply_audio_first"]
    assert without_telemetry(c.send(second)) == [A.PlayAudio("resp_1", "item_1", second.pcm)]
    assert marks(c.send(E.PlaybackStarted())) == ["playback_start"]
    acts = c.send(E.ReplyDone("resp_1", "completed"))
    assert without_telemetry(acts) == [A.FinishPlayback(), A.CancelTimer(Timer.REPLY, 2)]
    assert c.state is State.SPEAKING  # still playing what was received

    acts = c.send(E.PlaybackFinished())
    assert c.state is State.FOLLOW_UP
    assert without_telemetry(acts) == [
        A.SetLeds(Led.LISTENING),
        A.StartTimer(Timer.FOLLOW_UP, 5.0, 3),
        A.StartTimer(Timer.IDLE, 60.0, 4),
    ]
    assert marks(acts) == ["playback_end"]
    assert not c.gate_open  # the follow-up window listens locally; nothing is streamed yet


def test_state_marks_follow_every_change():
    c = follow_up()
    states = [
        (a.detail["previous"], a.detail["state"])
        for _, acts in c.log
        for a in acts
        if isinstance(a, A.Telemetry) and a.name is A.Mark.STATE
    ]
    assert states == [
        ("idle", "listening"), ("listening", "thinking"), ("thinking", "speaking"), ("speaking", "follow_up")
    ]


def test_audio_said_while_the_session_opens_is_streamed_and_committed_in_order():
    """A cold connect: the machine streams and commits at once; the shell's outbox holds it all."""
    c = Conversation(DEVICE)
    acts = c.send(E.Wake("okay_nabu"), E.SpeechStart(), E.UtteranceEnd())
    session_bound = of_type(acts, A.OpenSession, A.StartStreaming, A.StopStreaming, A.Commit, A.RequestResponse)
    assert session_bound == [A.OpenSession(), A.StartStreaming(), A.StopStreaming(), A.Commit(), A.RequestResponse()]
    assert c.ctx.session is SessionStatus.OPENING
    c.send(E.SessionReady())
    assert c.ctx.session is SessionStatus.READY
    c.send(chunk())
    assert c.state is State.SPEAKING


def test_full_turn_with_server_endpointing():
    c = Conversation(SERVER_WAKE_BARGE)
    c.send(E.Wake("okay_nabu"), E.SessionReady(), E.SpeechStart())
    # The device's endpoint does not end the turn: the server decides.
    assert without_telemetry(c.send(E.SpeechEnd(), E.UtteranceEnd("silence"))) == []
    assert c.state is State.LISTENING and c.gate_open

    c.send(E.ServerSpeechStarted())
    acts = c.send(E.ServerSpeechStopped())
    assert c.state is State.THINKING
    assert not of_type(acts, A.Commit, A.RequestResponse)  # the server commits and replies itself
    assert of_type(acts, A.CloseGate, A.StopStreaming, A.PlayChime) == [
        A.CloseGate(), A.StopStreaming(), A.PlayChime(A.Chime.END)
    ]
    assert marks(acts) == ["commit"]

    c.send(chunk(), E.ReplyDone("resp_1"), E.PlaybackFinished())
    assert c.state is State.FOLLOW_UP


def test_server_endpointing_with_vad_barge_in_keeps_streaming_through_the_reply():
    c = Conversation(SERVER)
    c.send(E.Wake(), E.SessionReady(), E.ServerSpeechStarted())
    acts = c.send(E.ServerSpeechStopped())
    assert c.state is State.THINKING
    assert not of_type(acts, A.CloseGate, A.StopStreaming)
    assert c.gate_open

    # The server's VAD hears the user over the reply: it cancels the response itself.
    c.send(chunk(ms=2000), E.PlaybackProgress(300))
    assert without_telemetry(c.send(E.SpeechStart())) == []  # the server decides, not the device
    acts = c.send(E.ServerSpeechStarted())
    assert c.state is State.LISTENING
    assert without_telemetry(acts)[:1] == [A.StopPlayback()]
    assert not of_type(acts, A.CancelResponse, A.OpenGate)
    assert marks(acts) == ["barge_in"]
    assert of_type(c.send(E.PlaybackStopped(420)), A.Truncate) == [A.Truncate("item_1", 420)]
    # The cancelled response's tail is dropped; the next utterance goes on as usual.
    assert of_type(c.send(chunk(ms=100), E.ReplyDone("resp_1", "cancelled", "turn_detected")), A.PlayAudio) == []
    c.send(E.ServerSpeechStopped(), chunk("resp_2", "item_2"))
    assert c.state is State.SPEAKING


def test_server_endpointing_when_nobody_speaks():
    c = Conversation(SERVER)
    c.send(E.Wake(), E.SessionReady())
    acts = c.send(E.UtteranceEnd(E.NO_SPEECH))
    assert of_type(acts, A.ClearInput, A.Commit) == [A.ClearInput()]
    assert c.state is State.IDLE


def test_server_endpointing_waits_for_the_server_if_it_heard_speech():
    c = Conversation(SERVER)
    c.send(E.Wake(), E.SessionReady(), E.ServerSpeechStarted())
    assert without_telemetry(c.send(E.UtteranceEnd(E.NO_SPEECH))) == []
    assert c.state is State.LISTENING


# --- follow-up and idle -----------------------------------------------------------------------


def test_follow_up_needs_no_wake_word():
    c = follow_up()
    acts = c.send(E.SpeechStart())
    assert c.state is State.LISTENING
    assert without_telemetry(acts) == [
        A.StartStreaming(),
        A.OpenGate(pre_roll=True),  # the pre-roll holds the start of the words
        A.CancelTimer(Timer.FOLLOW_UP, 3),
        A.CancelTimer(Timer.IDLE, 4),
        A.StartTimer(Timer.LISTEN, 30.0, 5),
    ]  # same session, no chime, LEDs already "listening"
    assert marks(acts) == ["speech_start"]
    acts = c.send(E.UtteranceEnd())
    assert of_type(acts, A.Commit, A.RequestResponse) == [A.Commit(), A.RequestResponse()]


def test_follow_up_window_expires_to_idle_and_keeps_the_session_until_idle_timeout():
    c = follow_up()
    acts = c.fire(Timer.FOLLOW_UP)
    assert c.state is State.IDLE
    assert without_telemetry(acts) == [A.SetLeds(Led.OFF)]
    assert Timer.IDLE in c.timers
    assert without_telemetry(c.send(E.SpeechStart())) == []  # speech alone no longer starts a turn
    acts = c.send(E.Wake())
    assert not of_type(acts, A.OpenSession)  # the conversation goes on in the same session


def test_idle_timeout_closes_the_session_and_the_next_wake_opens_a_fresh_one():
    c = follow_up()
    c.fire(Timer.FOLLOW_UP)
    acts = c.fire(Timer.IDLE)
    assert without_telemetry(acts) == [A.CloseSession()]
    assert c.ctx.session is SessionStatus.CLOSED and c.timers == {}
    assert of_type(c.send(E.Wake()), A.OpenSession) == [A.OpenSession()]


def test_idle_timeout_during_the_follow_up_window():
    c = follow_up(dataclasses.replace(DEVICE, idle_timeout_s=5.0, follow_up_s=10.0))
    acts = c.fire(Timer.IDLE)
    assert c.state is State.IDLE
    assert of_type(acts, A.CloseSession, A.CancelTimer) == [A.CloseSession(), A.CancelTimer(Timer.FOLLOW_UP, 3)]


def test_prewarm_opens_a_spare_session_after_closing_the_old_one():
    c = Conversation(dataclasses.replace(DEVICE, prewarm=True))
    assert c.ctx.session is SessionStatus.OPENING
    c.send(E.SessionReady(), E.Wake())
    assert not of_type(c.last, A.OpenSession)
    c.send(E.SpeechStart(), E.UtteranceEnd(), chunk(), E.ReplyDone("resp_1"), E.PlaybackFinished())
    c.fire(Timer.FOLLOW_UP)
    assert without_telemetry(c.fire(Timer.IDLE)) == [A.CloseSession(), A.OpenSpareSession()]
    assert Timer.IDLE not in c.timers  # an unused spare session is not idled out


def test_no_follow_up_when_disabled():
    c = speaking(dataclasses.replace(DEVICE, follow_up_s=0))
    c.send(E.ReplyDone("resp_1"), E.PlaybackFinished())
    assert c.state is State.IDLE


def test_reply_without_audio_opens_the_follow_up_window():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd(), E.ReplyDone("resp_1"))
    assert c.state is State.FOLLOW_UP


# --- barge-in -------------------------------------------------------------------------------


def test_barge_in_by_voice_stops_cancels_truncates_to_ms_played_and_listens():
    c = speaking(ms=1000)
    c.send(chunk(ms=1000), E.PlaybackProgress(640))
    acts = c.send(E.SpeechStart())
    assert c.state is State.LISTENING
    assert without_telemetry(acts) == [
        A.StopPlayback(),
        A.CancelResponse("resp_1"),
        A.StartStreaming(),
        A.OpenGate(pre_roll=True),
        A.SetLeds(Led.LISTENING),
        A.CancelTimer(Timer.REPLY, 2),
        A.StartTimer(Timer.LISTEN, 30.0, 3),
    ]
    assert marks(acts) == ["speech_start", "barge_in"]
    assert c.ctx.turn.heard_speech

    # The shell stopped the speaker and says how much was actually heard.
    assert without_telemetry(c.send(E.PlaybackStopped(712.6))) == [A.Truncate("item_1", 712)]
    # Audio of the cancelled response still in flight is dropped.
    assert without_telemetry(c.send(chunk(ms=200), E.ReplyDone("resp_1", "cancelled"))) == []

    acts = c.send(E.UtteranceEnd())
    assert of_type(acts, A.Commit, A.RequestResponse) == [A.Commit(), A.RequestResponse()]
    assert without_telemetry(c.send(chunk("resp_2", "item_2")))[0] == A.PlayAudio("resp_2", "item_2", chunk().pcm)


def test_over_a_reply_the_vad_alone_does_not_interrupt_only_the_echo_guards_verdict_does():
    c = speaking(ms=1000)
    # The VAD hears the reply's own echo as speech: judged by the echo guard, not by the machine.
    assert c.send(E.SpeechStart(vad_only=True)) == []
    assert c.state is State.SPEAKING
    acts = c.send(E.SpeechStart())  # the echo guard: sustained speech louder than the echo
    assert c.state is State.LISTENING and marks(acts) == ["speech_start", "barge_in"]
    # Once listening, the VAD's own speech start counts as before.
    c2 = Conversation(DEVICE)
    c2.send(E.Wake("okay_nabu"), E.SessionReady())
    assert marks(c2.send(E.SpeechStart(vad_only=True))) == ["speech_start"]
    assert c2.ctx.turn.heard_speech


def test_a_wake_word_no_louder_than_the_devices_own_sound_is_ignored():
    c = speaking(ms=1000)
    assert c.send(E.Wake("okay_nabu", drowned=True)) == []
    assert c.state is State.SPEAKING
    assert marks(c.send(E.Wake("okay_nabu")))[:2] == ["wake", "barge_in"]
    idle = Conversation(DEVICE)
    assert idle.send(E.Wake("okay_nabu", drowned=True)) == [] and idle.state is State.IDLE


def test_barge_in_truncate_is_clamped_to_the_audio_received():
    c = speaking(ms=300)
    c.send(E.SpeechStart())
    assert of_type(c.send(E.PlaybackStopped(900)), A.Truncate) == [A.Truncate("item_1", 300)]


def test_barge_in_truncates_the_item_being_played_when_a_reply_has_several():
    c = speaking(ms=1000)
    c.send(chunk(item_id="item_2", ms=800))
    c.send(E.SpeechStart())
    assert of_type(c.send(E.PlaybackStopped(1250)), A.Truncate) == [A.Truncate("item_2", 250)]


def test_barge_in_after_the_response_is_complete_sends_no_cancel():
    c = speaking()
    c.send(E.ReplyDone("resp_1"))
    acts = c.send(E.SpeechStart())
    assert of_type(acts, A.StopPlayback, A.CancelResponse) == [A.StopPlayback()]
    assert of_type(c.send(E.PlaybackStopped(100)), A.Truncate) == [A.Truncate("item_1", 100)]


def test_barge_in_by_wake_word_only():
    c = speaking(dataclasses.replace(DEVICE, barge_in=BargeIn.WAKE))
    assert without_telemetry(c.send(E.SpeechStart())) == []
    assert c.state is State.SPEAKING
    acts = c.send(E.Wake("okay_nabu"))
    assert c.state is State.LISTENING
    assert of_type(acts, A.StopPlayback, A.CancelResponse, A.OpenGate, A.PlayChime) == [
        A.StopPlayback(), A.CancelResponse("resp_1"), A.OpenGate(pre_roll=True), A.PlayChime(A.Chime.WAKE)
    ]
    assert not c.ctx.turn.heard_speech  # the words come after the wake word


@pytest.mark.parametrize("settings", [DEVICE, SERVER], ids=["device", "server"])
def test_the_wake_word_over_a_reply_stops_it_in_vad_mode_too(settings):
    c = speaking(settings)
    streaming = c.gate_open  # server endpointing streams through the reply
    acts = c.send(E.Wake("okay_nabu"))
    assert c.state is State.LISTENING and c.ctx.turn.trigger == "wake" and not c.ctx.turn.heard_speech
    assert of_type(acts, A.StopPlayback, A.CancelResponse) == [A.StopPlayback(), A.CancelResponse("resp_1")]
    if streaming:
        # What the open gate let through (the reply's echo, the wake word) is dropped; the words are held for.
        assert of_type(acts, A.ClearInput, A.HoldForWords, A.OpenGate) == [A.ClearInput(), A.HoldForWords()]
    else:
        assert of_type(acts, A.ClearInput, A.HoldForWords, A.OpenGate) == [A.OpenGate(pre_roll=True)]


@pytest.mark.parametrize("trigger", ["vad", "follow_up"])
def test_a_turn_opened_by_speech_that_was_the_wake_word_starts_again_from_it(trigger):
    c = speaking(DEVICE)
    if trigger == "vad":
        c.send(E.SpeechStart())  # the echo guard let the wake word through as a barge-in first
    else:
        c.send(E.ReplyDone("resp_1"), E.PlaybackFinished(), E.SpeechStart())
    assert c.state is State.LISTENING and c.ctx.turn.trigger == trigger and c.ctx.turn.heard_speech
    acts = c.send(E.Wake("okay_nabu"))
    assert of_type(acts, A.ClearInput, A.HoldForWords) == [A.ClearInput(), A.HoldForWords()]
    assert c.ctx.turn.trigger == "wake" and not c.ctx.turn.heard_speech
    # Nobody says anything after the wake word: no turn is committed.
    acts = c.send(E.UtteranceEnd(E.NO_SPEECH))
    assert of_type(acts, A.Commit) == [] and c.state is State.IDLE


def test_barge_in_off_keeps_the_gate_closed_through_the_reply():
    c = speaking(dataclasses.replace(DEVICE, barge_in=BargeIn.OFF))
    acts = c.send(E.SpeechStart(), E.Wake("okay_nabu"), E.SpeechEnd(), E.UtteranceEnd(), chunk(ms=300))
    assert of_type(acts, A.OpenGate, A.StartStreaming, A.StopPlayback, A.CancelResponse) == []
    assert c.state is State.SPEAKING and not c.gate_open
    c.send(E.ReplyDone("resp_1"), E.PlaybackFinished())
    assert c.state is State.FOLLOW_UP


@pytest.mark.parametrize("settings", [DEVICE, SERVER], ids=["device", "server"])
def test_server_cancellation_for_detected_speech_is_followed(settings):
    c = speaking(settings)
    acts = c.send(E.ReplyDone("resp_1", "cancelled", "turn_detected"))
    assert c.state is State.LISTENING
    assert A.StopPlayback() in acts and not of_type(acts, A.CancelResponse)
    assert of_type(c.send(E.PlaybackStopped(250)), A.Truncate) == [A.Truncate("item_1", 250)]


def test_with_barge_in_off_a_server_cancellation_just_ends_the_reply():
    c = speaking(dataclasses.replace(DEVICE, barge_in=BargeIn.OFF))
    acts = c.send(E.ReplyDone("resp_1", "cancelled", "turn_detected"))
    assert without_telemetry(acts) == [A.FinishPlayback(), A.CancelTimer(Timer.REPLY, 2)]  # what arrived plays out
    c.send(E.PlaybackFinished())
    assert c.state is State.FOLLOW_UP


def test_push_to_talk_interrupts_even_with_barge_in_off():
    c = speaking(dataclasses.replace(DEVICE, barge_in=BargeIn.OFF))
    acts = c.send(E.PushToTalk(pressed=True))
    assert c.state is State.LISTENING
    assert of_type(acts, A.StopPlayback, A.CancelResponse, A.OpenGate) == [
        A.StopPlayback(), A.CancelResponse("resp_1"), A.OpenGate(pre_roll=False)
    ]


# --- push-to-talk ---------------------------------------------------------------------------


def test_push_to_talk_turn_ends_on_release():
    c = Conversation(DEVICE)
    acts = c.send(E.PushToTalk(pressed=True))
    assert of_type(acts, A.OpenSession, A.OpenGate, A.PlayChime) == [
        A.OpenSession(), A.OpenGate(pre_roll=False), A.PlayChime(A.Chime.WAKE)
    ]
    c.send(E.SessionReady(), E.SpeechStart(), E.SpeechEnd())
    assert without_telemetry(c.send(E.UtteranceEnd())) == []  # a pause while the button is held
    acts = c.send(E.PushToTalk(pressed=False))
    assert c.state is State.THINKING
    assert of_type(acts, A.Commit, A.RequestResponse) == [A.Commit(), A.RequestResponse()]


def test_push_to_talk_released_without_speech():
    c = Conversation(SERVER)
    c.send(E.PushToTalk(pressed=True), E.SessionReady())
    acts = c.send(E.PushToTalk(pressed=False))
    assert c.state is State.IDLE
    assert of_type(acts, A.ClearInput, A.Commit) == [A.ClearInput()]


# --- bad turns ------------------------------------------------------------------------------


def test_no_speech_goes_back_to_idle_without_bothering_the_service():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SessionReady())
    acts = c.send(E.UtteranceEnd(E.NO_SPEECH))
    assert c.state is State.IDLE
    assert without_telemetry(acts) == [
        A.CloseGate(),
        A.StopStreaming(),
        A.PlayChime(A.Chime.END),
        A.ClearInput(),
        A.SetLeds(Led.OFF),
        A.CancelTimer(Timer.LISTEN, 1),
        A.StartTimer(Timer.IDLE, 60.0, 2),
    ]


def test_listening_too_long_sends_the_utterance():
    c = Conversation(DEVICE)
    c.send(E.PushToTalk(pressed=True), E.SessionReady(), E.SpeechStart())
    acts = c.fire(Timer.LISTEN)
    assert c.state is State.THINKING
    assert of_type(acts, A.Commit) == [A.Commit()]
    assert without_telemetry(c.send(E.PushToTalk(pressed=False))) == []


def test_session_failure_while_talking_answers_from_the_cache_when_the_user_finishes():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SpeechStart())
    acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE, "name resolution failed"))
    assert without_telemetry(acts) == [A.CloseGate(), A.StopStreaming()]
    assert marks(acts) == ["error"]
    assert c.state is State.LISTENING  # the user is still talking

    acts = c.send(E.UtteranceEnd())
    assert c.state is State.OFFLINE
    assert without_telemetry(acts) == [
        A.PlayChime(A.Chime.END),
        A.PlayCached(A.Phrase.OFFLINE),
        A.SetLeds(Led.OFFLINE),
        A.CancelTimer(Timer.LISTEN, 1),
    ]
    assert marks(acts) == ["offline_reply"]
    assert not of_type(acts, A.Commit, A.ClearInput)

    c.send(E.PlaybackStarted())
    assert marks(c.last) == ["cached_playback_start"]
    c.send(E.PlaybackFinished())
    assert c.ctx.playing is Playing.NOTHING
    assert c.timers == {}  # offline lasts until the service is back, not for a fixed time
    c.send(E.ServiceBack())
    assert c.state is State.IDLE and c.led is Led.OFF


def test_session_failure_in_server_mode_falls_back_to_the_device_endpoint():
    c = Conversation(SERVER)
    c.send(E.Wake(), E.SpeechStart(), E.SessionFailed(E.FailureKind.OFFLINE))
    acts = c.send(E.UtteranceEnd())
    assert c.state is State.OFFLINE
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.OFFLINE)]


def test_session_lost_while_thinking_answers_from_the_cache_at_once():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SessionReady(), E.SpeechStart(), E.UtteranceEnd())
    acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE))
    assert c.state is State.OFFLINE
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.OFFLINE)]
    assert of_type(c.send(E.Wake()), A.OpenSession) == [A.OpenSession()]  # the next wake tries again
    assert c.state is State.LISTENING


def test_session_lost_mid_reply_plays_what_arrived_then_the_error_phrase():
    c = speaking()
    acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE, "connection lost", lost=True))
    assert of_type(acts, A.StopPlayback, A.PlayCached, A.Truncate, A.CancelResponse) == [
        A.PlayCached(A.Phrase.SERVICE_ERROR, after_reply=True)
    ]
    assert marks(acts) == ["error", "offline_reply"]
    assert c.state is State.IDLE  # a lost session is no proof of an outage: the background check decides
    assert without_telemetry(c.send(chunk(ms=100))) == []  # late audio of the dead reply is dropped
    c.send(E.PlaybackFinished())
    assert c.ctx.playing is Playing.NOTHING


def test_session_lost_after_the_whole_reply_arrived_lets_it_finish():
    c = speaking()
    c.send(E.ReplyDone("resp_1"))
    acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE, "connection lost", lost=True))
    assert without_telemetry(acts) == [] and c.state is State.SPEAKING
    c.send(E.PlaybackFinished())
    assert c.state is State.FOLLOW_UP
    assert of_type(c.send(E.SpeechStart()), A.OpenSession) == [A.OpenSession()]


def test_throttled_session_says_busy():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd())
    acts = c.send(E.SessionFailed(E.FailureKind.THROTTLED))
    assert c.state is State.OFFLINE
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.BUSY)]


def test_offline_without_speech_says_nothing():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SessionFailed(E.FailureKind.OFFLINE))
    acts = c.send(E.UtteranceEnd(E.NO_SPEECH))
    assert c.state is State.OFFLINE
    assert not of_type(acts, A.PlayCached, A.ClearInput)


def test_auth_failure_is_an_error_state_that_does_not_retry_on_every_wake():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd())
    acts = c.send(E.SessionFailed(E.FailureKind.AUTH, "401"))
    assert c.state is State.ERROR and c.led is Led.ERROR
    assert of_type(acts, A.PlayCached, A.StartTimer) == [
        A.PlayCached(A.Phrase.SERVICE_ERROR), A.StartTimer(Timer.RETRY, 300.0, 3)
    ]
    c.send(E.PlaybackFinished())
    acts = c.send(E.Wake())
    assert of_type(acts, A.OpenSession, A.OpenGate) == []
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.SERVICE_ERROR)]
    c.fire(Timer.RETRY)
    assert c.state is State.IDLE
    assert of_type(c.send(E.Wake()), A.OpenSession) == [A.OpenSession()]


def test_auth_failure_of_a_spare_session_shows_the_error():
    c = Conversation(dataclasses.replace(DEVICE, prewarm=True))
    acts = c.send(E.SessionFailed(E.FailureKind.AUTH))
    assert c.state is State.ERROR
    assert not of_type(acts, A.PlayCached)  # nobody asked anything


def test_a_lost_spare_session_is_reopened_after_a_pause_quietly():
    c = Conversation(dataclasses.replace(DEVICE, prewarm=True))
    c.send(E.SessionReady())
    acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE, "closed by the server", lost=True))
    assert c.state is State.IDLE and without_telemetry(acts) == [A.StartTimer(Timer.SPARE, 30.0, 1)]
    assert without_telemetry(c.fire(Timer.SPARE)) == [A.OpenSpareSession()]
    # The reopened spare cannot connect: the service is unreachable, the device shows it is offline.
    acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE))
    assert c.state is State.OFFLINE and c.led is Led.OFFLINE and not of_type(acts, A.PlayCached)
    # A wake meanwhile does not wait for the service to come back: it tries a session at once.
    acts = c.send(E.Wake())
    assert of_type(acts, A.OpenSession) == [A.OpenSession()] and c.state is State.LISTENING


def test_prewarm_reopens_a_spare_when_the_service_is_back_and_after_unmute():
    c = Conversation(dataclasses.replace(DEVICE, prewarm=True))
    c.send(E.Wake(), E.SpeechStart(), E.SessionFailed(E.FailureKind.OFFLINE), E.UtteranceEnd())
    assert c.state is State.OFFLINE and Timer.SPARE not in c.timers
    acts = c.send(E.ServiceBack())
    assert c.state is State.IDLE and of_type(acts, A.OpenSpareSession) == [A.OpenSpareSession()]
    c.send(E.SessionReady())
    c.send(E.MuteChanged(True))
    acts = c.send(E.MuteChanged(False))
    assert without_telemetry(acts) == [A.SetMicrophone(True), A.OpenSpareSession(), A.SetLeds(Led.OFF)]


def test_service_error_mid_reply_apologises_and_goes_back_to_idle():
    c = speaking()
    acts = c.send(E.ServiceError("server_error", "internal"))
    assert c.state is State.IDLE
    assert without_telemetry(acts)[:3] == [
        A.StopPlayback(), A.CancelResponse("resp_1"), A.PlayCached(A.Phrase.SERVICE_ERROR)
    ]
    assert marks(acts) == ["error"]
    assert not of_type(c.send(E.PlaybackStopped(100)), A.Truncate)
    # A wake while the apology plays interrupts it.
    acts = c.send(E.Wake())
    assert acts and of_type(acts, A.StopPlayback) == [A.StopPlayback()]
    assert c.state is State.LISTENING


def test_failed_response_is_a_service_error():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SessionReady(), E.SpeechStart(), E.UtteranceEnd())
    acts = c.send(E.ReplyDone("resp_1", "failed"))
    assert c.state is State.IDLE
    assert of_type(acts, A.PlayCached) == [A.PlayCached(A.Phrase.SERVICE_ERROR)]


def test_no_reply_in_time_is_a_service_error():
    c = Conversation(DEVICE)
    c.send(E.Wake(), E.SessionReady(), E.SpeechStart(), E.UtteranceEnd())
    acts = c.fire(Timer.REPLY)
    assert c.state is State.IDLE
    assert of_type(acts, A.CancelResponse, A.PlayCached) == [
        A.CancelResponse(None), A.PlayCached(A.Phrase.SERVICE_ERROR)
    ]


def test_service_error_outside_a_turn_is_only_logged():
    c = follow_up()
    acts = c.send(E.ServiceError("rate_limit"))
    assert without_telemetry(acts) == [] and marks(acts) == ["error"]
    assert c.state is State.FOLLOW_UP


def test_a_timer_that_was_cancelled_before_its_event_arrived_is_ignored():
    c = Conversation(DEVICE)
    c.send(E.Wake())
    listen_id = c.timers[Timer.LISTEN]
    c.send(E.SpeechStart(), E.UtteranceEnd())
    acts = c.send(E.TimerFired(Timer.LISTEN, listen_id))
    assert acts == [] and c.state is State.THINKING


# --- mute -----------------------------------------------------------------------------------


def _reach(state: State) -> Conversation:
    if state is State.IDLE:
        c = Conversation(DEVICE)
    elif state is State.LISTENING:
        c = Conversation(DEVICE)
        c.send(E.Wake(), E.SpeechStart())
    elif state is State.THINKING:
        c = Conversation(DEVICE)
        c.send(E.Wake(), E.SessionReady(), E.SpeechStart(), E.UtteranceEnd())
    elif state is State.SPEAKING:
        c = speaking()
    elif state is State.FOLLOW_UP:
        c = follow_up(SERVER)  # with the gate open through the follow-up window
    elif state is State.OFFLINE:
        c = Conversation(DEVICE)
        c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd(), E.SessionFailed(E.FailureKind.OFFLINE))
    elif state is State.ERROR:
        c = Conversation(DEVICE)
        c.send(E.Wake(), E.SessionFailed(E.FailureKind.AUTH), E.UtteranceEnd(E.NO_SPEECH))
    else:
        c = Conversation(DEVICE)
        c.send(E.MuteChanged(True))
    assert c.state is state
    return c


@pytest.mark.parametrize("state", list(State))
def test_mute_closes_everything_from_any_state_and_unmute_returns_to_idle(state):
    c = _reach(state)
    was_playing = c.ctx.playing is not Playing.NOTHING
    had_session = c.ctx.session is not SessionStatus.CLOSED
    acts = c.send(E.MuteChanged(True))
    assert c.state is State.MUTED and c.led is Led.MUTED
    assert not c.gate_open and not c.streaming and not c.microphone
    assert c.timers == {}
    assert c.ctx.session is SessionStatus.CLOSED
    if state is not State.MUTED:
        assert (A.StopPlayback() in acts) == was_playing
        assert (A.CloseSession() in acts) == had_session
        assert A.SetMicrophone(False) in acts

    # While muted nothing starts a turn.
    acts = c.send(E.Wake(), E.PushToTalk(True), E.SpeechStart(), chunk(), E.ServerSpeechStarted())
    assert of_type(acts, A.OpenGate, A.OpenSession, A.PlayAudio) == []
    assert c.state is State.MUTED

    acts = c.send(E.MuteChanged(False))
    assert c.state is State.IDLE and c.led is Led.OFF and c.microphone
    assert without_telemetry(acts) == [A.SetMicrophone(True), A.SetLeds(Led.OFF)]
    assert of_type(c.send(E.Wake()), A.OpenSession, A.OpenGate) == [A.OpenSession(), A.OpenGate(pre_roll=True)]


def test_chimes_off():
    c = Conversation(dataclasses.replace(DEVICE, chimes=False))
    acts = c.send(E.Wake(), E.SpeechStart(), E.UtteranceEnd())
    assert not of_type(acts, A.PlayChime)


def test_settings_from_config():
    from edgevoice.config.assistant import AssistantConfig

    cfg = AssistantConfig(follow_up_s=3.0, barge_in="wake", chimes=False, prewarm=True)
    s = AssistantSettings.from_config(cfg, server_turn_detection=True)
    assert s.follow_up_s == 3.0 and s.barge_in is BargeIn.WAKE and s.endpointing is Endpointing.SERVER
    assert not s.chimes and s.prewarm and s.idle_timeout_s == 60.0
    assert AssistantSettings.from_config(AssistantConfig(), server_turn_detection=False) == AssistantSettings()


def test_events_and_actions_do_not_show_audio_in_their_repr():
    assert "pcm" not in repr(chunk()) and "pcm" not in repr(A.PlayAudio("r", "i", b"\x01" * 64))


# --- properties over random event sequences -------------------------------------------------

ALL_SETTINGS = st.builds(
    AssistantSettings,
    follow_up_s=st.sampled_from([0.0, 5.0]),
    barge_in=st.sampled_from(list(BargeIn)),
    endpointing=st.sampled_from(list(Endpointing)),
    chimes=st.booleans(),
    prewarm=st.booleans(),
    greeting=st.sampled_from(["", "Hello, how can I help?"]),
    listen_without_wake=st.booleans(),
)

RESPONSES = st.sampled_from(["resp_1", "resp_2", "resp_3"])
ITEMS = st.sampled_from(["item_1", "item_2"])

PLAIN_EVENTS = st.one_of(
    st.builds(E.Wake, st.sampled_from(["okay_nabu", "hey_jarvis"])),
    st.builds(E.PushToTalk, st.booleans()),
    st.builds(E.MuteChanged, st.booleans()),
    st.builds(E.MuteRequested, st.booleans()),
    st.builds(E.Announce, st.sampled_from(["", "The shop closes in ten minutes."]), st.booleans()),
    st.builds(E.PresenceChanged, st.booleans()),
    st.just(E.SpeechStart()),
    st.just(E.SpeechEnd()),
    st.builds(E.UtteranceEnd, st.sampled_from(["silence", E.NO_SPEECH, "max_length"])),
    st.just(E.SessionReady()),
    st.builds(E.SessionFailed, st.sampled_from(list(E.FailureKind)), lost=st.booleans()),
    st.just(E.ServiceBack()),
    st.builds(E.ServiceUnreachable, st.sampled_from(list(E.FailureKind))),
    st.just(E.ServerSpeechStarted()),
    st.just(E.ServerSpeechStopped()),
    st.builds(E.ReplyAudio, RESPONSES, ITEMS, st.floats(0, 2000)),
    st.builds(E.ReplyDone, RESPONSES, st.sampled_from(["completed", "cancelled", "failed", "incomplete"]),
              st.sampled_from(["", "turn_detected", "client_cancelled"])),
    st.builds(E.ServiceError, st.sampled_from(["server_error", "invalid_request_error"])),
    st.just(E.PlaybackStarted()),
    st.builds(E.PlaybackProgress, st.floats(0, 5000)),
    st.builds(E.PlaybackStopped, st.floats(0, 5000)),
    st.just(E.PlaybackFinished()),
    st.builds(E.TimerFired, st.sampled_from(list(Timer)), st.integers(0, 40)),  # mostly stale ids
    st.builds(E.ToolCallRequested, RESPONSES, st.sampled_from(["call_1", "call_2"]), st.just("get_time")),
    st.builds(E.ToolFinished, st.sampled_from(["call_1", "call_2"]), st.just("get_time"), st.just("{}"),
              ends_conversation=st.booleans()),
)


def _likely_events(c: Conversation) -> list[E.Event]:
    """Events a real conversation would bring next, so random walks get deep into a turn."""
    reply = c.ctx.reply
    response = reply.response_id if reply else "resp_1"
    item = reply.item_id if reply else "item_1"
    by_state: dict[State, list[E.Event]] = {
        State.IDLE: [E.Wake("okay_nabu"), E.PushToTalk(True), E.SessionReady(), E.PresenceChanged(True),
                     E.SpeechStart()],
        State.LISTENING: [E.SessionReady(), E.SpeechStart(), E.UtteranceEnd(), E.ServerSpeechStarted(),
                          E.ServerSpeechStopped(), E.PushToTalk(False)],
        State.THINKING: [E.ReplyAudio(response, item, 400.0), E.ReplyDone(response),
                         E.ToolCallRequested(response, "call_1", "end_conversation"),
                         E.ToolFinished("call_1", "end_conversation", "{}", ends_conversation=True)],
        State.SPEAKING: [E.ReplyAudio(response, item, 400.0), E.ReplyDone(response), E.PlaybackProgress(300.0),
                         E.PlaybackFinished(), E.SpeechStart(), E.Wake("okay_nabu"), E.ServerSpeechStarted(),
                         E.ReplyDone(response, "cancelled", "turn_detected")],
        State.FOLLOW_UP: [E.SpeechStart(), E.ServerSpeechStarted(), E.Wake("okay_nabu")],
        State.MUTED: [E.MuteChanged(False)],
        State.OFFLINE: [E.PlaybackFinished(), E.Wake("okay_nabu"), E.ServiceBack()],
        State.ERROR: [E.PlaybackFinished(), E.Wake("okay_nabu")],
    }
    likely = by_state[c.state]
    if c.ctx.pending_truncate is not None:
        likely = [E.PlaybackStopped(500.0), *likely]
    return likely


def _random_event(data, c: Conversation) -> E.Event:
    kind = data.draw(st.integers(0, 9), label="kind of event")
    if c.timers and kind == 0:
        name = data.draw(st.sampled_from(sorted(c.timers)), label="timer")
        return E.TimerFired(name, c.timers[name])
    if kind <= 6:
        return data.draw(st.sampled_from(_likely_events(c)), label="likely event")
    return data.draw(PLAIN_EVENTS, label="any event")


def _walk(data, c: Conversation) -> None:
    before_states = []
    for _ in range(data.draw(st.integers(0, 40), label="length")):
        event = _random_event(data, c)
        before = c.state
        acts = c.send(event)
        before_states.append(before)
        _check_step(before, event, acts, c)


def _check_step(before: State, event: E.Event, acts: list[A.Action], c: Conversation) -> None:
    # Nothing leaves the device before the wake word, the button, or speech the user addresses to it.
    if of_type(acts, A.OpenGate):
        heard_by_server = isinstance(event, E.ReplyDone) and event.reason == "turn_detected"
        assert heard_by_server or isinstance(event, (E.Wake, E.PushToTalk, E.SpeechStart, E.ServerSpeechStarted)), event
        if before in (State.IDLE, State.OFFLINE, State.ERROR, State.MUTED):
            # ... or speech from a visitor the presence sensor sees, when they need no wake word.
            by_visitor = (isinstance(event, E.SpeechStart) and c.ctx.present and c.settings.listen_without_wake
                          and before in (State.IDLE, State.OFFLINE))
            assert by_visitor or isinstance(event, (E.Wake, E.PushToTalk)), (before, event)
    if of_type(acts, A.PlayAudio):
        assert c.state is State.SPEAKING
    # Every function call is answered: run (and answered when it finishes), or answered at once.
    if isinstance(event, E.ToolCallRequested):
        assert len(of_type(acts, A.RunTool, A.SendToolOutput)) == 1, acts
    if isinstance(event, E.ToolFinished):
        assert [a.call_id for a in of_type(acts, A.SendToolOutput)] == [event.call_id]
    for truncate in of_type(acts, A.Truncate):
        assert isinstance(event, E.PlaybackStopped)
        assert truncate.audio_end_ms <= event.ms_played
    if c.state is State.MUTED:
        assert c.ctx.session is SessionStatus.CLOSED and c.ctx.playing is Playing.NOTHING


def _drain(c: Conversation) -> None:
    """What time and the speaker do on their own: timers run out, replies end and finish playing,
    and the service comes back (the background check finds it)."""
    for _ in range(40):  # up to max_announcements waiting, each ending on its own
        if c.state is State.IDLE and not c.ctx.announcements and c.ctx.playing is Playing.NOTHING:
            return
        if c.state is State.OFFLINE:
            c.send(E.ServiceBack())
        if c.ctx.reply is not None and c.ctx.reply.active:
            c.send(E.ReplyDone(c.ctx.reply.response_id))
        if c.ctx.playing is not Playing.NOTHING:
            c.send(E.PlaybackFinished())
        for name in sorted(c.timers):
            if name in c.timers and c.state is not State.IDLE:
                c.fire(name)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), ALL_SETTINGS)
def test_random_events_never_raise_and_mute_unmute_always_returns_to_idle(data, assistant_settings):
    c = Conversation(assistant_settings)
    _walk(data, c)
    c.send(E.MuteChanged(True))
    assert c.state is State.MUTED
    c.send(E.MuteChanged(False))
    assert c.state is State.IDLE
    assert not c.gate_open and c.ctx.playing is Playing.NOTHING


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), ALL_SETTINGS)
def test_random_events_then_time_passing_always_returns_to_idle(data, assistant_settings):
    c = Conversation(assistant_settings)
    _walk(data, c)
    if c.state is State.MUTED:
        c.send(E.MuteChanged(False))
    _drain(c)
    assert c.state is State.IDLE, c.ctx
    assert not c.gate_open


def test_step_is_pure():
    ctx0 = Conversation(DEVICE).ctx
    event = E.Wake("okay_nabu")
    first = step(ctx0, event, DEVICE)
    second = step(ctx0, event, DEVICE)
    assert first == second
    assert ctx0.state is State.IDLE
