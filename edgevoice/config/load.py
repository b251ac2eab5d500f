"""Read the TOML config file into the frozen dataclasses of :mod:`edgevoice.config.schema`.

The loader is generic: it walks the dataclasses, converts each TOML value by the field's type hint
(bool, int, float, str, Path, Optional, Literal, list, tuple, dict, Enum, nested dataclass), applies
the rules in the field metadata (min/max/choices/parse, see :mod:`edgevoice.config.fields`), and
then calls the optional ``check(self)`` method of every section, innermost first, for rules that
span several keys. A ``ConfigError`` raised by ``check`` may name its key relative to the section
("voice") or in full ("voicelive.voice"); the loader adds the section path and the file name.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path, PurePath
from typing import Any, Literal, Union

from edgevoice.config import fields as F
from edgevoice.config.errors import ConfigError, shown
from edgevoice.config.schema import Config

DEFAULT_PATH = Path("/etc/edgevoice/edgevoice.toml")
CONFIG_ENV = "EDGEVOICE_CONFIG"
BUNDLED_DEFAULT = "data/default.toml"

# Unknown keys with these names are refused without showing their value: secrets never go in the file.
SECRET_KEY_NAMES = frozenset(
    {"api_key", "api-key", "apikey", "key", "secret", "password", "token", "access_token", "bearer_token", "authorization"}
)
SECRET_ADVICE = (
    "the API key is never in the config file (value not shown); use $AZURE_VOICELIVE_API_KEY, "
    "the systemd credential 'voicelive-api-key' (LoadCredential=), or voicelive.api_key_file / voicelive.token_file"
)

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def config_path(path: str | Path | None = None, *, environ: Mapping[str, str] = os.environ) -> tuple[Path, str]:
    """Which file to read, and why: ``--config``, else ``$EDGEVOICE_CONFIG``, else /etc/edgevoice/edgevoice.toml."""
    if path is not None and str(path) != "":
        return Path(path), "given with --config"
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]), f"from ${CONFIG_ENV}"
    return DEFAULT_PATH, f"the default; pass --config PATH or set ${CONFIG_ENV}"


def load_config(path: str | Path | None = None, *, environ: Mapping[str, str] = os.environ) -> Config:
    """Read and validate the config file; any problem is a one-line ConfigError."""
    file, why = config_path(path, environ=environ)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError("", f"config file {str(file)!r} does not exist ({why})") from None
    except IsADirectoryError:
        raise ConfigError("", f"config file {str(file)!r} is a directory, not a file ({why})") from None
    except PermissionError:
        raise ConfigError("", f"config file {str(file)!r} cannot be read: permission denied ({why})") from None
    except OSError as exc:
        raise ConfigError("", f"config file {str(file)!r} cannot be read: {exc.strerror or exc} ({why})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("", f"line {line}: not UTF-8 text (byte {data[exc.start:exc.start + 1]!r})", source=str(file)) from None
    return parse_config(text, str(file))


def load_default_config() -> Config:
    """The config bundled with edgevoice (``edgevoice/data/default.toml``): the local emulator demo."""
    text = resources.files("edgevoice").joinpath(BUNDLED_DEFAULT).read_text(encoding="utf-8")
    return parse_config(text, f"<edgevoice/{BUNDLED_DEFAULT}>")


def parse_config(text: str, source: str) -> Config:
    """Validate config text; ``source`` names it in messages (a path or "<string>")."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(exc, text, source) from None
    try:
        config = build(Config, raw, "")
        run_checks(config, "")
    except ConfigError as exc:
        if exc.source is not None:
            raise
        raise ConfigError(exc.key, exc.problem, source=source) from None
    return config


def build(cls: type, table: Any, path: str) -> Any:
    """One dataclass from one TOML table; ``path`` is its key path ("" for the root)."""
    if not isinstance(table, dict):
        raise ConfigError(path, f"expected a table, got {shown(table)} ({_toml_type(table)})")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        keypath = _join(path, key)
        field = fields.get(key)
        if field is None:
            raise _unknown_key(key, value, path, sorted(fields))
        kwargs[key] = convert_field(field, hints[key], value, keypath)
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a section validating itself in __post_init__
        raise ConfigError(path, str(exc)) from None


def convert_field(field: dataclasses.Field[Any], hint: Any, value: Any, keypath: str) -> Any:
    """A field's value from TOML: its ``parse`` function or its type hint, then min/max/choices."""
    parse = field.metadata.get(F.PARSE)
    result = parse(value, keypath) if parse is not None else convert(hint, value, keypath)
    choices = field.metadata.get(F.CHOICES)
    if choices is not None and result not in choices:
        raise _not_a_choice(result, choices, keypath)
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        low, high = field.metadata.get(F.MIN), field.metadata.get(F.MAX)
        if (low is not None and result < low) or (high is not None and result > high):
            raise ConfigError(keypath, f"{shown(value)} is out of range; allowed {_range(low, high)}")
    return result


def convert(hint: Any, value: Any, keypath: str) -> Any:
    """Turn a TOML value into ``hint``; bool is not an int, an int is accepted for a float."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin is Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return convert(members[0], value, keypath)
        for member in members:
            try:
                return convert(member, value, keypath)
            except ConfigError:
                continue
        raise _wrong_type(hint, value, keypath)
    if origin is Literal:
        if any(type(value) is type(a) and value == a for a in args):
            return value
        raise _not_a_choice(value, args, keypath)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _wrong_type(hint, value, keypath)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _wrong_type(hint, value, keypath)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and math.isnan(value):
                raise ConfigError(keypath, "nan is not a number; give a number")
            return float(value)
        raise _wrong_type(hint, value, keypath)
    if hint is str:
        if isinstance(value, str):
            return value
        raise _wrong_type(hint, value, keypath)
    if isinstance(hint, type) and issubclass(hint, PurePath):
        if not isinstance(value, str):
            raise _wrong_type(hint, value, keypath)
        if not value.strip():
            raise ConfigError(keypath, "is an empty path; give a file name or leave the key out")
        return Path(value) if hint is PurePath else hint(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        for member in hint:
            if type(member.value) is type(value) and member.value == value:
                return member
        raise _not_a_choice(value, [m.value for m in hint], keypath)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list):
            raise _wrong_type(hint, value, keypath)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(keypath, f"{shown(value)} has {len(value)} items; expected {len(args)}")
            return tuple(convert(a, v, f"{keypath}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [convert(item, v, f"{keypath}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or hint) is tuple else items
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, dict):
            raise _wrong_type(hint, value, keypath)
        item = args[1] if len(args) == 2 else Any
        return {k: convert(item, v, _join(keypath, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build(hint, value, keypath)
    raise TypeError(f"the config loader cannot read type {hint!r} (key {keypath})")


def run_checks(obj: Any, path: str) -> None:
    """Call ``check()`` on every dataclass in the tree, innermost first, qualifying its key path."""
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        keypath = _join(path, field.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            run_checks(value, keypath)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item) and not isinstance(item, type):
                    run_checks(item, f"{keypath}[{i}]")
        elif isinstance(value, dict):
            for k, item in value.items():
                if dataclasses.is_dataclass(item) and not isinstance(item, type):
                    run_checks(item, _join(keypath, str(k)))
    check = getattr(obj, "check", None)
    if callable(check):
        try:
            check()
        except ConfigError as exc:
            raise ConfigError(_qualify(path, exc.key), exc.problem, source=exc.source) from None


def describe_type(hint: Any) -> str:
    """What a type hint accepts, in the words of a TOML user."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union or origin is types.UnionType:
        return " or ".join(describe_type(a) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    simple = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in simple:
        return simple[hint]
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return "a path string"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    if origin in (list, tuple) or hint in (list, tuple):
        inner = [a for a in args if a is not Ellipsis]
        return f"a list of {_plural(describe_type(inner[0]))}" if inner else "a list"
    if origin in (dict, Mapping) or hint is dict:
        return "a table"
    if dataclasses.is_dataclass(hint):
        return "a table"
    return getattr(hint, "__name__", str(hint))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _join(path: str, key: str) -> str:
    if not _BARE_KEY.fullmatch(key):
        key = json.dumps(key)  # the TOML spelling of a quoted key; keeps the message on one line
    return f"{path}.{key}" if path else key


def _qualify(path: str, key: str) -> str:
    if not path or key == path or key.startswith((path + ".", path + "[")):
        return key
    return f"{path}.{key}" if key else path  # key is already a path ("transcription.model"): no quoting


def _plural(text: str) -> str:
    for article in ("an ", "a "):
        if text.startswith(article):
            return text[len(article):] + "s"
    return text


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def _toml_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", dict: "table", list: "array"}
    return names.get(type(value), "date/time" if hasattr(value, "isoformat") else type(value).__name__)


def _wrong_type(hint: Any, value: Any, keypath: str) -> ConfigError:
    return ConfigError(keypath, f"expected {describe_type(hint)}, got {shown(value)} ({_toml_type(value)})")


def _not_a_choice(value: Any, choices: Any, keypath: str) -> ConfigError:
    words = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(value, words, n=1, cutoff=0.6) if isinstance(value, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(keypath, f"{shown(value)} is not allowed; choose one of {', '.join(repr(c) for c in choices)}{hint}")


def _unknown_key(key: str, value: Any, path: str, known: list[str]) -> ConfigError:
    keypath = _join(path, key)
    if key.lower() in SECRET_KEY_NAMES:
        return ConfigError(keypath, SECRET_ADVICE)
    where = f"[{path}]" if path else "the top level"
    what = f"table [{keypath}]" if isinstance(value, dict) else f"key {key!r}"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ConfigError(keypath, f"unknown {what} in {where}; {hint}known: {', '.join(known)}")


def _looks_secret(line: str) -> bool:
    """A line that may hold a secret is not quoted back: a broken ``api_key = "...`` or a pasted bare key."""
    if "=" not in line and not line.startswith(("[", "#")):
        return True
    name = line.split("=", 1)[0].strip().strip("\"'").lower()
    return name in SECRET_KEY_NAMES or any(word in name for word in ("key", "token", "secret", "password"))


def _syntax_error(exc: tomllib.TOMLDecodeError, text: str, source: str) -> ConfigError:
    message = str(exc)
    match = _TOML_POSITION.search(message)
    if match is None:
        end = message.removesuffix(" (at end of document)")
        if end != message:
            last = len(text.splitlines())
            return ConfigError("", f"line {last} (end of file): TOML syntax error: {end}", source=source)
        return ConfigError("", f"TOML syntax error: {message}", source=source)
    line, column = int(match.group(1)), int(match.group(2))
    lines = text.splitlines()
    bad = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    quoted = f"; the line reads {shown(bad, 60)}" if bad and not _looks_secret(bad) else ""
    return ConfigError(
        "", f"line {line}, column {column}: TOML syntax error: {message[: match.start()]}{quoted}", source=source
    )
