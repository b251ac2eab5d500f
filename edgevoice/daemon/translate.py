"""Turn what the front-end and the session report into the assistant machine's own events (pure)."""

from __future__ import annotations

from edgevoice.assistant import events as E
from edgevoice.audio.frames import SAMPLE_WIDTH
from edgevoice.cost.usage import Tokens
from edgevoice.listening import frontend_events as L
from edgevoice.playback.convert import whole_samples
from edgevoice.voicelive.protocol import server_events as V


def from_listening(event: L.ListeningEvent) -> E.Event | None:
    """The machine event for a front-end event; None for audio (the shell streams it itself)."""
    if isinstance(event, L.WakeWordDetected):
        return E.Wake(event.name)
    if isinstance(event, L.LocalSpeechStarted):
        return E.SpeechStart(vad_only=True)  # not judged against the device's own echo (EchoGuard does that)
    if isinstance(event, L.SpeechEnded):
        return E.SpeechEnd()
    if isinstance(event, L.UtteranceEnded):
        return E.UtteranceEnd(E.NO_SPEECH if event.reason == "no_speech" else event.reason)
    if isinstance(event, L.ButtonPressed):
        return E.PushToTalk(True)
    if isinstance(event, L.ButtonReleased):
        return E.PushToTalk(False)
    if isinstance(event, L.Muted):
        return E.MuteChanged(True)
    if isinstance(event, L.Unmuted):
        return E.MuteChanged(False)
    return None


def from_server(event: V.ServerEvent, output_rate: int) -> E.Event | None:
    """The machine event for a server event the machine cares about; None for the rest.

    ``error`` events are not mapped here: whether one fails the turn depends on which client
    event caused it, which only the session link knows.
    """
    if isinstance(event, V.AudioDelta):
        pcm = whole_samples(event.pcm)
        ms = len(pcm) / SAMPLE_WIDTH / output_rate * 1000
        return E.ReplyAudio(event.response_id, event.item_id, ms, pcm)
    if isinstance(event, V.ResponseDone):
        usage = None if event.usage is None else Tokens.from_usage(event.usage)
        return E.ReplyDone(event.response_id, event.status, event.reason or "",
                           context_tokens=0 if usage is None else usage.context, usage=usage,
                           usage_problem=event.usage_problem or "")
    if isinstance(event, V.FunctionCallArgumentsDone):
        return E.ToolCallRequested(event.response_id, event.call_id, event.name or "", event.arguments)
    if isinstance(event, V.SpeechStarted):
        return E.ServerSpeechStarted()
    if isinstance(event, V.SpeechStopped):
        return E.ServerSpeechStopped()
    return None
