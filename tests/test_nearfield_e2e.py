"""End-to-end: a visitor asks a question while other people talk across the hall (issue 13).

Real ``edgevoice run --input-wav`` processes against the emulator, on recordings where several
espeak-ng voices talk at once 10 or 20 dB below the visitor from the first second to the last
(before the wake word, under the question, through the follow-up window). The runs take real
time, so the module starts them all at once and every test waits for its own.

Device endpointing: the reply must start within 1.3 s of the visitor's last word (the 600 ms of
silence the endpointer waits for, plus at most 300 ms of background under the end of the last
word, plus the reply), and the chatter alone must not start a follow-up turn. Service-side
turn detection (the emulator's server VAD, webrtcvad as the stand-in for the service's own) is
measured with and without ``attenuate_background_db``; the figures are printed (``pytest -s``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from daemon_helpers import (
    BackgroundRun,
    Recordings,
    Run,
    Say,
    Scenario,
    Scene,
    recordings,  # noqa: F401 - fixture
)

WAKE = "okay nabu"
QUESTION = "what is the weather like tomorrow"
NOON = "It is noon."
RAIN = "Rain, all day."
REPLY_WITHIN_S = 1.3  # the bound: last word to the reply's first sound
FOLLOW_UP_S = 3.0
MAX_UTTERANCE_S = 8.0  # the run without near-field listening ends its turn only here
ATTENUATION_DB = 40.0  # [listening.vad] attenuate_background_db default, chosen from this measurement


def scene(rec: Recordings, babble_db: float, question_at: float = 2.0) -> Scene:
    """The wake word, a pause, the question; the reply ("It is noon.", 0.8 s) ends about 5.5 s in, the
    follow-up window about 8.5 s in, and the chatter goes on to the end of the recording. The wake
    word itself is heard in this babble (seed 3: okay_nabu scores 0.97 at 10 dB; the wake word in
    babble is the presets' business)."""
    return rec.make(f"babble{babble_db:g}", 11.0, Say(0.5, WAKE), Say(question_at, QUESTION), babble_db=babble_db,
                    seed=3)


def scenarios(rec: Recordings) -> dict[str, Scenario]:
    tables = {"assistant": {"follow_up_s": FOLLOW_UP_S}}
    out = {}
    for db in (10, 20):
        out[f"device{db}"] = Scenario(scene(rec, db), replies=(NOON, RAIN), tables=tables)
        for attenuation in (0.0, ATTENUATION_DB):
            # The question follows the wake word closely: after a pause longer than the service's
            # silence_duration_ms, the service answers the wake word's tail in the pre-roll (a known
            # problem of its own, see test_daemon_e2e), which is not what is measured here.
            out[f"server{db}_att{attenuation:g}"] = Scenario(
                scene(rec, db, question_at=1.6), replies=(NOON, RAIN), turn_detection="server_vad",
                tables={**tables, "listening.vad": {"attenuate_background_db": attenuation,
                                                    "max_utterance_s": MAX_UTTERANCE_S},
                        # the attenuation is not used with the client echo reference (see ListeningFrontend)
                        "voicelive": {"echo_cancellation": "server"}})
    out["device10_off"] = Scenario(
        scene(rec, 10), replies=(NOON, RAIN),
        tables={**tables, "listening.vad": {"near_field_margin_db": 0.0, "max_utterance_s": MAX_UTTERANCE_S}})
    return out


@pytest.fixture(scope="module")
def runs(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
         ) -> Iterator[dict[str, BackgroundRun]]:
    base = tmp_path_factory.mktemp("nearfield-runs")
    started = {name: BackgroundRun(name, spec, base / name) for name, spec in scenarios(recordings).items()}
    try:
        yield started
    finally:
        for background in started.values():
            background.close()


def reply_delay(run: Run) -> float:
    """The visitor's last word (in the input) to the first sound of the reply (in the output, on the same clock)."""
    assert run.scene is not None and run.output is not None, run.explain()
    last_word = run.scene.utterance(QUESTION).end
    starts = [start for start, _ in run.output.spans() if start > last_word]
    assert starts, f"no reply after the question\n{run.explain()}"
    return starts[0] - last_word


@pytest.mark.parametrize("db", [10, 20])
def test_device_endpointing_ends_the_turn_under_background_talkers(runs, db):
    run = runs[f"device{db}"].result()
    assert run.code == 0, run.explain()
    delay = reply_delay(run)
    print(f"\nbackground talkers {db} dB below, device endpointing: reply {delay * 1000:.0f} ms after the last word")
    assert delay <= REPLY_WITHIN_S, run.explain()
    assert run.events.first("commit", 1)["by"] == "device"
    # The chatter alone opened no follow-up turn: one question, one answer, one commit.
    assert not run.events.named("wake", 2) and not run.events.named("speech_start", 2), run.events.summary()
    assert len(run.client_events("input_audio_buffer.commit")) == 1, run.explain()
    assert len(run.client_events("response.create")) == 1, run.explain()


def test_without_near_field_listening_the_talkers_hold_the_turn_open(runs):
    # The complaint, kept as a control: webrtcvad alone hears the room as the visitor.
    run = runs["device10_off"].result()
    assert run.code == 0, run.explain()
    delay = reply_delay(run)
    print(f"\nnear-field listening off, talkers 10 dB below: reply {delay * 1000:.0f} ms after the last word")
    assert delay > MAX_UTTERANCE_S - 2.0 - 1.0


@pytest.mark.parametrize("db", [10, 20])
def test_service_side_turn_detection_with_background_attenuated(runs, db):
    plain, attenuated = runs[f"server{db}_att0"].result(), runs[f"server{db}_att{ATTENUATION_DB:g}"].result()
    assert plain.code == 0 and attenuated.code == 0, plain.explain() + attenuated.explain()
    delays = {name: reply_delay(run) for name, run in (("as heard", plain), ("attenuated", attenuated))}
    follow = {name: len({r["turn"] for r in run.events.named("reply_audio_first")}) - 1 for name, run in
              (("as heard", plain), ("attenuated", attenuated))}
    print(f"\nbackground talkers {db} dB below, the emulator's server VAD: "
          + ", ".join(f"{name}: reply {delays[name] * 1000:.0f} ms after the last word, {follow[name]} "
                      "more turns taken from the chatter" for name in delays))
    assert delays["attenuated"] <= REPLY_WITHIN_S + 0.5, attenuated.explain()
    assert follow["attenuated"] == 0, attenuated.explain()
