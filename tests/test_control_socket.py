"""The control socket's parts: the wire format (pure), the status sections, and the server on a real socket."""

from __future__ import annotations

import os
import socket
import stat
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from control_helpers import raw
from edgevoice.config.control import ControlConfig, default_socket
from edgevoice.config.errors import ConfigError
from edgevoice.control import protocol as P
from edgevoice.control.client import ControlError, ask
from edgevoice.control.server import CommandRefused, ControlServer, ControlSocketError
from edgevoice.control.status import REDACTED, StatusBoard, TurnHistory, redacted


# --- the wire format ----------------------------------------------------------------------------


@pytest.mark.parametrize("line, code", [
    (b"nope", "bad_json"),
    (b"\xc3\x28", "bad_json"),
    (b"42", "bad_request"),
    (b'{"v": 1}', "bad_request"),
    (b'{"cmd": "explode"}', "unknown_command"),
    (b'{"v": "1", "cmd": "status"}', "unsupported_version"),
    (b'{"v": true, "cmd": "status"}', "unsupported_version"),
    (b'{"cmd": "say"}', "bad_request"),
    (b'{"cmd": "say", "text": "   "}', "bad_request"),
    (b'{"cmd": "say", "text": "hi", "interrupt": "yes"}', "bad_request"),
    (b'{"cmd": "status", "id": [1]}', "bad_request"),
    (b'{"cmd": "say", "text": "' + b"a" * (P.MAX_SAY_CHARS + 1) + b'"}', "bad_request"),
    (b"x" * (P.MAX_LINE + 1), "line_too_long"),
])
def test_bad_lines_become_protocol_errors(line, code):
    parsed = P.parse_request(line)
    assert isinstance(parsed, P.ProtocolError) and parsed.code == code, parsed


def test_requests_round_trip():
    for request in (P.Request("status", id=7), P.Request("say", text="Hello there.", interrupt=True, id="a"),
                    P.Request("mute"), P.Request("unmute"), P.Request("reload")):
        assert P.parse_request(P.encode_request(request)) == request
    assert P.parse_request(b'{"cmd": "say", "text": "  two\\n lines  "}') == P.Request("say", text="two lines")


# --- the status sections --------------------------------------------------------------------------


def test_a_failing_section_does_not_hide_the_others():
    board = StatusBoard()
    board.add("fine", lambda: {"a": 1})
    board.add("broken", lambda: {}["missing"])
    board.add("extra", lambda: {"cost": 0.25})
    snap = board.snapshot()
    assert snap["fine"] == {"a": 1} and snap["extra"] == {"cost": 0.25}
    assert "KeyError" in snap["broken"]["error"]


def test_config_is_shown_with_secrets_redacted():
    from edgevoice.config.load import load_default_config

    shown = redacted(load_default_config())
    assert shown["voicelive"]["max_response_output_tokens"] is None or isinstance(
        shown["voicelive"]["max_response_output_tokens"], (int, str))
    assert redacted({"api_key": "sk-123", "token": "abc", "api_key_file": "/etc/k", "password": ""}) == {
        "api_key": REDACTED, "token": REDACTED, "api_key_file": "/etc/k", "password": ""}


def test_turn_history_keeps_the_last_turns_and_the_wake_rate():
    now = [0.0]
    history = TurnHistory(2, clock=lambda: now[0])
    for turn in (1, 2, 3):
        history({"event": "wake", "turn": turn})
        history({"event": "turn_latency", "turn": turn, "voice_to_voice_ms": 900.0 + turn})
    assert [r["turn"] for r in history.recent()] == [2, 3] and history.answered == 3
    now[0] = 7200.0
    history({"event": "wake", "turn": 4})
    assert history.wake_rate() == {"last_hour": 1, "total": 4, "per_hour": 2.0}


# --- the config ------------------------------------------------------------------------------------


def test_control_config_checks_and_default_path():
    assert default_socket({"RUNTIME_DIRECTORY": "/run/edgevoice"}) == Path("/run/edgevoice/control.sock")
    assert default_socket({}) == Path("/run/edgevoice/control.sock")
    with pytest.raises(ConfigError, match="group"):
        ControlConfig(group="Bad Group!").check()
    with pytest.raises(ConfigError, match="socket"):
        ControlConfig(socket=Path("/" + "x" * 200)).check()


# --- the server --------------------------------------------------------------------------------------


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "ctl.sock"


def test_the_socket_is_mode_0660_and_removed_on_close(sock_path):
    server = ControlServer(sock_path, lambda r: {"pong": True}).start()
    try:
        assert stat.S_IMODE(sock_path.stat().st_mode) == 0o660
        assert ask(sock_path, P.Request("status"))["pong"] is True
    finally:
        server.close()
    assert not sock_path.exists()


def test_a_stale_socket_is_replaced_but_a_live_one_is_not(sock_path):
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock_path))
    stale.close()  # the file stays, nobody listens: a daemon that died
    server = ControlServer(sock_path, lambda r: {}).start()
    try:
        with pytest.raises(ControlSocketError, match="another edgevoice daemon"):
            ControlServer(sock_path, lambda r: {})
    finally:
        server.close()
    sock_path.write_text("not a socket")
    with pytest.raises(ControlSocketError, match="not a socket"):
        ControlServer(sock_path, lambda r: {})


def test_refusals_slow_answers_and_too_many_clients(sock_path):
    never: Future = Future()
    later: Future = Future()

    def handler(request: P.Request):
        if request.cmd == "mute":
            raise CommandRefused("switch_on", "the switch is on")
        if request.cmd == "reload":
            return never
        if request.cmd == "say":
            return later
        return {"state": "idle"}

    server = ControlServer(sock_path, handler, reply_timeout_s=0.5, read_timeout_s=0.5, max_clients=2).start()
    try:
        assert ask(sock_path, P.Request("mute"))["error"]["code"] == "switch_on"
        assert ask(sock_path, P.Request("reload"))["error"]["code"] == "busy"
        threading.Timer(0.1, lambda: later.set_result({"said": "now"})).start()
        assert ask(sock_path, P.Request("say", text="hi"))["said"] == "now"
        # Two silent clients fill the server; a third is told it is busy, and later all is well again.
        silent = [socket.socket(socket.AF_UNIX) for _ in range(2)]
        for s in silent:
            s.connect(str(sock_path))
        assert P.decode_reply(raw(sock_path, P.encode_request(P.Request("status"))))["error"]["code"] == "busy"
        for s in silent:
            assert P.decode_reply(s.recv(4096))["error"]["code"] == "timeout"
            s.close()
        assert ask(sock_path, P.Request("status"))["state"] == "idle"
    finally:
        server.close()


def test_the_client_says_why_it_cannot_ask(tmp_path):
    with pytest.raises(ControlError, match="no control socket"):
        ask(tmp_path / "missing.sock", P.Request("status"))
    dead = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(dead))
    s.close()
    with pytest.raises(ControlError, match="not running"):
        ask(dead, P.Request("status"))
    if os.geteuid() != 0:
        locked = tmp_path / "locked.sock"
        server = ControlServer(locked, lambda r: {}).start()
        try:
            os.chmod(locked, 0o000)
            with pytest.raises(ControlError, match="permission denied"):
                ask(locked, P.Request("status"))
        finally:
            server.close()


def test_the_readme_presence_example_is_a_valid_config():
    from edgevoice.config.load import parse_config

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Presence: turning toward the visitor", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    config = parse_config('[voicelive]\nendpoint = "https://example.services.ai.azure.com"\n\n' + block, "<README>")
    assert config.presence.sensor == "motion" and config.presence.listen_without_wake
    assert config.presence.greeting in config.offline.spoken_texts().values()


def test_say_offline_prefers_the_cached_phrase_with_that_text():
    from edgevoice.offline.phrases import PhraseBook
    from edgevoice.playback.sound import Sound

    book = PhraseBook({"greeting": "Hello there!"})
    book.wait_ready(30)
    own_voice = Sound(b"\x01\x00" * 1600, 16000)
    book.put("greeting", own_voice)  # as a warmed cache does: the assistant's own voice
    assert book.say("  hello   THERE! ") is own_voice
    other = book.say("The lift is out of order.")  # no phrase has it: the local voice, now
    assert other is not own_voice and len(other.pcm) > 0 and other.rate == 16000


def test_the_socket_belongs_to_the_configured_group(sock_path, caplog):
    import grp

    own = grp.getgrgid(os.getgid()).gr_name  # a group this process may always give its files to
    server = ControlServer(sock_path, lambda r: {}, group=own).start()
    try:
        assert sock_path.stat().st_gid == os.getgid()
    finally:
        server.close()
    server = ControlServer(sock_path, lambda r: {}, group="edgevoice-no-such-group").start()
    try:
        assert "group 'edgevoice-no-such-group' does not exist" in caplog.text
        assert ask(sock_path, P.Request("status"))["ok"]
    finally:
        server.close()


def test_status_for_people_shows_every_section_and_those_other_parts_add():
    from edgevoice.commands.status import describe

    reply = {
        "v": 1, "ok": True, "cmd": "status",
        "assistant": {"state": "muted", "status": "muted", "muted": True, "mute_switch": True,
                      "presence": {"sensor": "motion", "present": False, "problem": "presence sensor (motion) on pin 4: busy"}},
        "connectivity": {"online": False, "outage": "offline", "session": "closed"},
        "uptime": {"seconds": 3725.0, "since": "2026-12-06T13:00:00Z"},
        "turns": {"started": 3, "answered": 2, "recent": [{"turn": 2, "voice_to_voice_ms": 812.4, "tools_ms": None}]},
        "wake_words": {"last_hour": 3, "per_hour": 3.0},
        "devices": {"microphone": {"ok": False, "problem": "missing (no such device)"}, "speaker": {"ok": True}},
        "config": {"voicelive": {}},
        "cost": {"today_usd": 0.42},
    }
    text = describe(reply)
    for expected in ("state:        muted", "yes (switch)", "offline (offline)", "1h02m05s", "3 started, 2 answered",
                     "presence:     motion: presence sensor (motion) on pin 4: busy", "microphone:   missing",
                     "turn 2:      voice_to_voice 812 ms", "cost:"):
        assert expected in text, (expected, text)
    assert "voicelive" not in text  # the config is for --json
