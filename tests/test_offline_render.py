"""Rendering phrases in the assistant's voice through a real Voice Live session, and warming the cache.

Against the emulator (pre_generated_assistant_message) and a tiny purpose-built server on loopback
that refuses pre-generated messages and answers instructions (strictly, or with a chatty model).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from websockets.sync.server import ServerConnection, serve

from edgevoice.audio.speech import Speech
from edgevoice.config.load import parse_config
from edgevoice.config.secrets import ApiKey
from edgevoice.daemon.sessions import session_factory
from edgevoice.offline.cache import PhraseCache, Status, VoiceKey
from edgevoice.offline.render import PhraseRenderer, RenderError, warm
from edgevoice.voicelive.emulator import Emulator, FaultPlan

KEY = "render-test-key"
PHRASES = {"offline": "Sorry, I am offline.", "busy": "Sorry, I am busy.", "opening_hours": "We open at nine."}


def voicelive(endpoint: str, voice: str = "alloy", fmt: str = "pcm16_16000hz"):
    text = f"""
[voicelive]
endpoint = "{endpoint}"
voice = "{voice}"
output_audio_format = "{fmt}"
[voicelive.turn_detection]
type = "none"
"""
    return parse_config(text, "<render>").voicelive


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=KEY) as emulator:
        yield emulator


def factory_for(cfg, key: str = KEY):
    return session_factory(cfg, ApiKey(key))


def test_warm_renders_every_phrase_as_a_pre_generated_message_and_caches_it(emu, tmp_path):
    cfg = voicelive(emu.url)
    cache, voice = PhraseCache(tmp_path), VoiceKey.from_config(cfg)
    heard: list[str] = []
    report = warm(cache, PHRASES, voice, factory_for(cfg), rate=16000, on_rendered=lambda name, _: heard.append(name))
    assert report.complete and report.rendered == list(PHRASES) == heard, str(report)
    session = emu.session()
    asked = [e["response"] for e in session.events("response.create")]
    assert [r["pre_generated_assistant_message"]["content"][0]["text"] for r in asked] == list(PHRASES.values())
    assert all(r["pre_generated_assistant_message"]["role"] == "assistant" for r in asked)
    assert [r["status"] for r in session.responses] == ["completed"] * 3
    emu.wait_until(lambda e: e.session().closed)  # the renderer closes its session when done
    # The audio is what the service spoke: the emulator's voice for "alloy", sample for sample.
    for name, text in PHRASES.items():
        sound = cache.load(name, text, voice)
        assert sound.rate == 16000
        assert sound.pcm == Speech().render(text, 16000, "alloy")
    # Everything cached: a second warm-up opens no session at all.
    again = warm(cache, PHRASES, voice, factory_for(cfg), rate=16000)
    assert again.complete and again.rendered == [] and again.cached == list(PHRASES) and emu.accepted == 1


def test_a_config_change_renders_again_and_forgets_the_old_voice(emu, tmp_path):
    cache = PhraseCache(tmp_path)
    alloy = voicelive(emu.url)
    warm(cache, PHRASES, VoiceKey.from_config(alloy), factory_for(alloy), rate=16000)
    echo = voicelive(emu.url, voice="echo", fmt="pcm16")
    voice = VoiceKey.from_config(echo)
    assert {s.status for s in cache.states(PHRASES, voice)} == {Status.STALE}
    report = warm(cache, PHRASES, voice, factory_for(echo), rate=24000)
    assert report.complete and report.rendered == list(PHRASES)
    assert cache.load("offline", PHRASES["offline"], voice).rate == 24000
    assert {e.voice for e in cache.entries().values()} == {"echo"}, "the alloy entries were pruned"
    # --force renders everything again even when it is all cached.
    forced = warm(cache, PHRASES, voice, factory_for(echo), rate=24000, force=True)
    assert forced.rendered == list(PHRASES) and emu.accepted == 3


def test_warm_stops_when_asked_and_reports_what_is_left(emu, tmp_path):
    cfg = voicelive(emu.url)
    cache, voice = PhraseCache(tmp_path), VoiceKey.from_config(cfg)
    budget = iter([True, False])
    report = warm(cache, PHRASES, voice, factory_for(cfg), rate=16000, should_continue=lambda: next(budget))
    assert report.stopped and report.rendered == ["offline"] and not report.complete
    assert [s.status for s in cache.states(PHRASES, voice)] == [Status.CACHED, Status.MISSING, Status.MISSING]


def test_warm_without_a_service_says_why_and_changes_nothing(emu, tmp_path):
    cfg = voicelive(emu.url)
    cache, voice = PhraseCache(tmp_path), VoiceKey.from_config(cfg)
    emu.set_faults(FaultPlan(reject_status=503))
    report = warm(cache, PHRASES, voice, factory_for(cfg), rate=16000)
    assert not report.complete and "HTTP 503" in report.error and report.rendered == []
    report = warm(cache, PHRASES, voice, factory_for(cfg, key="wrong"), rate=16000)
    assert "rejected the credentials" in report.error and "wrong" not in report.error


def test_a_reply_that_breaks_off_is_not_cached(emu, tmp_path):
    cfg = voicelive(emu.url)
    cache, voice = PhraseCache(tmp_path), VoiceKey.from_config(cfg)
    emu.set_faults(FaultPlan(error_after_audio_deltas=1))
    report = warm(cache, PHRASES, voice, factory_for(cfg), rate=16000)
    assert set(report.failed) == set(PHRASES) and all("failed" in why for why in report.failed.values())
    assert cache.entries() == {}


# --- a service that does not take pre-generated messages -------------------------------------------


class StrictServer:
    """Speaks just enough Voice Live: refuses pre_generated_assistant_message, answers instructions
    by saying the text after the blank line (``chatty``: with a greeting in front)."""

    def __init__(self, chatty: bool = False) -> None:
        self.chatty = chatty
        self.requests: list[dict] = []
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handle(self, ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "session.created", "event_id": "e0", "session": {"id": "sess_1"}}))
        for n, message in enumerate(ws):
            event = json.loads(message)
            if event["type"] == "session.update":
                ws.send(json.dumps({"type": "session.updated", "event_id": f"u{n}", "session": {"id": "sess_1"}}))
            elif event["type"] == "response.create":
                self.requests.append(event["response"])
                if "pre_generated_assistant_message" in event["response"]:
                    ws.send(json.dumps({"type": "error", "event_id": f"x{n}", "error": {
                        "type": "invalid_request_error", "code": "unknown_parameter", "message": "Unknown parameter.",
                        "param": "response.pre_generated_assistant_message", "event_id": event["event_id"]}}))
                    continue
                text = event["response"]["instructions"].split("\n\n", 1)[1]
                said = f"Hello! {text}" if self.chatty else text
                rid = f"resp_{n}"
                pcm = Speech().render(said, 16000, "alloy")
                common = {"response_id": rid, "item_id": f"item_{n}", "output_index": 0, "content_index": 0}
                for event_out in (
                    {"type": "response.created", "response": {"id": rid, "status": "in_progress"}},
                    {"type": "response.audio.delta", **common, "delta": base64.b64encode(pcm).decode()},
                    {"type": "response.audio_transcript.done", **common, "transcript": said},
                    {"type": "response.done", "response": {"id": rid, "status": "completed"}},
                ):
                    ws.send(json.dumps({"event_id": f"o{n}", **event_out}))

    def close(self) -> None:
        self._server.shutdown()


def test_a_service_that_refuses_pre_generated_messages_gets_strict_instructions(tmp_path):
    server = StrictServer()
    try:
        cfg = voicelive(server.url)
        cache, voice = PhraseCache(tmp_path), VoiceKey.from_config(cfg)
        report = warm(cache, PHRASES, voice, factory_for(cfg), rate=16000)
        assert report.complete, str(report)
        first, *rest = server.requests
        assert "pre_generated_assistant_message" in first
        assert all("pre_generated_assistant_message" not in r and "word for word" in r["instructions"] for r in rest)
        assert len(rest) == len(PHRASES), "asked once with a pre-generated message, then only with instructions"
        sound = cache.load("busy", PHRASES["busy"], voice)
        assert np.array_equal(np.frombuffer(sound.pcm, "<i2"), np.frombuffer(Speech().render(PHRASES["busy"], 16000, "alloy"), "<i2"))
    finally:
        server.close()


def test_a_model_that_does_not_say_the_text_is_not_cached(tmp_path):
    server = StrictServer(chatty=True)
    try:
        cfg = voicelive(server.url)
        with PhraseRenderer(factory_for(cfg), rate=16000) as renderer:
            with pytest.raises(RenderError, match="instead of the text"):
                renderer.render("We open at nine.")
    finally:
        server.close()
