"""VoiceLiveSession against the local Voice Live emulator: the URL and session built from a real
config, a full spoken turn with real espeak-ng speech, and the emulator's faults (rejections,
a hung upgrade, drops, broken events, expiry) arriving as the right errors and callbacks."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from emulator_helpers import KEY, make_emulator, silence, speech_pcm  # noqa: F401 - make_emulator is a fixture

from edgevoice.config.load import parse_config
from edgevoice.config.voicelive import VoiceLiveConfig
from edgevoice.voicelive.emulator import Emulator, FaultPlan
from edgevoice.voicelive.protocol import server_events as ev
from edgevoice.voicelive.protocol.session_config import realtime_url, session_payload
from edgevoice.voicelive.errors import AuthRejected, ConnectTimeout, ServiceError, Throttled
from edgevoice.voicelive.session import VoiceLiveSession
from session_helpers import Collector


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=KEY) as emulator:
        yield emulator


def config_for(emu: Emulator, turn_detection: str = "none") -> VoiceLiveConfig:
    text = f"""
[voicelive]
endpoint = "{emu.url}"
[voicelive.turn_detection]
type = "{turn_detection}"
[voicelive.transcription]
model = "azure-speech"
"""
    return parse_config(text, "<test>").voicelive


def make(emu: Emulator, collector: Collector, key: str = KEY, **kwargs) -> VoiceLiveSession:
    cfg = config_for(emu)
    return VoiceLiveSession(realtime_url(cfg), {"api-key": key}, session_payload(cfg),
                            on_event=collector.on_event, on_close=collector.on_close, **kwargs)


def speak(session: VoiceLiveSession, text: str) -> None:
    pcm = speech_pcm(text) + silence(300)
    for start in range(0, len(pcm), 640):  # 20 ms chunks, as the microphone delivers them
        session.append_audio(pcm[start : start + 640])


def test_a_full_spoken_turn(emu: Emulator, caplog) -> None:
    for client_side in ("edgevoice", "websocket"):  # the emulator's own server logs are not ours
        caplog.set_level(logging.DEBUG, logger=client_side)
    collector = Collector()
    session = make(emu, collector)
    session.connect()
    try:
        speak(session, "what time is it")
        session.commit()
        session.create_response()
        assert collector.wait_for(lambda: collector.of_type(ev.ResponseDone))
    finally:
        session.close()
    done = collector.of_type(ev.ResponseDone)[0]
    assert done.status == "completed" and done.usage is not None and done.usage.output_audio_tokens > 0
    audio = b"".join(d.pcm for d in collector.of_type(ev.AudioDelta))
    assert len(audio) > 16000  # more than half a second of 16 kHz reply speech
    assert collector.of_type(ev.TranscriptDone)[0].transcript
    assert collector.of_type(ev.InputTranscriptionCompleted)
    assert session.stats.errors == 0 and session.stats.unknown == 0  # every emulator event is typed
    assert emu.session().events("input_audio_buffer.commit")
    assert KEY not in caplog.text


def test_pre_generated_reply_is_spoken(emu: Emulator) -> None:
    collector = Collector()
    with make(emu, collector) as session:
        session.connect()
        session.create_response(pre_generated_text="The kiosk is offline for a moment.")
        assert collector.wait_for(lambda: collector.of_type(ev.ResponseDone))
    assert collector.of_type(ev.TranscriptDone)[0].transcript == "The kiosk is offline for a moment."
    assert collector.of_type(ev.AudioDelta)


def test_barge_in_cancel_and_truncate(make_emulator) -> None:
    emu = make_emulator(pacing="realtime")
    collector = Collector()
    with make(emu, collector) as session:
        session.connect()
        session.create_response(pre_generated_text="This is a long answer that the person will interrupt halfway.")
        assert collector.wait_for(lambda: len(collector.of_type(ev.AudioDelta)) >= 2)
        item_id = collector.of_type(ev.AudioDelta)[0].item_id
        session.cancel_response()
        session.truncate(item_id, 150)
        assert collector.wait_for(lambda: collector.of_type(ev.ResponseDone) and collector.of_type(ev.ItemTruncated))
    assert collector.of_type(ev.ResponseDone)[0].status == "cancelled"
    assert collector.of_type(ev.ItemTruncated)[0].audio_end_ms == 150


def test_wrong_key_is_rejected(emu: Emulator) -> None:
    with pytest.raises(AuthRejected) as info:
        make(emu, Collector(), key="wrong-key").connect()
    assert info.value.status == 401


@pytest.mark.parametrize(("status", "error"), [(403, AuthRejected), (429, Throttled), (503, ServiceError)])
def test_rejections(emu: Emulator, status, error) -> None:
    emu.set_faults(FaultPlan(reject_status=status, retry_after_s=4))
    with pytest.raises(error) as info:
        make(emu, Collector()).connect()
    if status != 403:
        assert info.value.retry_after == 4.0


def test_hung_upgrade_hits_the_deadline(emu: Emulator) -> None:
    emu.set_faults(FaultPlan(hang_on_connect=True))
    with pytest.raises(ConnectTimeout):
        make(emu, Collector(), connect_timeout=0.4).connect()


def test_drop_during_the_reply(emu: Emulator) -> None:
    emu.set_faults(FaultPlan(drop_after_audio_deltas=2))
    collector = Collector()
    session = make(emu, collector)
    session.connect()
    session.create_response(pre_generated_text="Hello there, this reply gets cut off.")
    assert collector.wait_for(lambda: collector.closes)
    assert collector.closes[0][0] == 1006 and session.closed
    assert len(collector.of_type(ev.AudioDelta)) == 2


def test_broken_and_unknown_events_are_survived(emu: Emulator) -> None:
    emu.set_faults(FaultPlan(malformed_json_after_audio_deltas=1, unknown_event_after_audio_deltas=2))
    collector = Collector()
    with make(emu, collector) as session:
        session.connect()
        session.create_response(pre_generated_text="Still here.")
        assert collector.wait_for(lambda: collector.of_type(ev.ResponseDone))
        assert session.stats.errors == 1 and session.stats.unknown == 1 and session.is_open


def test_expiry_is_tracked_and_the_end_reported(emu: Emulator) -> None:
    emu.set_faults(FaultPlan(expire_after_s=1.0))
    collector = Collector()
    session = make(emu, collector)
    session.connect()
    assert session.expires_soon(5) and not session.expires_soon(0)
    assert collector.wait_for(lambda: collector.closes)
    assert session.closed
