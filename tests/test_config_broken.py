"""Broken config files through the real CLI: exit 78, one line naming the key and the bad value, no traceback."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from config_helpers import ENDPOINT, readable_edgevoice, run_cli, run_subprocess, write_config, write_secret

PLANTED = "PLANTED-SECRET-1f2e3d4c"


@dataclass
class Case:
    id: str
    toml: str  # "{tmp}" is replaced by the test's temporary directory
    expect: tuple[str, ...]  # fragments the message must contain (key path / line, bad value, what is allowed)
    forbid: tuple[str, ...] = ()
    setup: Callable[[Path], None] | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _vl(body: str) -> str:
    return f"[voicelive]\n{ENDPOINT}\n{body}\n"


def _group_readable_key(tmp: Path) -> None:
    write_secret(tmp / "key", PLANTED, 0o640)


def _world_readable_token(tmp: Path) -> None:
    write_secret(tmp / "token", PLANTED, 0o604)


def _directory_key(tmp: Path) -> None:
    (tmp / "keydir").mkdir()


def _empty_token(tmp: Path) -> None:
    write_secret(tmp / "token", "\n", 0o600)


def _binary_key(tmp: Path) -> None:
    (tmp / "key").write_bytes(b"\xff\xfe\x00bad")
    (tmp / "key").chmod(0o600)


CASES = [
    Case("toml-syntax", _vl("temperature = = 0.8"), ("line 3", "TOML syntax error", "temperature = = 0.8")),
    Case("toml-unclosed-table", "[voicelive\nendpoint = 1\n", ("line 1", "'[voicelive'")),
    Case("unknown-table", _vl("[voicelive.turn_detecton]\ntype = 'none'"), ("voicelive.turn_detecton", "unknown table", "'turn_detection'")),
    Case("unknown-top-table", "[wakeword]\nname = 'x'\n" + _vl(""), ("wakeword", "unknown table", "voicelive")),
    Case("unknown-key", _vl("temprature = 0.8"), ("voicelive.temprature", "did you mean 'temperature'")),
    Case("wrong-type-str-for-float", _vl("temperature = 'hot'"), ("voicelive.temperature", "'hot'", "a number")),
    Case("bool-is-not-a-number", _vl("connect_timeout_s = true"), ("voicelive.connect_timeout_s", "True", "a number")),
    Case("float-for-int", _vl("[voicelive.turn_detection]\nsilence_duration_ms = 500.5"),
         ("voicelive.turn_detection.silence_duration_ms", "500.5", "an integer")),
    Case("temperature-range", _vl("temperature = 2.5"), ("voicelive.temperature", "2.5", "0.6 to 1.2")),
    Case("max-tokens-range", _vl("max_response_output_tokens = 5000"), ("voicelive.max_response_output_tokens", "5000", "1 to 4096", '"inf"')),
    Case("max-tokens-word", _vl("max_response_output_tokens = 'lots'"), ("voicelive.max_response_output_tokens", "'lots'", '"inf"')),
    Case("negative-silence", _vl("[voicelive.turn_detection]\nsilence_duration_ms = -5"),
         ("voicelive.turn_detection.silence_duration_ms", "-5", "0 to 10000")),
    Case("bad-turn-type", _vl("[voicelive.turn_detection]\ntype = 'semantic'"),
         ("voicelive.turn_detection.type", "'semantic'", "'server_vad'", "did you mean 'azure_semantic_vad'")),
    Case("semantic-only-with-server-vad", _vl("[voicelive.turn_detection]\ntype = 'server_vad'\nspeech_duration_ms = 80"),
         ("voicelive.turn_detection.speech_duration_ms", "80", "azure_semantic_vad")),
    Case("settings-with-turn-none", _vl("[voicelive.turn_detection]\ntype = 'none'\nthreshold = 0.4"),
         ("voicelive.turn_detection.threshold", "0.4", "'none'")),
    Case("bad-eou-level", _vl("[voicelive.turn_detection.end_of_utterance]\nthreshold_level = 'extreme'"),
         ("voicelive.turn_detection.end_of_utterance.threshold_level", "'extreme'", "'medium'")),
    Case("http-remote-endpoint", "[voicelive]\nendpoint = 'http://my-resource.services.ai.azure.com'\n",
         ("voicelive.endpoint", "'http://my-resource.services.ai.azure.com'", "https://")),
    Case("ftp-endpoint", "[voicelive]\nendpoint = 'ftp://example.com'\n", ("voicelive.endpoint", "'ftp://example.com'", "https")),
    Case("endpoint-with-query", "[voicelive]\nendpoint = 'https://x.services.ai.azure.com/?api-version=1'\n",
         ("voicelive.endpoint", "api-version=1", "api_version and model are keys")),
    Case("empty-endpoint", "[voicelive]\nendpoint = ''\n", ("voicelive.endpoint", "empty", "https://")),
    Case("missing-endpoint", "[voicelive]\nmodel = 'gpt-realtime'\n", ("voicelive.endpoint", "required", "https://")),
    Case("no-voicelive-table", "# nothing here\n", ("voicelive.endpoint", "required")),
    Case("api-key-in-file", _vl(f"api_key = '{PLANTED}'"), ("voicelive.api_key", "never in the config file", "AZURE_VOICELIVE_API_KEY"), (PLANTED,)),
    Case("api-key-syntax-error", _vl(f"api_key = '{PLANTED}"), ("line 3", "TOML syntax error"), (PLANTED,)),
    Case("pasted-bare-key", _vl(PLANTED), ("line 3", "TOML syntax error"), (PLANTED,)),
    Case("openai-voice-cascaded", _vl("model = 'gpt-4o'\nvoice = 'alloy'"), ("voicelive.voice", "'alloy'", "'gpt-4o'", "azure-standard")),
    Case("near-field-cascaded", _vl("model = 'gpt-4.1'\nnoise_reduction = 'near_field'"),
         ("voicelive.noise_reduction", "'near_field'", "'gpt-4.1'", "azure_deep_noise_suppression")),
    Case("whisper-cascaded", _vl("model = 'gpt-5-mini'\n[voicelive.transcription]\nmodel = 'whisper-1'"),
         ("voicelive.transcription.model", "'whisper-1'", "'gpt-5-mini'", "azure-speech")),
    Case("phi4-openai-voice", _vl("model = 'phi4-mm-realtime'\nvoice = 'shimmer'"), ("voicelive.voice", "'shimmer'", "'phi4-mm-realtime'")),
    Case("phi4-whisper", _vl("model = 'phi4-mm-realtime'\n[voicelive.transcription]\nmodel = 'gpt-4o-transcribe'"),
         ("voicelive.transcription.model", "'gpt-4o-transcribe'", "azure-speech")),
    Case("unknown-model", _vl("model = 'gpt-7o'"), ("voicelive.model", "'gpt-7o'", "set voicelive.model_family", "gpt-realtime, phi4-mm-realtime, cascaded")),
    Case("typo-model", _vl("model = 'gpt-realtme'"), ("voicelive.model", "'gpt-realtme'", "did you mean 'gpt-realtime'")),
    Case("bad-api-version", _vl("api_version = '2026-7-15'"), ("voicelive.api_version", "'2026-7-15'", "YYYY-MM-DD")),
    Case("bad-api-version-date", _vl("api_version = '2026-13-01-preview'"), ("voicelive.api_version", "'2026-13-01-preview'", "YYYY-MM-DD-preview")),
    Case("output-format", _vl("output_audio_format = 'g711_ulaw'"), ("voicelive.output_audio_format", "'g711_ulaw'", "'pcm16_16000hz'")),
    Case("unknown-voice-name", _vl("voice = 'bob'"), ("voicelive.voice", "'bob'", "alloy")),
    Case("voice-type", _vl("voice = {type = 'google', name = 'x'}"), ("voicelive.voice.type", "'google'", "'azure-standard'")),
    Case("custom-voice-no-endpoint-id", _vl("voice = {type = 'azure-custom', name = 'MyVoice'}"), ("voicelive.voice.endpoint_id", "required")),
    Case("openai-voice-with-rate", _vl("voice = {type = 'openai', name = 'alloy', rate = 'fast'}"), ("voicelive.voice.rate", "'fast'", "Azure voices")),
    Case("voice-temperature-range", _vl("voice = {type = 'azure-standard', name = 'en-US-AvaNeural', temperature = 1.5}"),
         ("voicelive.voice.temperature", "1.5", "0 to 1")),
    Case("languages-not-a-list", _vl("[voicelive.turn_detection]\nlanguages = 'en'"),
         ("voicelive.turn_detection.languages", "'en'", "a list of strings")),
    Case("languages-item-type", _vl("[voicelive.turn_detection]\nlanguages = ['en', 3]"), ("voicelive.turn_detection.languages[1]", "3", "a string")),
    Case("transcription-none-with-language", _vl("[voicelive.transcription]\nlanguage = 'en-US'"),
         ("voicelive.transcription.language", "'en-US'", "'none'")),
    Case("unknown-transcription-model", _vl("[voicelive.transcription]\nmodel = 'whisper-2'"), ("voicelive.transcription.model", "'whisper-2'", "whisper-1")),
    Case("table-for-scalar", _vl("[voicelive.temperature]\nvalue = 1"), ("voicelive.temperature", "a number", "table")),
    Case("scalar-for-table", "voicelive = 3\n", ("voicelive", "3", "a table")),
    Case("both-credential-files", _vl("api_key_file = '{tmp}/key'\ntoken_file = '{tmp}/token'"), ("voicelive.token_file", "api_key_file", "one credential")),
    Case("group-readable-key-file", _vl("api_key_file = '{tmp}/key'"), ("voicelive.api_key_file", "/key", "group", "0640", "chmod 600"),
         (PLANTED,), _group_readable_key),
    Case("world-readable-token-file", _vl("token_file = '{tmp}/token'"), ("voicelive.token_file", "others", "0604", "chmod 600"),
         (PLANTED,), _world_readable_token),
    Case("missing-key-file", _vl("api_key_file = '{tmp}/nope'"), ("voicelive.api_key_file", "/nope", "does not exist")),
    Case("key-file-is-directory", _vl("api_key_file = '{tmp}/keydir'"), ("voicelive.api_key_file", "/keydir", "not a regular file"),
         setup=_directory_key),
    Case("key-file-not-text", _vl("api_key_file = '{tmp}/key'"), ("voicelive.api_key_file", "not UTF-8"), setup=_binary_key),
    Case("empty-token-file", _vl("token_file = '{tmp}/token'"), ("voicelive.token_file", "/token", "empty"), setup=_empty_token),
    Case("empty-path", _vl("api_key_file = ''"), ("voicelive.api_key_file", "empty path")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_config_is_exit_78_with_one_clear_line(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.setup is not None:
        case.setup(tmp_path)
    path = write_config(tmp_path, case.toml.replace("{tmp}", str(tmp_path)))
    result = run_cli(["check", "--config", str(path)], capsys)
    assert result.status == 78, result
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    message = lines[0]
    assert message.startswith(f"edgevoice: config error: {path}: ")
    for fragment in case.expect:
        assert fragment in message, f"{fragment!r} missing from: {message}"
    for fragment in case.forbid:
        assert fragment not in message
    assert "Traceback" not in result.err


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 20


def test_missing_config_file_names_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.toml"
    result = run_cli(["check", "--config", str(missing)], capsys)
    assert result.status == 78
    assert result.err.strip() == f"edgevoice: config error: config file {str(missing)!r} does not exist (given with --config)"


def test_config_path_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(["check", "--config", str(tmp_path)], capsys)
    assert result.status == 78
    assert "is a directory" in result.err and str(tmp_path) in result.err


def test_non_utf8_config_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"[voicelive]\n# caf\xe9\n")
    result = run_cli(["check", "--config", str(path)], capsys)
    assert result.status == 78
    assert "line 2: not UTF-8" in result.err and "\\xe9" in result.err


def test_real_process_exit_78_without_traceback(tmp_path: Path) -> None:
    """The installed script, as systemd would run it: exit status 78 and one line on stderr."""
    path = write_config(tmp_path, _vl("[voicelive.turn_detection]\nsilence_duration_ms = 99999"))
    result = run_subprocess(["check", "--config", str(path)])
    assert result.status == 78
    assert result.err.strip().splitlines() == [
        f"edgevoice: config error: {path}: voicelive.turn_detection.silence_duration_ms: 99999 is out of range; allowed 0 to 10000"
    ]


def test_unreadable_config_and_key_file_as_an_unprivileged_user(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Permission denied is only real for a non-root user, so drop to nobody when running as root."""
    import os
    import shutil
    import tempfile

    command: list[str] | None = None
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot test permission denied")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        # pytest's tmp_path and the checkout may sit under a 0700 directory (/root) that nobody
        # cannot enter: everything nobody runs or reads goes to a directory of its own in /tmp.
        tmp_path = Path(tempfile.mkdtemp(prefix="edgevoice-perm-", dir="/tmp"))
        request.addfinalizer(lambda: shutil.rmtree(tmp_path, ignore_errors=True))
        command = readable_edgevoice(tmp_path / "lib")
        probe = subprocess.run([*prefix, command[0], "-c", "pass"], capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"nobody cannot run the interpreter {command[0]}: {probe.stderr.strip()[-200:]}")
    tmp_path.chmod(0o755)
    key = write_secret(tmp_path / "key", PLANTED, 0o600)  # owned by us: nobody cannot read it
    config = write_config(tmp_path, _vl(f"api_key_file = '{key}'"))
    config.chmod(0o644)
    if prefix:
        os.chown(key, 0, 0)
    else:
        key.chmod(0o000)
    env = {"HOME": str(tmp_path)}
    result = run_subprocess(["check", "--config", str(config)], env=env, prefix=prefix, command=command)
    assert result.status == 78, result
    assert f"voicelive.api_key_file: {str(key)!r} cannot be read: permission denied" in result.err
    assert PLANTED not in result.err + result.out

    config.chmod(0o600)
    if not prefix:
        pytest.skip("a non-root user can read its own 0600 config; the config-file case needs another uid")
    result = run_subprocess(["check", "--config", str(config)], env=env, prefix=prefix, command=command)
    assert result.status == 78
    assert f"config file {str(config)!r} cannot be read: permission denied" in result.err
