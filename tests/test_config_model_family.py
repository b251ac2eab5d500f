"""Model names the catalog does not list: family inference, voicelive.model_family, and the openai
package's realtime model and voice names (read from the installed package, not copied)."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from edgevoice.config.model_catalog import default_catalog
from edgevoice.config.errors import ConfigError
from edgevoice.config.load import parse_config
from tests.config_helpers import ENDPOINT, run_cli, run_subprocess, write_config

openai_realtime = pytest.importorskip("openai.types.realtime", reason="the openai package is in the test extra")


def _literal_strings(hint: object) -> set[str]:
    """Every string literal inside a (nested) Union/Literal type hint."""
    found: set[str] = set()
    for arg in typing.get_args(hint):
        if isinstance(arg, str):
            found.add(arg)
        else:
            found |= _literal_strings(arg)
    return found


def openai_realtime_models() -> list[str]:
    from openai.types.realtime.realtime_session_create_request_param import RealtimeSessionCreateRequestParam

    hints = typing.get_type_hints(RealtimeSessionCreateRequestParam)
    return sorted(_literal_strings(hints["model"]))


def openai_voices() -> set[str]:
    from openai.types.realtime import realtime_audio_config_output_param as output

    return _literal_strings(output.Voice)


def _vl(text: str):
    return parse_config(f"[voicelive]\n{ENDPOINT}\n{text}\n", "test.toml").voicelive


def test_the_openai_package_lists_realtime_models() -> None:
    names = openai_realtime_models()
    assert "gpt-realtime" in names and len(names) >= 10  # the oracle itself is readable


@pytest.mark.parametrize("model", openai_realtime_models())
def test_every_openai_realtime_model_is_a_known_native_audio_model(model: str) -> None:
    vl = _vl(f'model = "{model}"')
    assert (vl.family.name, vl.family.kind) == ("gpt-realtime", "native-audio")
    assert vl.model_warning is None  # listed in the catalog, not guessed


def test_check_accepts_every_openai_realtime_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for model in openai_realtime_models():
        path = write_config(tmp_path, f'[voicelive]\n{ENDPOINT}\nmodel = "{model}"\n')
        result = run_cli(["check", "--config", str(path)], capsys)
        assert result.status == 0, (model, result.err)
        assert f"model:       {model} (gpt-realtime family, native-audio)" in result.out
        assert "not in the model catalog" not in result.err


def test_catalog_openai_voices_are_the_openai_packages() -> None:
    assert set(default_catalog().openai_voices) == openai_voices()


@pytest.mark.parametrize("voice", sorted(openai_voices()))
def test_every_openai_voice_is_accepted_by_a_realtime_model(voice: str) -> None:
    assert _vl(f'model = "gpt-realtime-2"\nvoice = "{voice}"').effective_voice.type == "openai"


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gpt-realtime-3", "gpt-realtime"),
        ("gpt-realtime-2.5-mini", "gpt-realtime"),
        ("gpt-4o-realtime", "gpt-realtime"),
        ("gpt-audio-2", "gpt-realtime"),
        ("gpt-4.5", "cascaded"),
        ("gpt-4o-2024-11-20", "cascaded"),
        ("gpt-5.4-pro", "cascaded"),
        ("phi5-mini", "cascaded"),
        ("phi5-mm-realtime", "phi4-mm-realtime"),
    ],
)
def test_unknown_names_are_placed_by_their_shape_with_one_warning(model: str, family: str) -> None:
    vl = _vl(f'model = "{model}"')
    assert vl.family.name == family
    assert vl.model_warning is not None
    assert model in vl.model_warning and family in vl.model_warning and "voicelive.model_family" in vl.model_warning
    assert "\n" not in vl.model_warning


def test_model_family_places_a_name_that_cannot_be_inferred() -> None:
    vl = _vl('model = "contoso-voice-7"\nmodel_family = "cascaded"')
    assert vl.family.name == "cascaded" and vl.effective_voice.type == "azure-standard"
    assert "cascaded" in (vl.model_warning or "")


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('model = "contoso-voice-7"', "voicelive.model", "set voicelive.model_family"),
        ('model = "gpt-realtime"\nmodel_family = "cascaded"', "voicelive.model_family", "is a gpt-realtime model"),
        ('model = "contoso-voice-7"\nmodel_family = "gpt-7"', "voicelive.model_family", "is not a model family"),
        ('model = "gpt-4.5"\nvoice = "alloy"', "voicelive.voice", "OpenAI voice"),
        ('model = ""', "voicelive.model", "is empty"),
    ],
)
def test_models_that_cannot_be_placed_name_the_setting(text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        _vl(text)
    assert info.value.key == key and words in info.value.problem


def test_check_warns_once_and_run_exits_78_for_an_unplaceable_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, f'[voicelive]\n{ENDPOINT}\nmodel = "gpt-realtime-9"\n')
    result = run_cli(["check", "--config", str(path)], capsys)
    assert result.status == 0
    assert result.err.count("warning: voicelive.model 'gpt-realtime-9' is not in the model catalog") == 1
    bad = write_config(tmp_path, f'[voicelive]\n{ENDPOINT}\nmodel = "my-model"\n', name="bad.toml")
    done = run_subprocess(["check", "--config", str(bad)])
    assert done.status == 78
    assert done.err.strip().count("\n") == 0 and "voicelive.model" in done.err and "voicelive.model_family" in done.err
