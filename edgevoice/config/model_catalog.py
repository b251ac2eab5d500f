"""The Voice Live model catalog: which models exist and which session options each accepts.

The catalog is data (``edgevoice/data/models.toml``), not code: models are grouped into families
(the gpt-realtime family, phi4-mm-realtime, cascaded models) and each family lists the voice types,
noise reduction, transcription models, turn detection types and output formats it allows.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

KINDS = ("native-audio", "cascaded")
_LIST_KEYS = ("voice_types", "noise_reduction", "transcription", "turn_detection", "output_audio_formats")


@dataclass(frozen=True)
class ModelPattern:
    """A family of model names written as a regex, with the shape shown to users."""

    regex: re.Pattern[str]
    shape: str

    def matches(self, name: str) -> bool:
        return self.regex.fullmatch(name) is not None


@dataclass(frozen=True)
class ModelFamily:
    """Models that accept the same session options, and what those options are."""

    name: str
    kind: str  # "native-audio" (speech in, speech out) or "cascaded" (speech-to-text, LLM, text-to-speech)
    description: str
    models: tuple[str, ...]
    patterns: tuple[ModelPattern, ...]
    voice_types: tuple[str, ...]
    noise_reduction: tuple[str, ...]
    transcription: tuple[str, ...]
    turn_detection: tuple[str, ...]
    output_audio_formats: tuple[str, ...]
    default_voice: tuple[str, str]  # (type, name)
    infer: tuple[re.Pattern[str], ...] = ()  # names outside the catalog that still belong here (a newer model)

    def has(self, model: str) -> bool:
        """True when ``model`` is one of this family's names or matches one of its patterns."""
        return model in self.models or any(p.matches(model) for p in self.patterns)

    def claims(self, model: str) -> bool:
        """True when ``model`` is not a known name but looks like one of this family's (``infer``)."""
        return any(rx.fullmatch(model) is not None for rx in self.infer)


@dataclass(frozen=True)
class Catalog:
    """Every known model family, in the order of the data file."""

    families: tuple[ModelFamily, ...]
    openai_voices: tuple[str, ...]

    def family_of(self, model: str) -> ModelFamily | None:
        """The family ``model`` belongs to, or None for an unknown name."""
        return next((f for f in self.families if f.has(model)), None)

    def inferred_family(self, model: str) -> ModelFamily | None:
        """The family an unknown ``model`` name looks like it belongs to (e.g. a newer gpt-realtime), or None."""
        return next((f for f in self.families if f.claims(model)), None)

    def named(self, name: str) -> ModelFamily | None:
        """The family called ``name`` (as in ``voicelive.model_family``), or None."""
        return next((f for f in self.families if f.name == name), None)

    def family_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.families)

    def known_names(self) -> tuple[str, ...]:
        """Every exact model name, then the shapes of the patterns (e.g. ``gpt-5.N``)."""
        names = [m for f in self.families for m in f.models]
        shapes = [p.shape for f in self.families for p in f.patterns]
        return tuple(names + shapes)

    def closest(self, model: str) -> str | None:
        """The known model name nearest to a mistyped one, if any is close."""
        names = [m for f in self.families for m in f.models]
        found = difflib.get_close_matches(model, names, n=1, cutoff=0.6)
        return found[0] if found else None

    def transcription_models(self) -> tuple[str, ...]:
        """Every transcription model some family accepts (including "none")."""
        seen: dict[str, None] = {}
        for family in self.families:
            seen.update(dict.fromkeys(family.transcription))
        return tuple(seen)

    def families_with(self, option: str, value: str) -> tuple[ModelFamily, ...]:
        """The families whose list ``option`` (e.g. "voice_types") contains ``value``."""
        return tuple(f for f in self.families if value in getattr(f, option))


def parse_catalog(data: Mapping[str, Any], source: str = "models.toml") -> Catalog:
    """Build a Catalog from the parsed data file; a malformed file raises ValueError naming the entry."""

    def fail(where: str, problem: str) -> ValueError:
        return ValueError(f"{source}: {where}: {problem}")

    voices = data.get("openai_voices")
    if not isinstance(voices, list) or not all(isinstance(v, str) for v in voices):
        raise fail("openai_voices", "must be a list of voice names")
    families_raw = data.get("families")
    if not isinstance(families_raw, dict) or not families_raw:
        raise fail("families", "must be a table of model families")
    families: list[ModelFamily] = []
    for name, raw in families_raw.items():
        where = f"families.{name}"
        if not isinstance(raw, dict):
            raise fail(where, "must be a table")
        if raw.get("kind") not in KINDS:
            raise fail(f"{where}.kind", f"must be one of {', '.join(KINDS)}")
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("models", *_LIST_KEYS):
            value = raw.get(key)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise fail(f"{where}.{key}", "must be a list of strings")
            lists[key] = tuple(value)
        patterns = []
        for i, pat in enumerate(raw.get("patterns", [])):
            if not isinstance(pat, dict) or not isinstance(pat.get("regex"), str) or not isinstance(pat.get("shape"), str):
                raise fail(f"{where}.patterns[{i}]", "must be {regex = '...', shape = '...'}")
            try:
                patterns.append(ModelPattern(re.compile(pat["regex"]), pat["shape"]))
            except re.error as exc:
                raise fail(f"{where}.patterns[{i}]", f"bad regex: {exc}") from None
        infer = raw.get("infer", [])
        if not isinstance(infer, list) or not all(isinstance(v, str) for v in infer):
            raise fail(f"{where}.infer", "must be a list of regexes")
        try:
            inferred = tuple(re.compile(rx) for rx in infer)
        except re.error as exc:
            raise fail(f"{where}.infer", f"bad regex: {exc}") from None
        voice = raw.get("default_voice")
        if not isinstance(voice, dict) or not isinstance(voice.get("type"), str) or not isinstance(voice.get("name"), str):
            raise fail(f"{where}.default_voice", "must be {type = '...', name = '...'}")
        if voice["type"] not in lists["voice_types"]:
            raise fail(f"{where}.default_voice", f"type {voice['type']!r} is not in the family's voice_types")
        families.append(
            ModelFamily(
                name=name,
                kind=raw["kind"],
                description=str(raw.get("description", "")),
                models=lists["models"],
                patterns=tuple(patterns),
                voice_types=lists["voice_types"],
                noise_reduction=lists["noise_reduction"],
                transcription=lists["transcription"],
                turn_detection=lists["turn_detection"],
                output_audio_formats=lists["output_audio_formats"],
                default_voice=(voice["type"], voice["name"]),
                infer=inferred,
            )
        )
    seen: dict[str, str] = {}
    for family in families:
        for model in family.models:
            if model in seen:
                raise fail(f"families.{family.name}.models", f"{model!r} is already in family {seen[model]!r}")
            seen[model] = family.name
    return Catalog(families=tuple(families), openai_voices=tuple(voices))


@cache
def default_catalog() -> Catalog:
    """The catalog shipped with edgevoice (``edgevoice/data/models.toml``), read once."""
    text = resources.files("edgevoice").joinpath("data/models.toml").read_text(encoding="utf-8")
    return parse_catalog(tomllib.loads(text), "edgevoice/data/models.toml")
