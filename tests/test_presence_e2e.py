"""Presence and the mute switch, end to end: the real Daemon (in-process, a recording at real-time pace,
the real emulator) with gpiozero's MockFactory standing in for the sensor and the switch.

A visitor arrives (a PIR motion sensor's pin goes high) and is greeted through the session, asks a
question without the wake word, steps away and comes back (no second greeting), leaves for good (the
conversation is reset); a second visitor is greeted again and talks to a fresh session. The mute switch
wins over `edgevoice unmute` from the control socket.
"""

from __future__ import annotations

import time
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from control_helpers import cli, status, wait_for_state
from daemon_helpers import (
    KEY,
    SPEECH,
    AudioCues,
    InProcessDaemon,
    Say,
    client_types,
    ready_replies,
    recordings,  # noqa: F401 - fixture
    write_config,
)
from edgevoice.config.load import load_config
from edgevoice.daemon.control import DaemonControl
from emulator_helpers import make_emulator  # noqa: F401 - fixture

MOTION_PIN, MUTE_PIN = 4, 27
GREETING = "Hello there!"
QUESTION = "what time is it"
NOON = "It is noon."
RAIN = "Rain, all day."


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def pre_generated(session) -> list[str]:
    return [e["response"]["pre_generated_assistant_message"]["content"][0]["text"]
            for e in session.client_events
            if e.get("type") == "response.create" and "pre_generated_assistant_message" in e.get("response", {})]


def test_visitors_are_greeted_once_heard_without_the_wake_word_and_reset_when_they_leave(
        recordings, make_emulator, tmp_path):  # noqa: F811
    arrive, step_away, step_back, leave, second = 1.0, 9.0, 9.8, 10.6, 16.0
    scene = recordings.make("presence", 24.0, Say(4.0, QUESTION), Say(19.5, QUESTION))
    ready_replies([GREETING, NOON, RAIN])
    emu = make_emulator(api_key=KEY, replies=[NOON, RAIN], speech=SPEECH)
    config = load_config(write_config(tmp_path / "edgevoice.toml", emu.url, tables={
        "assistant": {"follow_up_s": 1.0},
        "presence": {"sensor": "motion", "pin": MOTION_PIN, "greeting": GREETING, "listen_without_wake": True,
                     "leave_s": 3.0},
        "control": {"enabled": False},
    }))
    factory = MockFactory()
    run = InProcessDaemon(config, scene.path, tmp_path, factory, finish_s=90)
    pin = factory.pin(MOTION_PIN)
    cues = AudioCues(run.daemon)
    cues.at(arrive, pin.drive_high).at(step_away, pin.drive_low).at(step_back, pin.drive_high)
    cues.at(leave, pin.drive_low).at(second, pin.drive_high)
    with run:
        assert cues.done.wait(timeout=120), "the daemon never reached the end of the visitors' script"
    assert run.codes == [0]
    events = run.events()

    presence = [r["visitor"] for r in events.named("presence")]
    assert presence == ["arrived", "left", "arrived"], events.summary()
    greetings = [(r["via"], r["text"]) for r in events.named("announce")]
    assert greetings == [("session", GREETING), ("session", GREETING)], "greeted once per visitor"
    assert not events.named("wake"), "nobody said the wake word"
    questions = [r for r in events.named("commit")]
    assert len(questions) == 2 and len(events.named("playback_end")) == 2  # the answers (greetings are no turn)

    # Visitor 1 talked to one session, which was closed when they left; visitor 2 to a fresh one.
    talked = [s for s in emu.sessions if s.events("input_audio_buffer.commit")]
    assert len(talked) == 2 and talked[0] is not talked[1]
    assert talked[0].closed
    for session in talked:
        assert pre_generated(session) == [GREETING]
        types = client_types(session)
        # Nothing was sent before speech: the greeting is asked for before the first audio leaves, and
        # only the question (not the seconds the visitor stood there) was streamed.
        assert types.index("response.create") < types.index("input_audio_buffer.append")
        assert session.audio_bytes / 32000 < 3.0


def test_the_mute_switch_wins_over_the_control_socket(recordings, make_emulator, tmp_path):  # noqa: F811
    scene = recordings.make("mute-switch", 40.0)
    emu = make_emulator(api_key=KEY, speech=SPEECH)
    sock = tmp_path / "ctl.sock"
    config = load_config(write_config(tmp_path / "edgevoice.toml", emu.url, tables={
        "buttons": {"mute_pin": MUTE_PIN},
        "control": {"socket": str(sock), "group": ""},
    }))
    factory = MockFactory()
    switch = factory.pin(MUTE_PIN)
    switch.drive_high()  # pull-up: high is off
    run = InProcessDaemon(config, scene.path, tmp_path, factory, finish_s=5)
    control = DaemonControl(run.daemon, request_reload=lambda: None)
    try:
        with run:
            wait_for_state(sock, "idle")
            switch.drive_low()  # the switch goes on
            wait_for_state(sock, "muted")
            code, reply = cli(sock, "unmute")
            assert code == 1 and reply["error"]["code"] == "switch_on"
            assert status(sock)["assistant"] == {**status(sock)["assistant"], "muted": True, "mute_switch": True}
            switch.drive_high()  # off again: unmuted, whoever muted
            wait_for_state(sock, "idle")
            code, reply = cli(sock, "mute")
            assert code == 0 and reply["muted"] is True and reply["switch"] is False
            frontend = run.daemon.frontend
            frames = frontend.frames
            wait_for(lambda: frontend.frames > frames + 5)
            assert not frontend.listening, "muted from the socket: the front-end drops the microphone's frames"
            code, reply = cli(sock, "unmute")
            assert code == 0 and reply == {**reply, "muted": False, "state": "idle"}
            run.daemon.stop()
    finally:
        control.close()
    assert not Path(sock).exists()
    states = [r["state"] for r in run.events().named("state")]
    assert states[:4] == ["muted", "idle", "muted", "idle"], states
