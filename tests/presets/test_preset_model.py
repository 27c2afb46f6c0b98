"""The Preset model: defaults, ranges, order completion, YAML data."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.sampling import DEFAULT_ORDER, SamplerSettings, complete_order, merge_order
from app.errors import PresetError
from app.presets.model import SAMPLER_FIELDS, Preset


def test_preset_carries_every_sampler_field_with_the_same_neutral_default() -> None:
    neutral = Preset.neutral()
    engine = SamplerSettings()
    for name in SAMPLER_FIELDS:
        assert name in Preset.model_fields, name
        assert getattr(neutral, name) == getattr(engine, name), name
    assert neutral.to_sampler_settings() == engine


def test_every_field_has_a_description() -> None:
    missing = [n for n, f in Preset.model_fields.items() if not f.description]
    assert missing == []


def test_to_sampler_settings_passes_values_through() -> None:
    preset = Preset(name="x", temperature=1.17, min_p=0.075, repeat_penalty=1.1, stop=("\nYou:",))
    settings = preset.to_sampler_settings()
    assert (settings.temperature, settings.min_p, settings.repeat_penalty) == (1.17, 0.075, 1.1)
    assert settings.order == DEFAULT_ORDER


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"temperature": "1.2"}, "x.yaml: temperature: input should be a valid number"),
        ({"temperature": 11}, "x.yaml: temperature: input should be less than or equal to 10"),
        ({"top_p": -0.1}, "x.yaml: top_p: input should be greater than or equal to 0"),
        ({"top_k": 1.5}, "x.yaml: top_k: input should be a valid integer"),
        ({"ban_eos": 1}, "x.yaml: ban_eos: input should be a valid boolean"),
        ({"mirostat_mode": 3}, "x.yaml: mirostat_mode: input should be 0, 1 or 2"),
        ({"temprature": 1.0}, "x.yaml: temprature: unknown key"),
        ({"order": ["top_k", "top_k"]}, "x.yaml: order: value error, names a stage twice"),
        ({"order": ["tfs"]}, "x.yaml: order.0: input should be"),
        ({"banned_tokens": [-1]}, "x.yaml: banned_tokens: value error, token ids cannot"),
        ({"stop": [""]}, "x.yaml: stop: value error, contains an empty string"),
        ({"min_p": float("nan")}, "x.yaml: min_p: input should be a finite number"),
    ],
)
def test_bad_values_name_the_file_and_key(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(PresetError) as info:
        Preset.from_data({"name": "x", **data}, source="x.yaml")
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


def test_non_plain_yaml_values_are_rejected() -> None:
    import datetime

    with pytest.raises(PresetError, match=r"^x\.yaml: holds a value that is not plain data"):
        Preset.from_data({"name": "x", "description": datetime.date(2024, 1, 1)}, source="x.yaml")


def test_partial_order_is_completed_at_default_places() -> None:
    assert complete_order(["temperature", "min_p"]) == (
        "penalties",
        "dry",
        "top_n_sigma",
        "top_k",
        "typical_p",
        "top_p",
        "temperature",
        "min_p",
        "xtc",
    )
    assert complete_order(DEFAULT_ORDER) == DEFAULT_ORDER
    preset = Preset(name="x", order=("min_p", "temperature"))
    assert set(preset.order) == set(DEFAULT_ORDER)
    assert preset.order.index("min_p") < preset.order.index("temperature")


def test_merge_order_keeps_given_items_first_seen() -> None:
    assert merge_order([5, 6, 5], (6, 0, 1, 3, 4, 2, 5)) == (5, 6, 0, 1, 3, 4, 2)
    assert merge_order([], (1, 2)) == (1, 2)


def test_yaml_data_holds_only_differences() -> None:
    preset = Preset(name="Euryale", temperature=1.17, min_p=0.075, repeat_penalty=1.1)
    assert preset.to_yaml_data() == {
        "name": "Euryale",
        "temperature": 1.17,
        "min_p": 0.075,
        "repeat_penalty": 1.1,
    }
    assert Preset.neutral("N").to_yaml_data() == {"name": "N"}


def test_yaml_data_round_trips_every_kind_of_field() -> None:
    preset = Preset(
        name="All",
        description="d",
        temperature=0.5,
        dry_sequence_breakers=("\n", "|"),
        logit_bias={5: -2.5, 7: 1.0},
        banned_tokens=(3,),
        banned_strings=("Elara",),
        order=("temperature", *[s for s in DEFAULT_ORDER if s != "temperature"]),
        temperature_last=False,
        max_new_tokens=300,
        stop=("\nUser:",),
        unsupported={"tfs": 0.95, "sampler_priority": ["top_k"]},
    )
    assert Preset.from_data(preset.to_yaml_data(), source="All.yaml") == preset
