"""What the session link tells the captions and the metrics (issue 17): each connect's outcome, and
the streamed text with where a reply's words fall in its audio. The session is a stand-in (no
network; labelled) fed with real parsed server events."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from edgevoice.daemon.link import SessionLink, TextDelta
from edgevoice.voicelive.protocol.parser import ServerEventParser
from edgevoice.voicelive.errors import AuthRejected, SessionError, Throttled


class StandInSession:
    """Stands where a VoiceLiveSession stands: ``connect()`` succeeds or raises ``fail`` (no network)."""

    expires_at = None

    def __init__(self, *, on_event, on_close, fail: Exception | None = None) -> None:
        self.on_event = on_event
        self.fail = fail
        self.parser = ServerEventParser()

    def connect(self) -> None:
        if self.fail is not None:
            raise self.fail

    def expires_soon(self, _margin: float) -> bool:
        return False

    def send(self, _event) -> None:
        pass

    def close(self) -> None:
        pass

    def receive(self, **event) -> None:
        self.on_event(self.parser.parse(json.dumps(event)))


def _link(fail: Exception | None = None):
    outcomes: list[str] = []
    deltas: list[TextDelta] = []
    done = threading.Event()
    sessions: list[StandInSession] = []

    def factory(**callbacks):
        sessions.append(StandInSession(fail=fail, **callbacks))
        return sessions[-1]

    def connected(outcome: str) -> None:
        outcomes.append(outcome)
        done.set()

    link = SessionLink(factory, lambda item: None, output_rate=16000, on_connect=connected, on_text_delta=deltas.append)
    link.open()
    assert done.wait(10), "the connect never finished"
    return link, sessions[0], outcomes, deltas


@pytest.mark.parametrize(("fail", "outcome"), [(None, "ok"), (AuthRejected(401, "h"), "auth"),
                                               (Throttled(5.0, "h"), "throttled"), (SessionError("network down"), "offline")])
def test_each_connect_reports_its_outcome(fail, outcome):
    link, _, outcomes, _ = _link(fail)
    assert outcomes == [outcome]
    link.close()


def test_streamed_text_carries_where_the_reply_words_are_in_its_audio():
    link, session, _, deltas = _link()
    where = {"response_id": "resp_1", "item_id": "item_2", "output_index": 0, "content_index": 0}
    session.receive(type="conversation.item.input_audio_transcription.delta", event_id="e1", item_id="item_1",
                    content_index=0, delta="where")
    session.receive(type="response.created", event_id="e2", response={"id": "resp_1", "status": "in_progress"})
    session.receive(type="response.audio_transcript.delta", event_id="e3", delta="Down", **where)
    session.receive(type="response.audio.delta", event_id="e4", delta=base64.b64encode(bytes(6400)).decode(), **where)
    session.receive(type="response.audio_transcript.delta", event_id="e5", delta=" the stairs.", **where)
    session.receive(type="response.audio_transcript.delta", event_id="e6", delta="", **where)  # nothing to show
    assert deltas == [TextDelta("user", "where", "item_1"), TextDelta("assistant", "Down", "item_2", "resp_1", 0.0),
                      TextDelta("assistant", " the stairs.", "item_2", "resp_1", 200.0)]
    session.receive(type="response.created", event_id="e7", response={"id": "resp_2", "status": "in_progress"})
    session.receive(type="response.audio_transcript.delta", event_id="e8", delta="Next", **{**where, "response_id": "resp_2"})
    assert deltas[-1].audio_ms == 0.0  # counted afresh for each response
    link.close()
