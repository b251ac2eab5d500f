"""End-to-end in both service dialects: `edgevoice run --input-wav` holds a full turn with barge-in
against the emulator speaking Voice Live (``/voice-live/realtime``) and Azure OpenAI's GA realtime
API (``/openai/v1/realtime``), with edgevoice's own turn taking and with the service's VAD.

Each run is a real-time subprocess with its own emulator; the module starts them all together and
every test waits for its own (see tests/daemon_helpers.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from daemon_helpers import (
    BackgroundRun,
    Recordings,
    Say,
    Scenario,
    client_types,
    in_order,
    recordings,  # noqa: F401 - fixture
    reply_seconds,
)

WAKE = "okay nabu"
WEATHER = "what is the weather"
STOP = "stop, tell me a joke"
NO = "No."
LONG = ("Here is the whole forecast for the week: tomorrow will be sunny in the morning and cloudy in "
        "the afternoon, with a little rain in the evening.")

DIALECTS = {
    "voice-live": {},
    "azure-openai": {"voicelive": {"service": "azure-openai", "output_audio_format": "pcm16"},
                     "voicelive.transcription": {"model": "whisper-1"}},
}
GA_ONLY = {"response.output_audio.delta", "response.output_audio_transcript.done", "conversation.item.added"}
VOICE_LIVE_ONLY = {"response.audio.delta", "response.audio_transcript.done", "conversation.item.created"}
CASES = [(d, m) for d in DIALECTS for m in ("device", "server")]


@pytest.fixture(scope="module")
def runs(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], BackgroundRun]]:  # noqa: F811
    barge = recordings.make("barge-in", 9.5, Say(0.5, WAKE), Say(1.6, WEATHER), Say(4.7, STOP))
    base = tmp_path_factory.mktemp("dialect-runs")
    started: dict[tuple[str, str], BackgroundRun] = {}
    try:
        for dialect, mode in CASES:
            tables = {"assistant": {"follow_up_s": 1.0}}
            for table, keys in DIALECTS[dialect].items():
                tables.setdefault(table, {}).update(keys)
            scenario = Scenario(barge, replies=(LONG, NO), pacing="realtime",
                                turn_detection="none" if mode == "device" else "server_vad", tables=tables)
            started[(dialect, mode)] = BackgroundRun(f"{dialect}-{mode}", scenario, base / f"{dialect}-{mode}")
        yield started
    finally:
        for run in started.values():
            run.close()


@pytest.mark.parametrize(("dialect", "mode"), CASES)
def test_a_full_turn_with_barge_in(runs, dialect: str, mode: str) -> None:
    run = runs[(dialect, mode)].result()
    assert run.code == 0, run.explain()
    events, scene = run.events, run.scene
    (session,) = run.sessions
    # the emulator spoke the dialect the config chose (it picks it from the URL path)
    assert session.api_version == ("v1" if dialect == "azure-openai" else "2026-07-15")
    spoken = set(session.server_events)
    assert (GA_ONLY <= spoken and not VOICE_LIVE_ONLY & spoken) if dialect == "azure-openai" else (VOICE_LIVE_ONLY <= spoken and not GA_ONLY & spoken)

    # turn 1 was answered, then cut off by the person speaking over it
    in_order(events, 1, ("wake", "commit", "reply_audio_first", "playback_start"))
    (barge,) = events.named("barge_in")
    assert barge["turn"] == 2 and barge["trigger"] == ("vad" if mode == "device" else "server")
    assert not events.named("playback_end", 1)
    heard_ms = (barge["t"] - events.first("playback_start", 1)["t"]) * 1000
    (truncate,) = session.truncates
    assert truncate["audio_end_ms"] == pytest.approx(heard_ms, abs=250)
    assert truncate["audio_end_ms"] < reply_seconds(LONG) * 1000 - 1000
    assert session.responses[0]["status"] == "cancelled"
    assert session.responses[0]["reason"] == ("client_cancelled" if mode == "device" else "turn_detected")
    assert ("response.cancel" in client_types(session)) == (mode == "device")

    # the interruption is turn 2, answered in full
    in_order(events, 2, ("barge_in", "commit", "reply_audio_first", "playback_start", "playback_end"))
    assert session.responses[1]["status"] == "completed"

    # the speaker went quiet soon after the person started to speak over the reply
    stop = scene.utterance(STOP)
    spans = run.output.spans()
    reply_end = max(end for start, end in spans if start < stop.start)
    assert reply_end <= stop.start + (0.3 if mode == "device" else 0.6), spans
    assert run.output.rate == (24000 if dialect == "azure-openai" else 16000)
