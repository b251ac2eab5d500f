"""`edgevoice check`: exit 0 on the example, the printed session, secrets never shown, no heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from azure.ai.voicelive import models as sdk

from config_helpers import ENDPOINT, EXAMPLE, run_cli, run_subprocess, write_config, write_secret
from edgevoice.config.load import load_config
from edgevoice.voicelive.protocol.client_events import session_update
from edgevoice.tools.setup import declared_fields
from edgevoice.voicelive.protocol.session_config import session_payload

PLANTED = "PLANTED-KEY-9a8b7c6d5e4f"


def _session_json(out: str) -> dict:
    return json.loads(out[out.index("session.update:\n") + len("session.update:\n"):])


def test_example_is_valid_without_a_key_and_warns(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(["check", "--config", str(EXAMPLE)], capsys)
    assert result.status == 0
    assert f"config:      {EXAMPLE} is valid" in result.out
    assert "url:         wss://my-resource.services.ai.azure.com/voice-live/realtime?api-version=2026-07-15&model=gpt-realtime" in result.out
    assert "credential:  none found" in result.out
    assert result.err.startswith("edgevoice: warning: no Voice Live credential")
    assert "AZURE_VOICELIVE_API_KEY" in result.err and len(result.err.strip().splitlines()) == 1
    event = _session_json(result.out)
    config = load_config(EXAMPLE, environ={})
    assert event == session_update({**session_payload(config.voicelive), **declared_fields(config)}, event_id="evt_check")
    assert [t["name"] for t in event["session"]["tools"]] == ["get_time", "end_conversation"]  # the built-in defaults
    assert sdk.ClientEventSessionUpdate(event).as_dict() == event


def test_example_as_a_real_process() -> None:
    result = run_subprocess(["check", "--config", str(EXAMPLE)])
    assert result.status == 0, result.err
    assert _session_json(result.out)["type"] == "session.update"


def test_config_from_environment_variable(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, f'[voicelive]\n{ENDPOINT}\nmodel = "gpt-4o-mini"\n')
    monkeypatch.setenv("EDGEVOICE_CONFIG", str(path))
    result = run_cli(["check"], capsys)
    assert result.status == 0
    assert f"config:      {path} is valid" in result.out
    assert "model:       gpt-4o-mini (cascaded family, cascaded)" in result.out
    assert "voice:       azure-standard en-US-AvaNeural (the model default)" in result.out


def _assert_hidden(text: str) -> None:
    assert PLANTED not in text
    assert PLANTED[:12] not in text  # not even a prefix


def test_env_key_is_redacted(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = write_secret(tmp_path / "unused-key", "another-secret-000")
    path = write_config(tmp_path, f'[voicelive]\n{ENDPOINT}\napi_key_file = "{key_file}"\n')
    monkeypatch.setenv("AZURE_VOICELIVE_API_KEY", PLANTED)
    result = run_cli(["-vv", "check", "--config", str(path)], capsys)
    assert result.status == 0
    assert "credential:  env AZURE_VOICELIVE_API_KEY (api-key: <redacted>); voicelive.api_key_file not used" in result.out
    _assert_hidden(result.out + result.err)
    assert "another-secret-000" not in result.out + result.err


def test_systemd_credential_is_redacted(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    write_secret(creds / "voicelive-api-key", PLANTED)
    path = write_config(tmp_path, f"[voicelive]\n{ENDPOINT}\n")
    result = run_subprocess(["-vv", "check", "--config", str(path)], env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert result.status == 0
    assert "credential:  credential voicelive-api-key (api-key: <redacted>)" in result.out
    _assert_hidden(result.out + result.err)


def test_key_file_and_token_file_are_redacted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = write_secret(tmp_path / "key", PLANTED + "\n")
    path = write_config(tmp_path, f'[voicelive]\n{ENDPOINT}\napi_key_file = "{key}"\n')
    result = run_cli(["check", "--config", str(path)], capsys)
    assert result.status == 0
    assert f"credential:  file {key} (api-key: <redacted>)" in result.out
    _assert_hidden(result.out + result.err)

    token = write_secret(tmp_path / "token", "Bearer " + PLANTED)
    path = write_config(tmp_path, f'[voicelive]\n{ENDPOINT}\ntoken_file = "{token}"\n')
    result = run_cli(["check", "--config", str(path)], capsys)
    assert result.status == 0
    assert f"credential:  token file {token} (Authorization: <redacted>)" in result.out
    _assert_hidden(result.out + result.err)


def test_check_imports_no_audio_or_network_libraries(tmp_path: Path) -> None:
    """`edgevoice check` must stay light: no numpy, audio, GPIO, websocket or systemd modules."""
    path = write_config(tmp_path, f"[voicelive]\n{ENDPOINT}\n")
    heavy = ["numpy", "pyaudio", "webrtcvad", "webrtc_noise_gain", "pymicro_wakeword", "soxr", "gpiozero",
             "websocket", "websockets", "systemd", "azure", "aiohttp"]
    code = (
        "import sys\nfrom edgevoice.cli import main\n"
        f"rc = main(['check', '--config', {str(path)!r}])\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))\n"
        "sys.exit(rc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "AZURE_VOICELIVE_API_KEY"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
