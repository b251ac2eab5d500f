"""``edgevoice cache warm|list`` as a user runs it, against the emulator; and the [offline] table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config_helpers import run_cli, run_subprocess, write_config
from edgevoice.config.errors import ConfigError
from edgevoice.config.load import parse_config
from edgevoice.config.offline import DEFAULT_PHRASES
from edgevoice.voicelive.emulator import Emulator

KEY = "cli-test-key-0123456789"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=KEY) as emulator:
        yield emulator


def config(tmp_path: Path, endpoint: str, voice: str = "alloy") -> Path:
    return write_config(tmp_path, f"""
[voicelive]
endpoint = "{endpoint}"
voice = "{voice}"
[offline]
cache_dir = "{tmp_path / 'cache'}"
phrases = {{ offline = "Sorry, I am offline.", opening_hours = "We open at nine." }}
""")


def test_list_warm_list_against_the_service(tmp_path, emu):
    cfg = str(config(tmp_path, emu.url))
    listed = run_subprocess(["cache", "list", "--config", cfg])
    assert listed.status == 1, listed.err
    assert "offline        missing" in listed.out and "opening_hours  missing" in listed.out
    assert "7 of 7 not cached" in listed.out and "espeak-ng stands in" in listed.out
    assert not (tmp_path / "cache").exists(), "listing creates nothing"

    warmed = run_subprocess(["cache", "warm", "--config", cfg], env={"AZURE_VOICELIVE_API_KEY": KEY})
    assert warmed.status == 0, warmed.err
    assert warmed.out.count(" rendered ") == 7 and "warm: 7 rendered, 0 already cached" in warmed.out
    assert KEY not in warmed.out + warmed.err
    texts = sorted(e["response"]["pre_generated_assistant_message"]["content"][0]["text"]
                   for e in emu.session().events("response.create"))
    assert texts == sorted({**DEFAULT_PHRASES, "offline": "Sorry, I am offline.", "opening_hours": "We open at nine."}.values())

    listed = run_subprocess(["cache", "list", "--config", cfg])
    assert listed.status == 0 and "all 7 phrases cached" in listed.out
    assert "offline        cached" in listed.out

    again = run_subprocess(["cache", "warm", "--config", cfg], env={"AZURE_VOICELIVE_API_KEY": KEY})
    assert again.status == 0 and "0 rendered, 7 already cached" in again.out and emu.accepted == 1

    # Another voice: everything is stale until rendered again.
    cfg = str(config(tmp_path, emu.url, voice="echo"))
    listed = run_subprocess(["cache", "list", "--config", cfg])
    assert listed.status == 1 and listed.out.count("stale") == 7 and "(rendered for alloy, gpt-realtime)" in listed.out


def test_warm_without_a_credential_or_a_service_fails_clearly(tmp_path, emu, capsys):
    cfg = str(config(tmp_path, emu.url))
    result = run_subprocess(["cache", "warm", "--config", cfg])
    assert result.status == 78 and "no Voice Live credential" in result.err
    emu.stop()
    result = run_subprocess(["cache", "warm", "--config", cfg], env={"AZURE_VOICELIVE_API_KEY": KEY})
    assert result.status == 1 and "cannot open a Voice Live session" in result.err and "connection refused" in result.err
    assert run_cli(["cache", "list", "--config", str(tmp_path / "nope.toml")], capsys).status == 78


def test_the_offline_table_fills_in_the_default_phrases_and_checks_its_values():
    base = '[voicelive]\nendpoint = "https://r.services.ai.azure.com"\n'
    cfg = parse_config(base, "<t>").offline
    assert cfg.cache_dir == Path("/var/cache/edgevoice") and cfg.phrases == dict(DEFAULT_PHRASES) and cfg.warm
    cfg = parse_config(base + '[offline.phrases]\nbusy = "  Too   busy. "\nwifi = "Ask at the desk for Wi-Fi."\n', "<t>").offline
    assert cfg.phrases["busy"] == "Too busy." and cfg.phrases["wifi"] == "Ask at the desk for Wi-Fi."
    assert set(DEFAULT_PHRASES) <= set(cfg.phrases)
    for bad, message in [
        ('[offline.phrases]\noffline = ""', "is empty"),
        ('[offline.phrases]\n"Bad Name" = "x"', "not a phrase name"),
        ('[offline.phrases]\noffline = 3', "expected the text"),
        ("[offline]\nphrases = 3", "expected a table"),
        (f'[offline.phrases]\noffline = "{"word " * 100}"', "keep a phrase under"),
        ("[offline]\nprobe_min_s = 10\nprobe_max_s = 5", "shorter than probe_min_s"),
        ("[offline]\nprobe_min_s = 0", "out of range"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_config(base + bad + "\n", "<t>")
