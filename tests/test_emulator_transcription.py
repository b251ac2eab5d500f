"""The emulator streams input transcription as the service does (issue 17 item 2): deltas, then
``.completed``, each shaped as the official SDK (azure-ai-voicelive) expects."""

from __future__ import annotations

import pytest
from emulator_helpers import Client, make_emulator, silence, speech_pcm  # noqa: F401
from test_emulator_sdk import check_event

from edgevoice.voicelive.emulator.transcription import not_recognised, transcript_deltas

DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe", "azure-speech", "whisper-1"])
def test_deltas_join_to_the_text(model):
    text = "where is  the cloakroom?"
    deltas = transcript_deltas(model, text)
    assert "".join(deltas) == text
    assert len(deltas) == (1 if model == "whisper-1" else 4)
    assert transcript_deltas(model, "") == []


def _turn(make_emulator, model: str | None, transcripts: list[str]) -> list[dict]:
    emu = make_emulator(transcripts=transcripts, replies=["Down the stairs."])
    with Client(emu) as client:
        client.configure(input_audio_sampling_rate=16000, turn_detection={"type": "server_vad", "silence_duration_ms": 300},
                         input_audio_transcription=None if model is None else {"model": model})
        client.append(silence(300) + speech_pcm("where is the cloakroom") + silence(600))
        client.until("response.done")
        if model is not None and COMPLETED not in [e["type"] for e in client.received]:
            client.until(COMPLETED)  # asynchronous to the response: it may come after it
        return list(client.received)


def test_scripted_transcript_streams_word_deltas_then_completes(make_emulator):
    events = _turn(make_emulator, "gpt-4o-transcribe", ["where is the cloakroom"])
    deltas = [e for e in events if e["type"] == DELTA]
    completed = [e for e in events if e["type"] == COMPLETED]
    assert [d["delta"] for d in deltas] == ["where", " is", " the", " cloakroom"]
    assert len(completed) == 1 and completed[0]["transcript"] == "where is the cloakroom"
    item_id = next(e["item"]["id"] for e in events if e["type"] == "conversation.item.created")
    assert {d["item_id"] for d in deltas} == {item_id} == {completed[0]["item_id"]}
    order = [e["type"] for e in events]
    assert order.index(DELTA) > order.index("input_audio_buffer.committed")
    assert max(i for i, t in enumerate(order) if t == DELTA) < order.index(COMPLETED)
    for event in deltas + completed:
        sdk = check_event(event)
        assert sdk.item_id == item_id and sdk.content_index == 0
    assert check_event(completed[0]).transcript == "where is the cloakroom"


def test_without_a_script_the_text_is_the_honest_marker(make_emulator):
    events = _turn(make_emulator, "whisper-1", [])
    deltas = [e for e in events if e["type"] == DELTA]
    completed = next(e for e in events if e["type"] == COMPLETED)
    assert len(deltas) == 1 and deltas[0]["delta"] == completed["transcript"]
    assert completed["transcript"].endswith("of speech, not recognised]")
    assert not_recognised(1500) == "[emulator: 1.5 s of speech, not recognised]"
    check_event(deltas[0])


def test_no_transcription_events_unless_configured(make_emulator):
    events = _turn(make_emulator, None, ["where is the cloakroom"])
    assert not [e for e in events if e["type"] in (DELTA, COMPLETED)]
