"""The real daemon (``edgevoice run``) under a real notify socket, the way systemd runs it.

Each test starts ``edgevoice run --config F --input-wav IN --output-wav OUT`` as a child process
with ``$NOTIFY_SOCKET`` (and ``$WATCHDOG_USEC``) pointing at a datagram socket the test reads,
against the Voice Live emulator on 127.0.0.1. The input is a composed recording of real espeak-ng
speech, or a FIFO the test writes a WAV stream into at real-time pace: a microphone the test can
talk into, or stall. The journal test runs a turn in-process with the journal handler's sender
captured.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from daemon_helpers import Say, compose, config_text, recordings  # noqa: F401
from emulator_helpers import make_emulator  # noqa: F401
from edgevoice.audio.frames import FRAME_BYTES
from edgevoice.audio.wav import WavSource, write_wav
from edgevoice.cost.usage import KINDS
from listening_helpers import pcm16
from service_helpers import (DaemonProcess, NotifyLog, WavStream, audible_seconds, daemon_environment, fields,
                             room_noise)

KEY = "service-daemon-test-key"
REPLY = "It is noon."
#: What ``systemctl status`` shows through a whole turn, in order.
TURN_STATUSES = ["listening for the wake word", "listening", "thinking", "speaking", "listening for a follow-up"]


def is_ready(message: str) -> bool:
    return fields(message).get("READY") == "1"


def has(key: str) -> Callable[[str], bool]:
    return lambda message: key in fields(message)


def status_is(text: str) -> Callable[[str], bool]:
    return lambda message: fields(message).get("STATUS") == text


@pytest.fixture
def notify(tmp_path: Path):
    log = NotifyLog(tmp_path / "notify.sock")
    yield log
    log.close()


@pytest.fixture
def daemons():
    """Start ``edgevoice run`` children; any still running at the end are killed."""
    started: list[DaemonProcess] = []

    def start(args: list[str], env: dict[str, str]) -> DaemonProcess:
        proc = DaemonProcess(args, env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        print(f"--- stderr of {' '.join(proc.argv[2:])}\n{proc.stderr}")  # shown when the test fails


def write_config(path: Path, endpoint: str, **tables: dict) -> Path:
    path.write_text(config_text(endpoint, tables=tables))
    return path


def voice_of(session) -> str | None:
    """The voice name the daemon asked an emulator session for (its last session.update)."""
    updates = session.events("session.update")
    if not updates:
        return None
    voice = updates[-1]["session"].get("voice")
    return voice.get("name") if isinstance(voice, dict) else voice


def turn_pcm(seconds: float = 3.6) -> bytes:
    """"okay nabu" ... "what time is it", with room noise around and a pause between them."""
    x, _ = compose(seconds, Say(0.3, "okay nabu"), Say(1.9, "what time is it"))
    return pcm16(x)


# --- READY, STATUS and WATCHDOG through a whole turn -----------------------------------------------


def test_ready_status_and_watchdog_through_a_turn(tmp_path, recordings, make_emulator, notify, daemons):
    scene = recordings.make("service-turn", 5.5, Say(0.3, "okay nabu"), Say(1.9, "what time is it"))
    emu = make_emulator(api_key=KEY, replies=[REPLY])
    cfg = write_config(tmp_path / "edgevoice.toml", emu.url)
    env = daemon_environment(notify.path, key=KEY, watchdog_usec=1_000_000)  # ping every 0.5 s
    proc = daemons(["--config", str(cfg), "--input-wav", str(scene.path), "--output-wav", str(tmp_path / "out.wav")], env)
    code = proc.wait(timeout=60)
    assert code == 0, proc.stderr

    messages = notify.texts()
    assert messages and is_ready(messages[0]), messages  # READY=1 comes first: no ping before it
    assert messages.count("READY=1") == 1
    # READY=1 follows the audio opening: the source reported itself open before the daemon said so.
    opened = proc.wait_for_log("audio input listening")
    assert opened < proc.wait_for_log("listening (wake words: okay_nabu)")

    assert notify.statuses() == TURN_STATUSES, notify.statuses()

    # WATCHDOG=1 every half WATCHDOG_USEC from READY=1 on, through the whole turn, never a gap
    # systemd would punish (the process may take a moment to exit after the last one).
    ready_at = notify.messages[0][0]
    last_state_at = max(t for t, m in notify.messages if "STATUS" in fields(m))
    pings = notify.times("WATCHDOG=1")
    assert pings and pings[-1] > last_state_at, (pings, last_state_at)
    gaps = [b - a for a, b in zip([ready_at, *pings], pings)]
    assert max(gaps) < 1.0, [round(g, 3) for g in gaps]  # WATCHDOG_USEC itself
    assert "not pinging systemd" not in proc.stderr

    # The turn was real: the emulator answered it and the reply went to the speaker.
    answered = [s for s in emu.sessions if s.events("response.create")]
    assert len(answered) == 1 and answered[0].events("input_audio_buffer.commit")
    played, length = audible_seconds(tmp_path / "out.wav")
    assert played > 0.5 and length > 5.0, (played, length)


# --- the watchdog when capture stalls ------------------------------------------------------------


def test_watchdog_stops_while_capture_stalls_and_resumes_after(tmp_path, make_emulator, notify, daemons):
    emu = make_emulator(api_key=KEY)
    cfg = write_config(tmp_path / "edgevoice.toml", emu.url)
    mic = WavStream(tmp_path / "mic.wav").start()
    env = daemon_environment(notify.path, key=KEY, watchdog_usec=500_000)  # ping every 0.25 s
    proc = daemons(["--config", str(cfg), "--input-wav", str(mic.path), "--output-wav", str(tmp_path / "out.wav")], env)
    try:
        ready = notify.wait_for(is_ready)
        first_ping = notify.wait_for(lambda m: m == "WATCHDOG=1", start=ready)
        assert first_ping > ready

        mic.stall()  # the capture thread now blocks in read(), as on a hung driver
        stalled = proc.wait_for_log("watchdog: not pinging systemd while checks fail")
        line = proc.lines[stalled]
        assert "capture: no sign of life for" in line and "state machine" not in line  # the loop still runs
        time.sleep(0.5)  # a ping sent just before the check failed may still be on its way to us
        mark = len(notify)
        time.sleep(1.25)  # five ping intervals
        assert proc.alive
        assert "WATCHDOG=1" not in notify.texts(mark), notify.texts(mark)

        mic.resume()  # frames flow again: so do the pings
        proc.wait_for_log("watchdog: all checks pass again", start=stalled)
        notify.wait_for(lambda m: m == "WATCHDOG=1", start=mark)

        mic.stall()  # and SIGTERM still stops it promptly while capture is stuck in a read
        proc.wait_for_log("not pinging systemd", start=stalled + 1)
        sent = proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.stderr
        assert proc.stopped_after(sent) < 2.0
        notify.wait_for(has("STOPPING"), timeout=1, start=mark)
    finally:
        mic.close()


# --- SIGHUP: reload a valid config, keep the old one when the new one is invalid ----------------------


def test_sighup_reloads_valid_config_and_keeps_old_on_invalid(tmp_path, make_emulator, notify, daemons):
    emu = make_emulator(api_key=KEY, replies=[REPLY])
    cfg = write_config(tmp_path / "edgevoice.toml", emu.url)
    mic = WavStream(tmp_path / "mic.wav").start()
    env = daemon_environment(notify.path, key=KEY, watchdog_usec=2_000_000)
    proc = daemons(["--config", str(cfg), "--input-wav", str(mic.path), "--output-wav", str(tmp_path / "out.wav")], env)

    def reload(**tables: dict) -> tuple[int, int]:
        """Rewrite the config, SIGHUP; the indexes of RELOADING=1 and of the READY=1 after it."""
        write_config(cfg, emu.url, **tables)
        mark = len(notify)
        proc.signal(signal.SIGHUP)
        reloading = notify.wait_for(has("RELOADING"), start=mark)
        assert int(fields(notify.texts()[reloading])["MONOTONIC_USEC"]) > 0
        return reloading, notify.wait_for(is_ready, start=reloading)

    try:
        notify.wait_for(status_is("listening for the wake word"))
        emu.wait_until(lambda e: any(s.events("session.update") for s in e.sessions), timeout=10)
        assert voice_of(emu.session(-1)) == "alloy"

        # A value out of range: the error names the key, the old config stays, STATUS says so.
        _, ready = reload(voicelive={"voice": "echo"}, assistant={"volume": 7.0})
        assert "assistant.volume" in fields(notify.texts()[ready])["STATUS"]
        rejected = proc.wait_for_log("reload: the new config is not valid, keeping the old one")
        assert "assistant.volume" in proc.lines[rejected], proc.lines[rejected]
        assert voice_of(emu.session(-1)) == "alloy" and len(emu.sessions) == 1

        # A valid change (another voice): applied between turns, the next session uses it, and
        # STATUS is the state again.
        _, ready = reload(voicelive={"voice": "echo"})
        proc.wait_for_log("configuration reloaded", start=rejected)
        notify.wait_for(status_is("listening for the wake word"), start=ready)
        emu.wait_until(lambda e: voice_of(e.session(-1)) == "echo", timeout=10)
        sessions = len(emu.sessions)

        # A config that loads but cannot be applied (a broken wake word model): kept out too,
        # and the daemon does not die of it (exit 78 would even stop systemd restarting it).
        broken = tmp_path / "broken_model.json"
        broken.write_text("this is not a model")
        reloading, _ = reload(voicelive={"voice": "shimmer"}, **{"listening.wake": {"model_files": [str(broken)]}})
        failed = proc.wait_for_log("keeping the old one", start=rejected + 1)
        assert "listening.wake" in proc.lines[failed], proc.lines[failed]
        notify.wait_for(lambda m: "listening.wake" in fields(m).get("STATUS", ""), start=reloading)
        assert proc.alive

        # Still answering, with the last good config (voice echo, the session opened for it).
        mark = len(notify)
        mic.say(turn_pcm())
        for text in TURN_STATUSES[1:4]:
            notify.wait_for(status_is(text), timeout=20, start=mark)
        answered = [s for s in emu.sessions if s.events("response.create")]
        assert len(answered) == 1 and voice_of(answered[0]) == "echo", (
            [(voice_of(s), [e["type"] for e in s.client_events if "append" not in e["type"]]) for s in emu.sessions],
            proc.stderr)
        assert emu.sessions.index(answered[0]) < sessions  # opened before the failed reload
        assert "shimmer" not in {voice_of(s) for s in emu.sessions}
        assert "Traceback" not in proc.stderr

        proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.stderr
    finally:
        mic.close()


# --- SIGTERM in the middle of a reply ------------------------------------------------------------------


LONG_REPLY = ("Here is a long answer, so that the speaker is still busy when the service manager "
              "asks the assistant to stop, which it must do within two seconds.")


def test_sigterm_mid_reply_exits_0_within_2_s(tmp_path, recordings, make_emulator, notify, daemons):
    scene = recordings.make("service-sigterm", 10.0, Say(0.3, "okay nabu"), Say(1.9, "what time is it"))
    emu = make_emulator(api_key=KEY, replies=[LONG_REPLY], pacing="realtime")
    cfg = write_config(tmp_path / "edgevoice.toml", emu.url, buttons={"push_to_talk_pin": 17, "mute_pin": 27},
                       leds={"listening": 22, "speaking": 23})  # gpiozero's mock pins
    out = tmp_path / "out.wav"
    env = daemon_environment(notify.path, key=KEY, watchdog_usec=1_000_000)
    proc = daemons(["--config", str(cfg), "--input-wav", str(scene.path), "--output-wav", str(out)], env)
    speaking = notify.wait_for(status_is("speaking"), timeout=30)
    time.sleep(0.3)
    answering = next(s for s in emu.sessions if s.events("response.create"))
    assert not answering.closed

    sent = proc.signal(signal.SIGTERM)
    code = proc.wait(timeout=10)
    took = proc.stopped_after(sent)
    assert code == 0, proc.stderr
    assert took < 2.0, f"SIGTERM to exit took {took:.2f} s"
    notify.wait_for(has("STOPPING"), timeout=1, start=speaking)
    assert proc.log_lines("stopping on SIGTERM") and proc.log_lines("stopped (exit 0)")
    assert "Traceback" not in proc.stderr
    # The session was closed (not dropped) and the speaker left a readable recording of the reply.
    emu.wait_until(lambda e: answering.closed, timeout=5)
    assert not answering.dropped
    played, _ = audible_seconds(out)  # a readable recording of the reply's start
    assert played > 0.2, played


# --- a broken config: exit 78, one line -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[voicelive\nendpoint = "x"', None, "line 1"),  # not TOML
        (None, "assistant.volume", "7"),  # a value out of range
        (None, "", "no Voice Live credential"),  # no key anywhere
    ],
    ids=["toml", "range", "credential"],
)
def test_broken_config_exits_78_with_one_line(tmp_path, notify, daemons, text, key, words):
    cfg = tmp_path / "edgevoice.toml"
    if text is not None:
        cfg.write_text(text)
    elif key == "assistant.volume":
        write_config(cfg, "http://127.0.0.1:9", assistant={"volume": 7.0})
    else:
        write_config(cfg, "http://127.0.0.1:9")
    recording = tmp_path / "in.wav"
    write_wav(recording, room_noise(1.0))
    env = daemon_environment(notify.path, key=KEY, watchdog_usec=1_000_000)
    if key == "":
        del env["AZURE_VOICELIVE_API_KEY"]
    proc = daemons(["--config", str(cfg), "--input-wav", str(recording), "--output-wav", str(tmp_path / "out.wav")], env)
    assert proc.wait(timeout=30) == 78
    lines = [line for line in proc.lines if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("edgevoice: config error:") and words in lines[0], lines
    if key:
        assert key in lines[0]
    time.sleep(0.1)
    assert not any(is_ready(m) for m in notify.texts())  # systemd never hears it was ready


def test_an_unreadable_input_wav_exits_66_with_one_line(tmp_path, notify, daemons):
    cfg = write_config(tmp_path / "edgevoice.toml", "http://127.0.0.1:9")
    env = daemon_environment(notify.path, key=KEY, watchdog_usec=None)
    proc = daemons(["--config", str(cfg), "--input-wav", str(tmp_path / "missing.wav")], env)
    assert proc.wait(timeout=30) == 66  # EX_NOINPUT
    lines = [line for line in proc.lines if line.strip()]
    assert len(lines) == 1 and "cannot read" in lines[0] and "missing.wav" in lines[0], lines


# --- the journal fields of a real turn, in-process ------------------------------------------------------


def test_a_real_turn_logs_its_breakdown_as_journal_fields(tmp_path, recordings, make_emulator, monkeypatch):
    import argparse

    from edgevoice.commands import run as run_command
    from edgevoice.config.load import load_config
    from edgevoice.config.secrets import ApiKey
    from edgevoice.service.journal import SYSLOG_IDENTIFIER, journal_handler
    from edgevoice.service.redact import Redactor

    scene = recordings.make("service-turn", 5.5, Say(0.3, "okay nabu"), Say(1.9, "what time is it"))
    emu = make_emulator(api_key=KEY, replies=[REPLY])
    cfg = write_config(tmp_path / "edgevoice.toml", emu.url, buttons={"push_to_talk_pin": 17, "mute_pin": 27},
                       leds={"listening": 22, "speaking": 23})  # gpiozero's mock pins
    monkeypatch.setenv("AZURE_VOICELIVE_API_KEY", KEY)

    handler = journal_handler(logging.INFO)
    assert handler is not None, "systemd-python is a dependency on Linux"
    sent: list[tuple[str, dict[str, object]]] = []
    handler.send = lambda message, **fields: sent.append((message, fields))  # journald's sd_journal_send
    handler.addFilter(Redactor([KEY]))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        args = argparse.Namespace(input_wav=scene.path, output_wav=tmp_path / "out.wav", events=None,
                                  settle_timeout=30.0, verbose=0)
        code = run_command.run(load_config(str(cfg)), args, credential=ApiKey(KEY), reload_path=None)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert code == 0
    # GPIO was released on the way out: every pin can be claimed again (GPIOPinInUse otherwise).
    from gpiozero import LED, Button

    for device in [Button(17), Button(27), LED(22), LED(23)]:
        device.close()

    assert all(f["SYSLOG_IDENTIFIER"] == SYSLOG_IDENTIFIER for _, f in sent)
    states = [f["EDGEVOICE_STATE"] for _, f in sent if "EDGEVOICE_STATE" in f]
    assert states == ["idle", "listening", "thinking", "speaking", "follow_up"], states
    turns = [(m, f) for m, f in sent if "EDGEVOICE_TURN" in f and "EDGEVOICE_TOKENS" not in f]
    assert len(turns) == 1, turns
    message, turn = turns[0]
    # The reply's token usage is a journal entry of the same turn, with its counts as fields (no prices set: no cost).
    (usage_message, usage), = [(m, f) for m, f in sent if "EDGEVOICE_TOKENS" in f]
    assert usage_message.startswith("turn 1 usage:") and usage["EDGEVOICE_TURN"] == "1"
    assert int(usage["EDGEVOICE_INPUT_AUDIO"]) > 0 and int(usage["EDGEVOICE_OUTPUT_AUDIO"]) > 0
    assert int(usage["EDGEVOICE_TOKENS"]) == sum(int(usage[f"EDGEVOICE_{k.upper()}"]) for k in KINDS)
    assert "EDGEVOICE_COST" not in usage
    assert turn["EDGEVOICE_TURN"] == "1" and message.startswith("turn 1:")
    figures = {k: v for k, v in turn.items() if k.startswith("EDGEVOICE_") and k.endswith("_MS")}
    # reply_to_playback is left out when, on a loaded machine, the speaker's start (dated by the
    # input frame it played against) comes out before the reply's arrival (dated when handled).
    assert {"EDGEVOICE_WAKE_TO_AUDIO_MS", "EDGEVOICE_SPEECH_END_TO_COMMIT_MS", "EDGEVOICE_COMMIT_TO_REPLY_MS",
            "EDGEVOICE_VOICE_TO_VOICE_MS"} <= set(figures) <= {
            "EDGEVOICE_WAKE_TO_AUDIO_MS", "EDGEVOICE_SPEECH_END_TO_COMMIT_MS", "EDGEVOICE_COMMIT_TO_REPLY_MS",
            "EDGEVOICE_REPLY_TO_PLAYBACK_MS", "EDGEVOICE_VOICE_TO_VOICE_MS"}, turn
    assert all(isinstance(v, str) and v.lstrip("-").isdigit() for v in figures.values()), figures
    assert int(figures["EDGEVOICE_VOICE_TO_VOICE_MS"]) >= int(figures["EDGEVOICE_SPEECH_END_TO_COMMIT_MS"])
    # Nothing carries the key: not a message, not a field.
    assert not any(KEY in m or any(KEY in str(v) for v in f.values()) for m, f in sent)


# --- the FIFO input itself --------------------------------------------------------------------------


def test_wav_source_reads_a_fifo_as_the_audio_arrives(tmp_path):
    mic = WavStream(tmp_path / "mic.wav")
    try:
        mic.start(prefill_s=0.5)
        source = WavSource(mic.path)
        assert source.is_stream
        frames = source.frames()
        got = [next(frames) for _ in range(80)]  # 0.8 s: more than was there at the start
        assert all(len(f) == FRAME_BYTES for f in got)
        source.close()
    finally:
        mic.close()
