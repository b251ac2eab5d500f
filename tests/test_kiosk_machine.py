"""The machine's kiosk decisions: announcements, mute from a script against the switch, and presence."""

from __future__ import annotations

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant.settings import AssistantSettings
from edgevoice.assistant.state import Playing, SessionStatus, State, Timer
from assistant_helpers import Conversation, chunk, marks, of_type

DEVICE = AssistantSettings(prewarm=False, chimes=False)
GREETING = "Hello! Ask me anything about the museum."
PRESENCE = AssistantSettings(prewarm=False, chimes=False, greeting=GREETING, listen_without_wake=True, leave_s=20.0)
NOTICE = "The shop closes in ten minutes."


def speaking(settings: AssistantSettings = DEVICE) -> Conversation:
    c = Conversation(settings)
    c.send(E.Wake("okay_nabu"), E.SessionReady(), E.SpeechStart(), E.SpeechEnd(), E.UtteranceEnd())
    c.send(chunk(), E.PlaybackStarted())
    assert c.state is State.SPEAKING
    return c


def finish_reply(c: Conversation, response_id: str = "resp_1") -> list[A.Action]:
    return c.send(E.ReplyDone(response_id), E.PlaybackFinished())


# --- announcements ------------------------------------------------------------------------------


def test_say_while_idle_goes_through_the_session_at_once():
    c = Conversation(DEVICE)
    acts = c.send(E.Announce(NOTICE))
    assert of_type(acts, A.OpenSession) and of_type(acts, A.SpeakText) == [A.SpeakText(NOTICE)]
    assert not of_type(acts, A.OpenGate), "an announcement opens no microphone"
    assert c.state is State.THINKING and c.ctx.announcing == NOTICE
    c.send(E.SessionReady(), chunk("resp_a"), E.PlaybackStarted())
    assert c.state is State.SPEAKING
    finish_reply(c, "resp_a")
    assert c.state is State.IDLE and c.ctx.announcing == "", "no follow-up window after an announcement"


def test_say_during_a_reply_waits_for_the_turn_to_end():
    c = speaking()
    acts = c.send(E.Announce(NOTICE))
    assert not of_type(acts, A.SpeakText, A.StopPlayback, A.CancelResponse)
    assert c.ctx.announcements == (NOTICE,) and c.state is State.SPEAKING
    acts = finish_reply(c)
    assert of_type(acts, A.SpeakText) == [A.SpeakText(NOTICE)]
    assert c.state is State.THINKING and c.ctx.announcements == ()


def test_say_interrupt_stops_the_reply_first():
    c = speaking()
    c.send(E.Announce("waiting one"))
    acts = c.send(E.Announce(NOTICE, interrupt=True))
    assert c.ctx.announcements == ("waiting one",), "the interrupting one goes first"
    kinds = [type(a) for a in acts if not isinstance(a, A.Telemetry)]
    assert kinds.index(A.StopPlayback) < kinds.index(A.SpeakText)
    assert A.CancelResponse("resp_1") in acts
    assert c.state is State.THINKING and c.ctx.announcing == NOTICE


def test_say_offline_plays_locally_and_a_failed_session_falls_back_to_the_local_voice():
    c = Conversation(DEVICE)
    c.send(E.ServiceUnreachable(E.FailureKind.OFFLINE))
    assert c.state is State.OFFLINE
    acts = c.send(E.Announce(NOTICE))
    assert of_type(acts, A.PlayText) == [A.PlayText(NOTICE)] and not of_type(acts, A.OpenSession)
    assert c.ctx.playing is Playing.CACHED
    c.send(E.PlaybackFinished())
    assert c.ctx.announcing == "" and c.state is State.OFFLINE

    c = Conversation(DEVICE)
    c.send(E.Announce(NOTICE))
    acts = c.send(E.SessionFailed(E.FailureKind.OFFLINE))
    assert of_type(acts, A.PlayText) == [A.PlayText(NOTICE)]
    assert not of_type(acts, A.PlayCached, A.RecogniseQuestion), "not the offline apology"


def test_say_is_refused_while_muted_and_when_too_many_wait():
    c = Conversation(DEVICE)
    c.send(E.MuteRequested(True))
    acts = c.send(E.Announce(NOTICE))
    assert not of_type(acts, A.SpeakText, A.PlayText) and c.ctx.announcements == ()
    assert marks(acts) == ["announce"]

    c = speaking()
    for i in range(DEVICE.max_announcements + 2):
        c.send(E.Announce(f"notice {i}"))
    assert len(c.ctx.announcements) == DEVICE.max_announcements


def test_the_visitor_speaking_over_an_announcement_is_a_barge_in():
    c = Conversation(DEVICE)
    c.send(E.Announce(NOTICE), E.SessionReady(), chunk("resp_a"), E.PlaybackStarted())
    c.send(E.Wake("okay_nabu"))
    assert c.state is State.LISTENING and c.ctx.announcing == ""


# --- mute from a script, and the switch ----------------------------------------------------------


def test_the_switch_wins_over_the_socket():
    c = Conversation(DEVICE)
    c.send(E.MuteRequested(True))
    assert c.state is State.MUTED and not c.microphone
    c.send(E.MuteRequested(False))
    assert c.state is State.IDLE

    c.send(E.MuteChanged(True))
    c.send(E.MuteRequested(False))
    assert c.state is State.MUTED, "unmute refused while the switch is on"
    c.send(E.MuteChanged(False))
    assert c.state is State.IDLE

    c.send(E.MuteRequested(True), E.MuteChanged(True), E.MuteChanged(False))
    assert c.state is State.IDLE, "switching off unmutes, whoever muted"


# --- presence ------------------------------------------------------------------------------------


def test_arrival_greets_once_per_visitor_and_leaving_resets():
    c = Conversation(PRESENCE)
    acts = c.send(E.PresenceChanged(True))
    assert marks(acts)[:2] == ["presence", "announce"]
    assert of_type(acts, A.SpeakText) == [A.SpeakText(GREETING)]
    c.send(E.SessionReady(), chunk("resp_g"), E.PlaybackStarted())
    finish_reply(c, "resp_g")
    assert c.state is State.IDLE

    # Steps away and back within leave_s: the same visitor, no second greeting.
    c.send(E.PresenceChanged(False))
    assert Timer.LEAVE in c.timers
    acts = c.send(E.PresenceChanged(True))
    assert not of_type(acts, A.SpeakText) and Timer.LEAVE not in c.timers

    # Gone for leave_s: the conversation's session is closed; the next visitor is greeted afresh.
    c.send(E.PresenceChanged(False))
    acts = c.fire(Timer.LEAVE)
    assert of_type(acts, A.CloseSession) and c.ctx.session is SessionStatus.CLOSED and not c.ctx.visitor
    acts = c.send(E.PresenceChanged(True))
    assert of_type(acts, A.SpeakText) == [A.SpeakText(GREETING)] and of_type(acts, A.OpenSession)


def test_a_visitor_who_leaves_mid_reply_is_reset_after_it():
    c = speaking(PRESENCE)
    c.send(E.PresenceChanged(True), E.PresenceChanged(False))
    c.fire(Timer.LEAVE)
    assert c.state is State.SPEAKING and c.ctx.ending
    acts = finish_reply(c)
    assert of_type(acts, A.CloseSession) and c.state is State.IDLE


def test_speech_starts_a_turn_without_the_wake_word_only_while_someone_is_there():
    c = Conversation(PRESENCE)
    acts = c.send(E.SpeechStart())
    assert not of_type(acts, A.OpenGate, A.OpenSession), "nobody there: the wake word is needed"
    c.send(E.PresenceChanged(True), E.SessionReady(), chunk("resp_g"), E.PlaybackStarted())
    finish_reply(c, "resp_g")
    acts = c.send(E.SpeechStart())
    assert of_type(acts, A.OpenGate) == [A.OpenGate(pre_roll=True)]
    assert c.state is State.LISTENING and c.ctx.turn.trigger == "presence"

    quiet = Conversation(AssistantSettings(prewarm=False, listen_without_wake=False))
    quiet.send(E.PresenceChanged(True))
    assert not of_type(quiet.send(E.SpeechStart()), A.OpenGate), "listen_without_wake is off"

    muted = Conversation(PRESENCE)
    muted.send(E.MuteChanged(True), E.PresenceChanged(True))
    assert not of_type(muted.send(E.SpeechStart()), A.OpenGate, A.SpeakText), "muted: nothing heard, no greeting"


def test_nothing_is_sent_before_speech_when_someone_arrives():
    c = Conversation(AssistantSettings(prewarm=False, listen_without_wake=True, leave_s=20.0))
    acts = c.send(E.PresenceChanged(True))
    assert not of_type(acts, A.OpenGate, A.StartStreaming, A.OpenSession, A.SpeakText)


def test_say_with_server_turn_detection_and_over_the_follow_up_window():
    from edgevoice.assistant.settings import Endpointing

    server = AssistantSettings(prewarm=False, chimes=False, endpointing=Endpointing.SERVER)
    c = Conversation(server)
    c.send(E.Wake("okay_nabu"), E.SessionReady(), E.SpeechStart(), E.ServerSpeechStarted(), E.ServerSpeechStopped())
    c.send(chunk(), E.PlaybackStarted())
    finish_reply(c)
    assert c.state is State.FOLLOW_UP
    acts = c.send(E.Announce(NOTICE))
    assert of_type(acts, A.SpeakText) == [A.SpeakText(NOTICE)] and c.state is State.THINKING
    assert not c.gate_open, "the follow-up window closes: nothing of the room is streamed under an announcement"
    c.send(chunk("resp_a"), E.PlaybackStarted())
    finish_reply(c, "resp_a")
    assert c.state is State.IDLE and c.ctx.playing is Playing.NOTHING
