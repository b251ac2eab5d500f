"""``edgevoice emulator`` as a real process: start, serve, refuse per scenario, stop on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


@contextmanager
def running(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start the emulator command on a free port; yields the process and its ws:// base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgevoice", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        banner = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        assert match, f"no banner: {banner!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        yield proc, f"ws://127.0.0.1:{match.group(1)}/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_serves_until_sigterm():
    with running("--api-key", "cli-key", "--reply", "Hi from the command line.") as (proc, url):
        with connect(url, additional_headers={"api-key": "cli-key"}) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "session.created"
            ws.send(json.dumps({"type": "response.create"}))
            while (event := json.loads(ws.recv(timeout=5)))["type"] != "response.done":
                pass
            assert event["response"]["output"][0]["content"][0]["transcript"] == "Hi from the command line."
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "1 sessions" in out


def test_key_from_environment_and_faults_from_a_scenario(tmp_path):
    scenario = tmp_path / "flaky.toml"
    scenario.write_text("[faults]\nconnections = 1\nreject_status = 503\nretry_after_s = 1\n")
    with running("--scenario", str(scenario), env={"AZURE_VOICELIVE_API_KEY": "env-key"}) as (proc, url):
        with pytest.raises(InvalidStatus) as info:
            connect(url, additional_headers={"api-key": "env-key"})
        assert info.value.response.status_code == 503 and info.value.response.headers["Retry-After"] == "1"
        with pytest.raises(InvalidStatus) as info:
            connect(url, additional_headers={"api-key": "other"})
        assert info.value.response.status_code == 401
        with connect(url, additional_headers={"api-key": "env-key"}) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "session.created"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        assert proc.returncode == 0


def test_bad_scenario_is_a_config_error(tmp_path):
    scenario = tmp_path / "bad.toml"
    scenario.write_text("[faults]\nreject_status = 418\n")
    result = subprocess.run(
        [sys.executable, "-m", "edgevoice", "emulator", "--port", "0", "--scenario", str(scenario)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 78
    assert "faults.reject_status" in result.stderr and "418" in result.stderr
