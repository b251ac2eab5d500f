"""The control socket of a running daemon, end to end: `edgevoice run --input-wav` in a subprocess against
the real emulator, driven with the real `edgevoice status/say/mute/unmute/reload` commands, and abused
by raw clients (bad JSON, an oversized line, a client that never writes, 50 clients at once).

The tests of this module share two runs and go in order: one online conversation (a question at 3 s,
a slow service so that every state lasts long enough to be seen, then a quiet room until the last
test ends the input) and one where the service cannot be reached. Each test waits on what the
daemon reports, never on the clock.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from control_helpers import cli, raw, status, wait_for_socket, wait_for_state
from daemon_helpers import (
    KEY,
    BackgroundRun,
    OpenEndedInput,
    Recordings,
    Say,
    Scenario,
    StartedRuns,
    ready_replies,
    recordings,  # noqa: F401 - fixture
)
from edgevoice.control import protocol as P
from edgevoice.voicelive.emulator import FaultPlan

NOON = "It is noon, and the sun is high over the square."
FIRST = "The shop closes in ten minutes."
SECOND = ("Welcome to the museum. Today the east wing is closed for repairs, and the cafe serves lunch "
          "from twelve until three in the afternoon.")
THIRD = "Sorry, one moment."
OFFLINE_SAY = "The lift is out of order."


@pytest.fixture(scope="module")
def online_input(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> OpenEndedInput:  # noqa: F811
    """The online run's microphone: the question, then a quiet room until its last test ends it."""
    scene = recordings.make("control-online", 8.0, Say(3.0, "okay nabu"), Say(4.2, "what time is it"))
    return OpenEndedInput(scene, tmp_path_factory.mktemp("control-input") / "online.wav")


@pytest.fixture(scope="module")
def runs(recordings: Recordings, online_input: OpenEndedInput,  # noqa: F811
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BackgroundRun]]:
    base = tmp_path_factory.mktemp("control")
    ready_replies([NOON, FIRST, SECOND, THIRD])
    quiet = recordings.make("control-offline", 150.0)  # stopped with SIGTERM once its test is done
    with StartedRuns() as started:
        for name, scenario in {
            "online": Scenario(online_input.scene, replies=(NOON,), pacing="realtime",
                               faults=FaultPlan(response_delay_ms=800)),
            "offline": Scenario(quiet, offline=True),
        }.items():
            directory = base / name
            sock = directory / "ctl.sock"
            scenario = dataclasses.replace(scenario, tables={"control": {"socket": str(sock), "group": ""}})
            started.start(name, scenario, directory)
        yield started
        online_input.end()


def sock_of(run: BackgroundRun) -> Path:
    return run.directory / "ctl.sock"


def test_status_in_each_state_and_say_during_a_reply_is_queued(runs):
    run = runs["online"]
    sock = sock_of(run)
    first = wait_for_socket(sock, run.proc)
    assert first["ok"] and first["v"] == P.VERSION
    seen: set[str] = set()
    wait_for_state(sock, "speaking", seen)
    assert {"listening", "thinking", "speaking"} <= seen | {"speaking"}, seen
    assert "idle" in seen or first["assistant"]["state"] == "idle"

    code, reply = cli(sock, "status")
    assert code == 0 and reply["assistant"]["state"] == "speaking"
    for section in ("connectivity", "uptime", "turns", "wake_words", "devices", "config"):
        assert section in reply, section
    assert reply["connectivity"]["online"] is True
    assert reply["wake_words"]["total"] == 1
    assert reply["devices"]["microphone"]["ok"] and reply["devices"]["speaker"]["ok"]
    assert reply["config"]["voicelive"]["model"] == "gpt-realtime"
    assert KEY not in json.dumps(reply), "the API key never appears in the status"

    code, reply = cli(sock, "say", FIRST)
    assert code == 0, reply
    assert reply["said"] == "queued" and reply["position"] == 1

    wait_for_state(sock, "idle", quiet=True)
    done = status(sock)
    assert done["turns"]["answered"] == 1, "an announcement is not a turn"
    # What the replies so far used (response.done usage): the cost section, without prices set.
    assert done["cost"]["today"]["responses"] >= 1 and done["cost"]["today"]["tokens"]["output_audio"] > 0
    assert "no prices set" in done["cost"]["line"]
    recent = done["turns"]["recent"][0]
    assert recent["turn"] == 1 and recent["voice_to_voice_ms"] > 0


def test_say_while_idle_goes_through_the_session_and_interrupt_cuts_the_current_one(runs):
    run = runs["online"]
    sock = sock_of(run)
    wait_for_state(sock, "idle", quiet=True)
    code, reply = cli(sock, "say", SECOND)
    assert code == 0 and reply == {**reply, "said": "now", "via": "session"}, (reply, status(sock))
    wait_for_state(sock, "speaking")
    code, reply = cli(sock, "say", "--interrupt", THIRD)
    assert code == 0 and reply["said"] == "now", reply
    wait_for_state(sock, "idle", quiet=True)

    creates = [e for s in run.emulator.sessions for e in s.client_events if e.get("type") == "response.create"]
    said = [e["response"]["pre_generated_assistant_message"]["content"][0]["text"]
            for e in creates if "pre_generated_assistant_message" in e.get("response", {})]
    assert said == [FIRST, SECOND, THIRD]
    cancels = [e for s in run.emulator.sessions for e in s.client_events if e.get("type") == "response.cancel"]
    assert cancels, "--interrupt did not cancel the announcement that was playing"


def test_mute_and_unmute(runs):
    sock = sock_of(runs["online"])
    wait_for_state(sock, "idle", quiet=True)
    code, reply = cli(sock, "mute")
    assert code == 0 and reply["muted"] is True and reply["switch"] is False
    assert status(sock)["assistant"]["state"] == "muted"
    code, reply = cli(sock, "say", FIRST)
    assert code == 1 and reply["error"]["code"] == "muted"
    code, reply = cli(sock, "unmute")
    assert code == 0 and reply["muted"] is False
    assert status(sock)["assistant"]["state"] == "idle"


def test_reload_says_whether_the_new_config_was_applied(runs):
    run = runs["online"]
    sock = sock_of(run)
    config = run.directory / "edgevoice.toml"
    good = config.read_text()
    code, reply = cli(sock, "reload")
    assert code == 0 and reply["applied"] is True, reply
    config.write_text(good.replace("[assistant]", "[assistant]\nfollow_up_s = -3", 1))
    try:
        code, reply = cli(sock, "reload")
    finally:
        config.write_text(good)
    assert code == 1 and reply["error"]["code"] == "not_applied"
    assert "follow_up_s" in reply["error"]["message"]
    assert status(sock)["config"]["assistant"]["follow_up_s"] == 1.5


def test_bad_requests_leave_the_daemon_unharmed(runs):
    sock = sock_of(runs["online"])
    cases = {
        b"this is not json\n": "bad_json",
        b"[1, 2]\n": "bad_request",
        b'{"cmd": "dance"}\n': "unknown_command",
        b'{"v": 2, "cmd": "status"}\n': "unsupported_version",
        b'{"cmd": "say", "text": ""}\n': "bad_request",
        b"\xff\xfe\n": "bad_json",
        b"x" * (P.MAX_LINE * 4): "line_too_long",
    }
    for data, code in cases.items():
        reply = P.decode_reply(raw(sock, data))
        assert reply["ok"] is False and reply["error"]["code"] == code, (data[:40], reply)
    assert status(sock)["ok"]


def test_a_silent_client_is_dropped_and_50_clients_at_once_are_all_answered(runs):
    sock = sock_of(runs["online"])
    silent = {}
    thread = threading.Thread(target=lambda: silent.update(reply=raw(sock, b"")))
    thread.start()
    replies: list[dict] = []
    lock = threading.Lock()

    def client() -> None:
        answer = P.decode_reply(raw(sock, P.encode_request(P.Request("status"))))
        with lock:
            replies.append(answer)

    clients = [threading.Thread(target=client) for _ in range(50)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(timeout=60)
    assert len(replies) == 50
    assert all(r["ok"] or r["error"]["code"] == "busy" for r in replies), replies
    assert sum(r["ok"] for r in replies) >= 20  # at most MAX_CLIENTS at once; the rest are told to retry
    thread.join(timeout=30)
    assert P.decode_reply(silent["reply"])["error"]["code"] == "timeout"
    assert status(sock)["ok"]


def test_the_online_run_ends_cleanly_and_removes_its_socket(runs, online_input):
    online_input.end()  # the input is over: the daemon settles and exits
    run = runs["online"].result()
    assert run.code == 0, run.explain()
    assert not sock_of(runs["online"]).exists()
    spoken = [(a["via"], a["text"]) for a in run.events.named("announce") if a["outcome"] == "spoken"]
    assert spoken == [("session", FIRST), ("session", SECOND), ("session", THIRD)]
    refused = [a["reason"] for a in run.events.named("announce") if a["outcome"] == "refused"]
    assert refused == ["muted"]
    assert KEY not in run.stderr and KEY not in (runs["online"].events_path).read_text()


def test_say_offline_plays_the_local_voice(runs):
    run = runs["offline"]
    sock = sock_of(run)
    wait_for_socket(sock, run.proc)
    wait_for_state(sock, "offline")
    code, reply = cli(sock, "status")
    assert code == 0 and reply["connectivity"]["online"] is False
    code, reply = cli(sock, "say", OFFLINE_SAY)
    assert code == 0 and reply["said"] == "now" and reply["via"] == "local", reply
    wait_for_state(sock, "offline", quiet=True)
    run.proc.send_signal(signal.SIGTERM)
    result = run.result()
    assert result.code == 0, result.explain()
    assert [a["via"] for a in result.events.named("announce")] == ["local"]
    assert result.sessions == [] or all(
        e.get("type") != "response.create" for s in result.sessions for e in s.client_events)
    assert result.output is not None and result.output.spans(), "nothing was played"
