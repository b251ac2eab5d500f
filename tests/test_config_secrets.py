"""Where the credential comes from, in which order, and that it never shows."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from config_helpers import write_secret
from edgevoice.config.errors import ConfigError
from edgevoice.config.secrets import ApiKey, TokenFile, find_credential, require_credential
from edgevoice.config.voicelive import VoiceLiveConfig

KEY_ENV = "env-key-0123456789abcdef"
KEY_CRED = "cred-key-0123456789abcdef"
KEY_FILE = "file-key-0123456789abcdef"
TOKEN = "eyJ0eXAi.token-0123456789"


def _cfg(**kw) -> VoiceLiveConfig:
    return VoiceLiveConfig(endpoint="https://r.services.ai.azure.com", **kw)


@pytest.fixture
def sources(tmp_path: Path) -> dict:
    creds = tmp_path / "creds"
    creds.mkdir()
    write_secret(creds / "voicelive-api-key", KEY_CRED + "\n", 0o400)
    return {
        "env": {"AZURE_VOICELIVE_API_KEY": KEY_ENV},
        "creds": {"CREDENTIALS_DIRECTORY": str(creds)},
        "key_file": write_secret(tmp_path / "api-key", KEY_FILE + "\n"),
        "token_file": write_secret(tmp_path / "token", TOKEN),
    }


def test_order_env_then_systemd_credential_then_key_file(sources: dict) -> None:
    cfg = _cfg(api_key_file=sources["key_file"])
    everything = {**sources["env"], **sources["creds"]}
    cred = find_credential(cfg, environ=everything)
    assert (cred.describe(), cred.headers()) == ("env AZURE_VOICELIVE_API_KEY", {"api-key": KEY_ENV})
    cred = find_credential(cfg, environ=sources["creds"])
    assert (cred.describe(), cred.headers()) == ("credential voicelive-api-key", {"api-key": KEY_CRED})
    cred = find_credential(cfg, environ={})
    assert (cred.describe(), cred.headers()) == (f"file {sources['key_file']}", {"api-key": KEY_FILE})
    assert find_credential(_cfg(), environ={}) is None


def test_token_file_is_last_and_gives_a_bearer_header(sources: dict) -> None:
    cfg = _cfg(token_file=sources["token_file"])
    assert find_credential(cfg, environ=sources["env"]).describe() == "env AZURE_VOICELIVE_API_KEY"
    cred = find_credential(cfg, environ={})
    assert isinstance(cred, TokenFile)
    assert cred.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert cred.describe() == f"token file {sources['token_file']}"


def test_empty_env_var_and_credentials_dir_without_the_file_fall_through(sources: dict, tmp_path: Path) -> None:
    empty_dir = tmp_path / "empty-creds"
    empty_dir.mkdir()
    cfg = _cfg(api_key_file=sources["key_file"])
    cred = find_credential(cfg, environ={"AZURE_VOICELIVE_API_KEY": "  ", "CREDENTIALS_DIRECTORY": str(empty_dir)})
    assert cred.describe().startswith("file ")


def test_token_file_is_re_read_when_it_changes(sources: dict, caplog: pytest.LogCaptureFixture) -> None:
    path = sources["token_file"]
    cred = TokenFile(path)
    assert cred.headers()["Authorization"] == f"Bearer {TOKEN}"
    # A sidecar refreshes the token by writing a new file and renaming it over the old one.
    fresh = path.with_name("token.new")
    write_secret(fresh, "Bearer second-token-abc")
    os.replace(fresh, path)
    with caplog.at_level(logging.INFO, logger="edgevoice.config.secrets"):
        assert cred.headers()["Authorization"] == "Bearer second-token-abc"
    assert "re-read" in caplog.text and "second-token" not in caplog.text
    # Rewritten in place with the same size: the modification time tells.
    write_secret(path, "Bearer third--token-abc")
    os.utime(path, ns=(1, 1))
    assert cred.headers()["Authorization"] == "Bearer third--token-abc"


def test_token_file_vanishing_later_is_a_clear_error(sources: dict) -> None:
    cred = TokenFile(sources["token_file"])
    sources["token_file"].unlink()
    with pytest.raises(ConfigError, match="voicelive.token_file: .* does not exist"):
        cred.headers()


def test_no_credential_at_all_is_an_error_only_when_required() -> None:
    assert find_credential(_cfg(), environ={}) is None
    with pytest.raises(ConfigError) as info:
        require_credential(_cfg(), environ={})
    message = str(info.value)
    assert "no Voice Live credential" in message
    for hint in ("AZURE_VOICELIVE_API_KEY", "LoadCredential=voicelive-api-key", "voicelive.api_key_file", "voicelive.token_file"):
        assert hint in message


def test_secrets_never_show_in_repr_str_or_errors(sources: dict) -> None:
    creds = [
        find_credential(_cfg(), environ=sources["env"]),
        find_credential(_cfg(), environ=sources["creds"]),
        find_credential(_cfg(api_key_file=sources["key_file"]), environ={}),
        find_credential(_cfg(token_file=sources["token_file"]), environ={}),
        ApiKey("explicit-key-xyz"),
    ]
    for cred in creds:
        shown = repr(cred) + str(cred) + cred.describe() + repr(cred.redacted_headers())
        for secret in (KEY_ENV, KEY_CRED, KEY_FILE, TOKEN, "explicit-key-xyz"):
            assert secret not in shown
        assert set(cred.redacted_headers().values()) == {"<redacted>"}
    assert repr(creds[0]) == "ApiKey(from 'env AZURE_VOICELIVE_API_KEY')"


@pytest.mark.parametrize("bad", ["two words", "line\nbreak", "tab\tkey", "nul\x00"])
def test_keys_that_cannot_be_a_header_are_refused_without_echo(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        ApiKey(bad, "env AZURE_VOICELIVE_API_KEY")
    assert bad not in str(info.value) and "cannot carry" in str(info.value)


def test_key_file_permissions(tmp_path: Path) -> None:
    for mode, who in ((0o640, "group"), (0o604, "others"), (0o644, "group and others")):
        path = write_secret(tmp_path / f"key{mode:o}", KEY_FILE, mode)
        with pytest.raises(ConfigError) as info:
            find_credential(_cfg(api_key_file=path), environ={})
        assert str(info.value) == f"voicelive.api_key_file: {str(path)!r} is readable by {who} (mode {mode:04o}); run: chmod 600 {path}"
        assert KEY_FILE not in str(info.value)
    for mode in (0o600, 0o400, 0o620):  # group-writable is odd but not a leak
        path = write_secret(tmp_path / f"ok{mode:o}", KEY_FILE, mode)
        assert find_credential(_cfg(api_key_file=path), environ={}).headers() == {"api-key": KEY_FILE}


def test_an_overridden_key_file_is_not_read(tmp_path: Path) -> None:
    """The documented order is strict: with the env var set, a broken key file is never touched."""
    path = write_secret(tmp_path / "key", KEY_FILE, 0o644)
    cred = find_credential(_cfg(api_key_file=path), environ={"AZURE_VOICELIVE_API_KEY": KEY_ENV})
    assert cred.headers() == {"api-key": KEY_ENV}


def test_unreadable_systemd_credential(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "voicelive-api-key").mkdir()  # cannot be read as a file
    with pytest.raises(ConfigError, match="systemd credential voicelive-api-key .* cannot be read"):
        find_credential(_cfg(), environ={"CREDENTIALS_DIRECTORY": str(creds)})
    (creds / "voicelive-api-key").rmdir()
    write_secret(creds / "voicelive-api-key", "\n")
    with pytest.raises(ConfigError, match="is empty"):
        find_credential(_cfg(), environ={"CREDENTIALS_DIRECTORY": str(creds)})
