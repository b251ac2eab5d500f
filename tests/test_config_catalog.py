"""The model catalog: the data file, lookups, and agreement with the official SDK's vocabulary."""

from __future__ import annotations

import tomllib
import typing
from importlib import resources

import pytest
from azure.ai.voicelive import models as sdk

from edgevoice.config.model_catalog import default_catalog, parse_catalog
from edgevoice.config.voicelive import NOISE_REDUCTION, TURN_DETECTION_TYPES, VOICE_TYPES, OUTPUT_SAMPLE_RATES


@pytest.mark.parametrize(
    ("model", "family", "kind"),
    [
        ("gpt-realtime", "gpt-realtime", "native-audio"),
        ("gpt-realtime-mini", "gpt-realtime", "native-audio"),
        ("gpt-realtime-2025-08-28", "gpt-realtime", "native-audio"),
        ("gpt-realtime-mini-2025-12-15", "gpt-realtime", "native-audio"),
        ("phi4-mm-realtime", "phi4-mm-realtime", "native-audio"),
        ("gpt-4o", "cascaded", "cascaded"),
        ("gpt-4o-mini", "cascaded", "cascaded"),
        ("gpt-4.1", "cascaded", "cascaded"),
        ("gpt-4.1-mini", "cascaded", "cascaded"),
        ("gpt-4.1-nano", "cascaded", "cascaded"),
        ("gpt-5", "cascaded", "cascaded"),
        ("gpt-5-mini", "cascaded", "cascaded"),
        ("gpt-5-nano", "cascaded", "cascaded"),
        ("gpt-5-chat", "cascaded", "cascaded"),
        ("gpt-5.1", "cascaded", "cascaded"),
        ("gpt-5.2-nano", "cascaded", "cascaded"),
        ("phi4-mini", "cascaded", "cascaded"),
    ],
)
def test_models_resolve_to_their_family(model: str, family: str, kind: str) -> None:
    found = default_catalog().family_of(model)
    assert found is not None and (found.name, found.kind) == (family, kind)


@pytest.mark.parametrize("model", ["gpt-6", "gpt-realtime-latest", "gpt-realtime-2025-8-28", "GPT-REALTIME", "gpt-5.x", "gpt-4o-realtime", ""])
def test_unknown_models(model: str) -> None:
    assert default_catalog().family_of(model) is None


def test_class_rules_from_the_brief() -> None:
    cat = default_catalog()
    realtime, phi, cascaded = (cat.family_of(m) for m in ("gpt-realtime", "phi4-mm-realtime", "gpt-4o"))
    assert realtime and phi and cascaded
    openai_only = {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}
    assert "openai" in realtime.voice_types and {"near_field", "far_field"} <= set(realtime.noise_reduction)
    assert openai_only <= set(realtime.transcription)
    for family in (phi, cascaded):
        assert "openai" not in family.voice_types
        assert not {"near_field", "far_field"} & set(family.noise_reduction)
        assert not openai_only & set(family.transcription)
    assert phi.transcription == ("none", "azure-speech")
    for family in cat.families:  # semantic VAD and deep noise suppression with every model
        assert {"azure_semantic_vad", "azure_semantic_vad_multilingual"} <= set(family.turn_detection)
        assert "azure_deep_noise_suppression" in family.noise_reduction
        assert "azure-speech" in family.transcription


def test_catalog_vocabulary_matches_the_sdk() -> None:
    """Every word the catalog uses is one the official SDK knows (the SDK is the oracle)."""
    cat = default_catalog()
    assert set(cat.openai_voices) == {v.value for v in sdk.OpenAIVoiceName}
    noise_sdk = {a for a in typing.get_args(typing.get_type_hints(sdk.AudioNoiseReduction)["type"]) if isinstance(a, str)}
    noise_sdk |= {typing.get_args(a)[0] for a in typing.get_args(typing.get_type_hints(sdk.AudioNoiseReduction)["type"]) if typing.get_args(a)}
    transcription_sdk = {typing.get_args(a)[0] for a in typing.get_args(typing.get_type_hints(sdk.AudioInputTranscriptionOptions)["model"]) if typing.get_args(a)}
    for family in cat.families:
        assert set(family.turn_detection) - {"none"} <= {t.value for t in sdk.TurnDetectionType}
        assert set(family.noise_reduction) - {"none"} <= noise_sdk
        assert set(family.transcription) - {"none"} <= transcription_sdk
        assert set(family.output_audio_formats) <= {f.value for f in sdk.OutputAudioFormat}
        assert set(family.voice_types) - {"openai"} <= {t.value for t in sdk.AzureVoiceType}
    # the config's fixed vocabularies agree with the catalog's
    assert set(TURN_DETECTION_TYPES) == {t for f in cat.families for t in f.turn_detection}
    assert set(NOISE_REDUCTION) == {t for f in cat.families for t in f.noise_reduction}
    assert set(VOICE_TYPES) == {t for f in cat.families for t in f.voice_types}
    assert set(OUTPUT_SAMPLE_RATES) == {t for f in cat.families for t in f.output_audio_formats}


def test_known_names_list_shapes_for_patterns() -> None:
    names = default_catalog().known_names()
    assert "gpt-realtime" in names and "phi4-mini" in names and "gpt-5.N[-mini|-nano|-chat]" in names
    assert default_catalog().closest("gpt-realtim") == "gpt-realtime"
    assert default_catalog().closest("zzz") is None


def _data() -> dict:
    return tomllib.loads(resources.files("edgevoice").joinpath("data/models.toml").read_text(encoding="utf-8"))


def test_a_new_model_is_a_data_change() -> None:
    data = _data()
    data["families"]["cascaded"]["models"].append("gpt-6-chat")
    catalog = parse_catalog(data)
    assert catalog.family_of("gpt-6-chat").name == "cascaded"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["families"]["cascaded"].update(kind="hybrid"), "families.cascaded.kind"),
        (lambda d: d["families"]["cascaded"].update(models="gpt-4o"), "families.cascaded.models"),
        (lambda d: d["families"]["cascaded"]["patterns"].append({"regex": "(", "shape": "x"}), "bad regex"),
        (lambda d: d["families"]["cascaded"].update(default_voice={"type": "openai", "name": "alloy"}), "not in the family's voice_types"),
        (lambda d: d["families"]["cascaded"]["models"].append("gpt-realtime"), "already in family 'gpt-realtime'"),
        (lambda d: d.pop("openai_voices"), "openai_voices"),
    ],
)
def test_malformed_catalog_data_is_reported(mutate, message: str) -> None:
    data = _data()
    mutate(data)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_catalog(data)
