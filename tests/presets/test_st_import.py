"""SillyTavern / KoboldAI preset import and export against the real reference files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.sampling import DEFAULT_ORDER
from app.errors import PresetError
from app.presets.model import Preset
from app.presets.sillytavern import (
    export_master,
    export_sillytavern,
    import_sillytavern,
    import_sillytavern_data,
)
from tests.paths import SILLYTAVERN


def reference_presets() -> list[Path]:
    """Every SillyTavern sampler preset file saved for reference (current and legacy)."""
    root = SILLYTAVERN.resolve()
    files: list[Path] = []
    for kind in ("textgen", "kobold"):
        files += sorted((root / kind).glob("*.json"))
        files += sorted(root.glob(f"legacy-2024/*/{kind}/*.json"))
    return files


PRESET_FILES = reference_presets()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def _reimport(preset: Preset, kind: str) -> Preset:
    exported = json.loads(json.dumps(export_sillytavern(preset, kind)))  # type: ignore[arg-type]
    again, _ = import_sillytavern_data(exported, source="x.json", name=preset.name)
    return again


def test_reference_set_is_complete() -> None:
    names = {(p.parent.name, p.name) for p in PRESET_FILES}
    assert len(PRESET_FILES) == 6 + 35 + 6 + 27
    assert ("textgen", "Universal-Light.json") in names
    assert ("kobold", "Godlike.json") in names


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_reference_preset_imports_and_round_trips(path: Path) -> None:
    source = _load(path)
    preset, report = import_sillytavern(path)
    assert report.kind == path.parent.name
    assert preset.name == path.stem
    exported = json.loads(json.dumps(export_sillytavern(preset, report.kind)))
    for key, value in source.items():
        assert key in exported, key
        assert exported[key] == value, key
    again, _ = import_sillytavern_data(exported, source="x", name=preset.name)
    assert again == preset
    # Converting a KoboldAI preset to text-completion keeps every sampler value.
    assert _reimport(preset, "textgen").to_sampler_settings() == preset.to_sampler_settings()


def test_universal_light_values(reference_dir: Path) -> None:
    preset, report = import_sillytavern(reference_dir / "textgen" / "Universal-Light.json")
    assert (preset.temperature, preset.min_p, preset.top_p, preset.top_k) == (1.25, 0.1, 1, 0)
    assert preset.temperature_last is False
    assert preset.order[-1] == "temperature"
    assert preset.order.index("xtc") < preset.order.index("top_p")  # ST 1.18 list order
    assert report.lost == ()
    # tfs is neutral, so where `samplers` puts tfs_z does not matter: no note about it.
    assert not any("'tfs_z'" in note for note in report.notes)
    # Unhonoured keys at their neutral value are not stored: the export restores them.
    assert "tfs" not in preset.unsupported
    assert preset.sillytavern["samplers"][5] == "tfs_z"


def test_report_lists_each_unsupported_key_with_its_value(reference_dir: Path) -> None:
    legacy = next(reference_dir.glob("legacy-2024/*/textgen"))
    _, beam = import_sillytavern(legacy / "Beam Search.json")
    assert beam.unsupported == {
        "no_repeat_ngram_size": 2,
        "num_beams": 10,
        "length_penalty": 1.4,
        "min_length": 200,
        "early_stopping": True,
    }
    _, titanic = import_sillytavern(legacy / "Titanic.json")
    assert titanic.unsupported == {"top_a": 0.75, "eta_cutoff": 10.78, "encoder_rep_pen": 1.07}
    _, contrastive = import_sillytavern(legacy / "Contrastive Search.json")
    assert contrastive.unsupported == {"penalty_alpha": 0.6, "do_sample": False}
    assert all(": not used (" in line for line in contrastive.lines()[:2])
    godlike, kobold = import_sillytavern(legacy.parent / "kobold" / "Godlike.json")
    assert kobold.unsupported == {"top_a": 0.75, "tfs": 0.97, "rep_pen_slope": 0.7}
    assert godlike.unsupported["top_a"] == 0.75  # kept so the export gives it back


def test_deterministic_is_greedy_without_complaints(reference_dir: Path) -> None:
    preset, report = import_sillytavern(reference_dir / "textgen" / "Deterministic.json")
    assert preset.temperature == 0 and preset.top_k == 1
    assert report.lost == ()  # do_sample=false is what temperature 0 does anyway


def test_kobold_order_and_names(reference_dir: Path) -> None:
    preset, report = import_sillytavern(reference_dir / "kobold" / "Universal-Light.json")
    assert report.kind == "kobold"
    assert preset.temperature_last is False
    # sampler_order [5, 6, 0, 1, 2, 3, 4]: temperature first, then rep. pen., top-k, ...
    kobold_stages = ("temperature", "penalties", "top_k", "top_p", "min_p", "typical_p")
    assert tuple(s for s in preset.order if s in kobold_stages) == kobold_stages
    legacy = next(reference_dir.glob("legacy-2024/*/kobold"))
    miro, _ = import_sillytavern(legacy / "Miro Gold.json")
    assert (miro.mirostat_mode, miro.mirostat_tau, miro.mirostat_eta) == (2, 9.91, 1)


def test_settings_json_uses_the_active_api(reference_dir: Path, tmp_path: Path) -> None:
    preset, report = import_sillytavern(reference_dir / "settings.json")
    assert report.kind == "kobold"  # main_api is koboldhorde
    assert preset.repeat_last_n == 600

    data = _load(reference_dir / "settings.json")
    data["main_api"] = "textgenerationwebui"
    data["textgenerationwebui_settings"]["stopping_strings"] = ["\nYou:"]
    data["textgenerationwebui_settings"]["seed"] = 1234
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data), "utf-8")
    preset, report = import_sillytavern(path)
    assert report.kind == "textgen"
    assert (preset.stop, preset.seed, preset.min_p) == (("\nYou:",), 1234, 0.01)
    # The 2024 `samplers` list has no penalties; the completed order still has them.
    assert "penalties" in preset.order and preset.repeat_penalty == 1.1


def test_master_export_round_trip(reference_dir: Path) -> None:
    preset, _ = import_sillytavern(reference_dir / "textgen" / "Universal-Creative.json")
    bundle = {"instruct": {"name": "Llama 3 Instruct"}, **export_master(preset)}
    assert bundle["preset"]["name"] == "Universal-Creative"
    again, report = import_sillytavern_data(bundle, source="bundle.json", name="ignored")
    assert again == preset
    assert report.kind == "textgen"


def test_dynatemp_dry_xtc_and_friends() -> None:
    data = {
        "temp": 0.7,
        "dynatemp": True,
        "min_temp": 0.5,
        "max_temp": 1.5,
        "dynatemp_exponent": 1.5,
        "dry_multiplier": 0.8,
        "dry_base": 1.75,
        "dry_allowed_length": 3,
        "dry_penalty_last_n": 0,
        "dry_sequence_breakers": '["\\n", ":", "\\"", "*", "{{char}}"]',
        "xtc_threshold": 0.15,
        "xtc_probability": 0.5,
        "nsigma": 1.5,
        "rep_pen": 1.1,
        "rep_pen_range": 2048,
        "freq_pen": 0.2,
        "presence_pen": -0.1,
        "ban_eos_token": True,
        "banned_tokens": '[1, 2]\n"Elara"\nshivers down',
        "logit_bias": [
            {"id": "a", "text": "[42, 43]", "value": -5},
            {"id": "b", "text": "smirk", "value": -100},
        ],
        "genamt": 400,
    }
    preset, report = import_sillytavern_data(data, source="x.json", name="x")
    assert (preset.temperature, preset.dynatemp_range, preset.dynatemp_exponent) == (1.0, 0.5, 1.5)
    # dry_penalty_last_n 0 means "off" to llama.cpp, as SillyTavern sends it there.
    assert (preset.dry_multiplier, preset.dry_allowed_length, preset.dry_penalty_last_n) == (
        0.8,
        3,
        0,
    )
    assert preset.dry_sequence_breakers == ("\n", ":", '"', "*", "{{char}}")
    assert (preset.xtc_threshold, preset.xtc_probability, preset.top_n_sigma) == (0.15, 0.5, 1.5)
    assert (preset.repeat_last_n, preset.frequency_penalty, preset.presence_penalty) == (
        2048,
        0.2,
        -0.1,
    )
    assert preset.ban_eos and preset.max_new_tokens == 400
    assert preset.banned_tokens == (1, 2)
    assert preset.banned_strings == ("Elara", "shivers down")
    assert preset.logit_bias == {42: -5.0, 43: -5.0}
    assert report.unsupported == {"logit_bias": [{"id": "b", "text": "smirk", "value": -100}]}
    assert any("shivers down" in note for note in report.notes)
    exported = export_sillytavern(preset)
    for key, value in data.items():
        assert exported[key] == value, key
    assert _reimport(preset, "textgen") == preset


def test_edited_preset_exports_its_new_values(reference_dir: Path) -> None:
    preset, _ = import_sillytavern(reference_dir / "textgen" / "Universal-Light.json")
    edited = preset.model_copy(update={"order": DEFAULT_ORDER, "temperature": 0.9})
    exported = export_sillytavern(edited)
    assert exported["temp"] == 0.9
    # The verbatim ST list no longer matches the order, so the new order is written.
    assert exported["samplers"] == [
        "penalties",
        "dry",
        "top_n_sigma",
        "top_k",
        "typ_p",
        "top_p",
        "min_p",
        "xtc",
        "temperature",
    ]
    assert _reimport(edited, "textgen").order == DEFAULT_ORDER


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], r"^x\.json: expected a JSON object"),
        ({"foo": 1}, r"^x\.json: not a SillyTavern sampler preset"),
        ({"temp": "hot"}, r"^x\.json: temp: expected a number, got 'hot'"),
        ({"temp": 20}, r"^x\.json: temp: input should be less than or equal to 10"),
        ({"top_k": 2.5}, r"^x\.json: top_k: expected a whole number"),
        ({"temp": 1, "temperature_last": "yes"}, r"^x\.json: temperature_last: expected true"),
        ({"temp": 1, "samplers": "top_k"}, r"^x\.json: samplers: expected a list of strings"),
        ({"temp": 1, "mirostat_mode": 3}, r"^x\.json: mirostat_mode: input should be 0, 1 or 2"),
        ({"temp": 1, "dry_sequence_breakers": 5}, r"^x\.json: dry_sequence_breakers: expected"),
        ({"temp": 1, "banned_tokens": "[1, x]"}, r"^x\.json: banned_tokens: line 1 is not"),
        ({"temp": 1, "logit_bias": {}}, r"^x\.json: logit_bias: expected a list"),
        ({"temp": 1, "logit_bias": [{"text": "[1]"}]}, r"^x\.json: logit_bias\.0: missing value"),
        ({"temp": 1, "dynatemp": True, "min_temp": 2, "max_temp": 1}, r"^x\.json: max_temp: "),
        ({"typical": 1, "sampler_order": [0, 9]}, r"^x\.json: sampler_order: 9 is not"),
        ({"preset": {"name": 5, "temp": 1}}, r"^x\.json: preset\.name: expected"),
    ],
)
def test_malformed_data_names_the_key(data: Any, message: str) -> None:
    with pytest.raises(PresetError, match=message) as info:
        import_sillytavern_data(data, source="x.json", name="x")
    assert "\n" not in str(info.value)


def test_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "temp": 1,\n  "top_p": }\n', "utf-8")
    with pytest.raises(PresetError, match=r"^broken\.json:3: not valid JSON"):
        import_sillytavern(path)


def test_unknown_keys_are_kept_and_reported() -> None:
    preset, report = import_sillytavern_data(
        {"temp": 1, "frobnicate": 3, "adaptive_target": 0.5}, source="x.json", name="x"
    )
    assert report.unsupported == {"frobnicate": 3, "adaptive_target": 0.5}
    assert preset.unsupported == {"frobnicate": 3, "adaptive_target": 0.5}
    assert export_sillytavern(preset)["frobnicate"] == 3


_nice = st.integers(0, 1000).map(lambda i: i / 1000)


@st.composite
def presets(draw: st.DrawFn) -> Preset:
    order = draw(st.permutations(DEFAULT_ORDER))
    return Preset(
        name="p",
        temperature=draw(st.integers(0, 3000).map(lambda i: i / 1000)),
        temperature_last=draw(st.booleans()),
        dynatemp_range=draw(st.sampled_from([0.0, 0.25, 0.5])),
        top_k=draw(st.integers(0, 200)),
        top_p=draw(_nice),
        min_p=draw(_nice),
        typical_p=draw(_nice),
        top_n_sigma=draw(st.sampled_from([-1.0, 1.0, 2.5])),
        repeat_penalty=draw(st.integers(1000, 1500).map(lambda i: i / 1000)),
        repeat_last_n=draw(st.sampled_from([-1, 64, 1024])),
        frequency_penalty=draw(_nice),
        dry_multiplier=draw(_nice),
        dry_penalty_last_n=draw(st.sampled_from([-1, 512])),
        dry_sequence_breakers=draw(st.lists(st.text(min_size=1, max_size=3), max_size=4)),
        xtc_probability=draw(_nice),
        mirostat_mode=draw(st.sampled_from([0, 1, 2])),
        seed=draw(st.sampled_from([-1, 7])),
        logit_bias=draw(st.dictionaries(st.integers(0, 50000), st.sampled_from([-5.0, 2.0]))),
        banned_tokens=tuple(draw(st.sets(st.integers(0, 50000), max_size=3))),
        banned_strings=tuple(draw(st.sets(st.from_regex(r"[a-z ]{1,8}", fullmatch=True)))),
        ban_eos=draw(st.booleans()),
        order=tuple(order),
        max_new_tokens=draw(st.sampled_from([None, 250])),
    )


@settings(max_examples=60, deadline=None)
@given(presets())
def test_any_preset_survives_textgen_export(preset: Preset) -> None:
    again = _reimport(preset, "textgen")
    assert again.to_sampler_settings() == preset.to_sampler_settings()
    assert again.max_new_tokens == preset.max_new_tokens
    assert _reimport(again, "textgen") == again
