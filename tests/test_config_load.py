"""The generic loader: type conversion by hint, field rules, check() hooks, path resolution, shipped files."""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from config_helpers import ENDPOINT, EXAMPLE, write_config
from edgevoice.config import load
from edgevoice.config.errors import ConfigError
from edgevoice.config.fields import setting
from edgevoice.config.load import build, config_path, load_config, load_default_config, parse_config, run_checks
from edgevoice.config.schema import Config
from edgevoice.config.voicelive import VoiceConfig, VoiceLiveConfig


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Inner:
    level: int = setting(1, "a level", min=0, max=9)

    def check(self) -> None:
        if self.level == 7:
            raise ConfigError("level", "7 is unlucky")


@dataclass(frozen=True)
class Sample:
    flag: bool = setting(False, "a bool")
    count: int = setting(0, "an int", min=0)
    ratio: float = setting(0.5, "a float", max=1.0)
    name: str = setting("x", "a string", choices=("x", "y"))
    path: Path | None = setting(None, "a path")
    mode: Literal["fast", "slow"] = setting("fast", "a literal")
    words: list[str] = setting(default_factory=list, doc="a list")
    pair: tuple[int, int] = setting((0, 0), "a fixed tuple")
    many: tuple[float, ...] = setting((), "a tuple of floats")
    colour: Colour = setting(Colour.RED, "an enum")
    table: dict[str, int] = setting(default_factory=dict, doc="a dict")
    either: int | str = setting(0, "a union")
    inner: Inner = setting(default_factory=Inner, doc="nested")
    maybe: Inner | None = setting(None, "optional nested")


def _build(table: dict) -> Sample:
    sample = build(Sample, table, "s")
    run_checks(sample, "s")
    return sample


def test_every_supported_type_converts() -> None:
    sample = _build(
        {
            "flag": True, "count": 3, "ratio": 1, "name": "y", "path": "/etc/x", "mode": "slow", "words": ["a", "b"],
            "pair": [1, 2], "many": [1, 2.5], "colour": "blue", "table": {"a": 1}, "either": "text",
            "inner": {"level": 2}, "maybe": {"level": 3},
        }
    )
    assert sample == Sample(
        flag=True, count=3, ratio=1.0, name="y", path=Path("/etc/x"), mode="slow", words=["a", "b"], pair=(1, 2),
        many=(1.0, 2.5), colour=Colour.BLUE, table={"a": 1}, either="text", inner=Inner(2), maybe=Inner(3),
    )
    assert isinstance(sample.ratio, float) and isinstance(sample.many, tuple) and isinstance(sample.words, list)
    assert _build({}) == Sample()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"flag": 1}, "s.flag: expected true or false, got 1 (integer)"),
        ({"count": True}, "s.count: expected an integer, got True (boolean)"),
        ({"count": 1.0}, "s.count: expected an integer, got 1.0 (float)"),
        ({"count": -1}, "s.count: -1 is out of range; allowed at least 0"),
        ({"ratio": "1"}, "s.ratio: expected a number, got '1' (string)"),
        ({"ratio": 1.5}, "s.ratio: 1.5 is out of range; allowed at most 1"),
        ({"ratio": float("nan")}, "s.ratio: nan is not a number"),
        ({"name": "z"}, "s.name: 'z' is not allowed; choose one of 'x', 'y'"),
        ({"path": 5}, "s.path: expected a path string, got 5 (integer)"),
        ({"mode": "fats"}, "s.mode: 'fats' is not allowed; choose one of 'fast', 'slow'; did you mean 'fast'?"),
        ({"words": ["a", 1]}, "s.words[1]: expected a string, got 1 (integer)"),
        ({"pair": [1]}, "s.pair: [1] has 1 items; expected 2"),
        ({"many": [True]}, "s.many[0]: expected a number, got True (boolean)"),
        ({"colour": "green"}, "s.colour: 'green' is not allowed; choose one of 'red', 'blue'"),
        ({"table": {"a": "b"}}, "s.table.a: expected an integer, got 'b' (string)"),
        ({"either": 1.5}, "s.either: expected an integer or a string, got 1.5 (float)"),
        ({"inner": {"level": 10}}, "s.inner.level: 10 is out of range; allowed 0 to 9"),
        ({"inner": {"lvl": 1}}, "s.inner.lvl: unknown key 'lvl' in [s.inner]; did you mean 'level'? known: level"),
        ({"inner": {"level": 7}}, "s.inner.level: 7 is unlucky"),
        ({"maybe": {"level": 7}}, "s.maybe.level: 7 is unlucky"),
        ({"inner": 3}, "s.inner: expected a table, got 3 (integer)"),
    ],
)
def test_bad_values_name_the_key_and_value(table: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _build(table)
    assert str(info.value).startswith(message), str(info.value)


def test_long_values_are_truncated_in_messages() -> None:
    with pytest.raises(ConfigError) as info:
        _build({"name": "z" * 500})
    assert len(str(info.value)) < 160 and "..." in str(info.value)


@dataclass(frozen=True)
class Full:
    a: int = 0

    def check(self) -> None:
        raise ConfigError("top.sub.a", "full path kept")


@dataclass(frozen=True)
class Top:
    sub: Full = dataclasses.field(default_factory=Full)


def test_check_keys_may_be_relative_or_full() -> None:
    with pytest.raises(ConfigError) as info:
        run_checks(build(Top, {}, "top"), "top")
    assert str(info.value) == "top.sub.a: full path kept"


@dataclass(frozen=True)
class SelfChecking:
    low: int = 0
    high: int = 1

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")


def test_post_init_value_errors_become_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        build(SelfChecking, {"low": 5}, "range")
    assert str(info.value) == "range: low 5 is above high 1"


def test_an_unsupported_type_is_a_programming_error() -> None:
    @dataclass(frozen=True)
    class Odd:
        value: complex = 0j

    with pytest.raises(TypeError, match="cannot read type"):
        build(Odd, {"value": 1}, "odd")


def test_parse_config_adds_the_source_to_every_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[voicelive]\n{ENDPOINT}\ntemperature = 3\n", "<here>")
    assert info.value.source == "<here>" and info.value.key == "voicelive.temperature"
    assert str(info.value) == "<here>: voicelive.temperature: 3 is out of range; allowed 0.6 to 1.2"


def test_config_is_frozen() -> None:
    config = parse_config(f"[voicelive]\n{ENDPOINT}\n", "<s>")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.voicelive.model = "gpt-4o"  # type: ignore[misc]


@pytest.mark.parametrize(
    "model",
    ["gpt-realtime", "gpt-realtime-mini", "gpt-realtime-2025-08-28", "gpt-realtime-mini-2025-10-06", "gpt-5.1",
     "gpt-5.2-chat", "gpt-5.3-mini", "gpt-4.1-nano", "phi4-mini", "phi4-mm-realtime"],
)
def test_known_models_and_patterns_load(model: str) -> None:
    voice = "" if model.startswith("gpt-realtime") else 'voice = "en-US-AvaNeural"'
    config = parse_config(f'[voicelive]\n{ENDPOINT}\nmodel = "{model}"\n{voice}\n', "<s>")
    assert config.voicelive.model == model


def test_voice_forms() -> None:
    def voice(text: str) -> VoiceConfig | None:
        return parse_config(f"[voicelive]\n{ENDPOINT}\n{text}\n", "<s>").voicelive.voice

    assert voice("") is None
    assert voice('voice = "marin"') == VoiceConfig(type="openai", name="marin")
    assert voice('voice = "en-US-Ava:DragonHDLatestNeural"') == VoiceConfig(type="azure-standard", name="en-US-Ava:DragonHDLatestNeural")
    assert voice('voice = {type = "azure-standard", name = "en-GB-SoniaNeural", rate = 1.2, volume = 80}') == VoiceConfig(
        type="azure-standard", name="en-GB-SoniaNeural", rate="1.2", volume="80"
    )
    assert voice('voice = {type = "azure-personal", name = "me", model = "DragonLatestNeural"}').model == "DragonLatestNeural"
    assert voice('[voicelive.voice]\ntype = "azure-custom"\nname = "Mine"\nendpoint_id = "abc"').endpoint_id == "abc"
    assert voice('[voicelive.voice]\nname = "en-US-AvaNeural"\nstyle = "calm"').type == "azure-standard"
    assert voice('voice = {name = "verse"}') == VoiceConfig(type="openai", name="verse")


def test_endpoints_are_normalised() -> None:
    def endpoint(url: str) -> str:
        return parse_config(f'[voicelive]\nendpoint = "{url}"\n', "<s>").voicelive.endpoint

    assert endpoint("https://r.services.ai.azure.com/") == "https://r.services.ai.azure.com"
    assert endpoint("HTTPS://r.cognitiveservices.azure.com/gw/") == "https://r.cognitiveservices.azure.com/gw"
    assert endpoint("http://127.0.0.1:8765") == "http://127.0.0.1:8765"
    assert endpoint("http://localhost:8765/") == "http://localhost:8765"
    assert endpoint("ws://[::1]:9000") == "ws://[::1]:9000"
    for bad in ("http://10.0.0.1:8765", "https://user:pw@r.azure.com", "https://r.azure.com:99999", "r.azure.com"):
        with pytest.raises(ConfigError, match="voicelive.endpoint"):
            endpoint(bad)


# --- which file is read ---------------------------------------------------------------------------

def test_explicit_path_beats_environment(tmp_path: Path) -> None:
    explicit = write_config(tmp_path, f'[voicelive]\n{ENDPOINT}\nmodel = "gpt-realtime-mini"\n', "explicit.toml")
    from_env = write_config(tmp_path, f'[voicelive]\n{ENDPOINT}\nmodel = "gpt-4o"\nvoice = "en-US-AvaNeural"\n', "env.toml")
    environ = {"EDGEVOICE_CONFIG": str(from_env)}
    assert load_config(explicit, environ=environ).voicelive.model == "gpt-realtime-mini"
    assert load_config(None, environ=environ).voicelive.model == "gpt-4o"
    assert load_config("", environ=environ).voicelive.model == "gpt-4o"


def test_default_path_is_etc(tmp_path: Path) -> None:
    assert config_path(None, environ={}) == (Path("/etc/edgevoice/edgevoice.toml"), "the default; pass --config PATH or set $EDGEVOICE_CONFIG")
    assert config_path(None, environ={"EDGEVOICE_CONFIG": ""})[0] == Path("/etc/edgevoice/edgevoice.toml")
    if not Path("/etc/edgevoice/edgevoice.toml").exists():
        with pytest.raises(ConfigError, match=re.escape("'/etc/edgevoice/edgevoice.toml' does not exist (the default")):
            load_config(None, environ={})


def test_missing_env_file_says_where_the_name_came_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("does not exist (from $EDGEVOICE_CONFIG)")):
        load_config(None, environ={"EDGEVOICE_CONFIG": str(tmp_path / "gone.toml")})


# --- the shipped files ----------------------------------------------------------------------------

def test_bundled_default_is_the_emulator_demo() -> None:
    vl = load_default_config().voicelive
    assert vl.endpoint == "http://127.0.0.1:8765"
    assert (vl.model, vl.output_audio_format, vl.turn_detection.type) == ("gpt-realtime", "pcm16_16000hz", "none")
    assert vl.voice == VoiceConfig(type="openai", name="alloy")


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.voicelive.endpoint == "https://my-resource.services.ai.azure.com"
    assert config.voicelive.model == "gpt-realtime"


def _key_paths(cls: type, prefix: str = "") -> list[tuple[str, str]]:
    """(key path, leaf name) of every config key, descending into nested sections."""
    out = []
    hints = load._hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}.{f.name}" if prefix else f.name
        nested = [t for t in (hints[f.name], *getattr(hints[f.name], "__args__", ())) if dataclasses.is_dataclass(t)]
        if nested:
            out.extend(_key_paths(nested[0], path))
        else:
            out.append((path, f.name))
    return out


def test_example_explains_every_key() -> None:
    """Each key of the schema appears in the example (set or commented out), so none is undocumented."""
    text = EXAMPLE.read_text(encoding="utf-8")
    missing = [path for path, leaf in _key_paths(Config) if not re.search(rf"^#?\s*{re.escape(leaf)}\s*=", text, re.M)]
    assert missing == []
    for section in ("[voicelive]", "[voicelive.turn_detection]", "[voicelive.transcription]", "[voicelive.turn_detection.end_of_utterance]"):
        assert section in text


def test_every_field_has_a_doc() -> None:
    def walk(cls: type) -> list[str]:
        undocumented = []
        hints = load._hints(cls)
        for f in dataclasses.fields(cls):
            if not f.metadata.get("doc"):
                undocumented.append(f"{cls.__name__}.{f.name}")
            for t in (hints[f.name], *getattr(hints[f.name], "__args__", ())):
                if dataclasses.is_dataclass(t):
                    undocumented.extend(walk(t))
        return undocumented

    assert walk(VoiceLiveConfig) == []


# --- any input: a Config or a ConfigError, never a crash ------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.one_of(
    st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(["none", "inf", "alloy", "en-US-AvaNeural", "gpt-4o", "phi4-mm-realtime", "near_field", "server_vad",
                     "azure-standard", "azure-custom", "whisper-1", "azure-speech", "pcm16", "2026-07-15", "/nonexistent/x"]),
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _table(cls: type) -> st.SearchStrategy[dict]:
    names = [f.name for f in dataclasses.fields(cls)] + ["bogus", "api_key"]
    return st.dictionaries(st.sampled_from(names), _values, max_size=6)


_voicelive = st.fixed_dictionaries(
    {"endpoint": st.sampled_from(["https://r.services.ai.azure.com", "http://127.0.0.1:1", "http://remote", "", "x"])},
    optional={
        **{k: _values for k in ("model", "voice", "temperature", "max_response_output_tokens", "noise_reduction", "api_version")},
        "turn_detection": _table(load._hints(VoiceLiveConfig)["turn_detection"]),
        "transcription": _table(load._hints(VoiceLiveConfig)["transcription"]),
    },
)


@given(voicelive=_voicelive, extra=st.dictionaries(st.sampled_from(["audio", "listening", "buttons", "other"]), _values, max_size=2))
def test_arbitrary_input_gives_a_config_or_a_config_error(voicelive: dict, extra: dict) -> None:
    try:
        config = build(Config, {"voicelive": voicelive, **extra}, "")
        run_checks(config, "")
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.split(":")[0]
        assert "Traceback" not in message


def test_odd_key_names_stay_on_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f'[voicelive]\n{ENDPOINT}\n"tempe\\nrature" = 1\n', "<s>")
    assert str(info.value).startswith('<s>: voicelive."tempe\\nrature": unknown key') and "\n" not in str(info.value)


def test_every_commented_example_value_is_valid(tmp_path: Path) -> None:
    """Uncommenting the example's `# key = value` lines (and the optional table) still loads."""
    # Left commented: a second credential file (one is allowed), a model file that does not exist here,
    # and the Azure OpenAI deployment name (the example is a Voice Live config).
    keep_commented = ("token_file", "model_files", "deployment")
    lines = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^# (\[\[?[\w.]+\]\]?|(\w+) = .*)$", line)
        if match and match.group(2) not in keep_commented:
            line = match.group(1)
        lines.append(line)
    text = "\n".join(lines).replace('model = "none"', 'model = "azure-speech"')  # language etc. need a model
    key = tmp_path / "api-key"
    key.write_text("k")
    key.chmod(0o600)
    text = text.replace('"/etc/edgevoice/api-key"', f'"{key}"')
    assert text.count("\n# ") < EXAMPLE.read_text(encoding="utf-8").count("\n# ")
    config = parse_config(text, "<uncommented example>")
    assert config.voicelive.turn_detection.end_of_utterance is not None
    assert config.voicelive.max_response_output_tokens == 600
    assert config.buttons.push_to_talk_pin == 17
    assert config.tools.gpio[0].name == "lights" and config.tools.mcp[0].server_label == "bookings"
