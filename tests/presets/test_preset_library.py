"""YAML preset files, the PresetLibrary and the bundled presets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.engine.sampling import SamplerSettings
from app.errors import NotFound, PresetError
from app.presets.library import (
    PresetLibrary,
    default_preset_name,
    dump_preset_yaml,
    file_name_for,
    load_preset_file,
    save_preset_file,
)
from app.presets.model import Preset

BUNDLED = {"Euryale", "Stheno", "Universal-Light", "Deterministic", "Creative-DRY-XTC"}


def test_bundled_presets_load_and_have_the_documented_values(bundled_dir: Path) -> None:
    library = PresetLibrary([bundled_dir])
    assert set(library.names()) >= BUNDLED
    presets, errors = library.load_all()
    assert errors == []

    euryale = presets["Euryale"]
    assert (euryale.temperature, euryale.min_p, euryale.repeat_penalty) == (1.17, 0.075, 1.1)
    assert set(euryale.differences()) == {"description", "temperature", "min_p", "repeat_penalty"}

    stheno = presets["Stheno"]
    assert (stheno.temperature, stheno.min_p, stheno.top_k, stheno.repeat_penalty) == (
        1.12,
        0.075,
        50,
        1.1,
    )
    assert presets["Deterministic"].to_sampler_settings().temperature == 0
    creative = presets["Creative-DRY-XTC"].to_sampler_settings()
    assert creative.dry_multiplier > 0 and creative.xtc_probability > 0
    assert presets["Universal-Light"].min_p == 0.1


def test_bundled_files_store_only_differences(bundled_dir: Path) -> None:
    for path in bundled_dir.glob("*.yaml"):
        preset = load_preset_file(path)
        written = yaml.safe_load(path.read_text("utf-8"))
        assert written == preset.to_yaml_data(), path.name
        assert yaml.safe_load(dump_preset_yaml(preset)) == written


@pytest.mark.parametrize(
    ("model_name", "arch", "vocab", "expected"),
    [
        ("Meta-Llama-3-8B-Instruct.Q4_K_M", "llama", 128256, "Euryale"),
        ("L3-8B-Stheno-v3.2", "llama", None, "Euryale"),
        ("L3.1-70B-Euryale-v2.2", "llama", None, "Euryale"),
        ("some-finetune", "llama", 128256, "Euryale"),
        ("llama-30b-supercot", "llama", 32000, "Universal-Light"),
        ("Mistral-Nemo-Instruct-2407", "llama", 131072, "Universal-Light"),
        ("SmolLM2-135M-Instruct", "llama", 49152, "Universal-Light"),
        ("gemma-2-9b-it", "gemma2", 256000, "Universal-Light"),
    ],
)
def test_default_preset_for_a_model(
    model_name: str, arch: str, vocab: int | None, expected: str, bundled_dir: Path
) -> None:
    name = default_preset_name(arch, model_name, vocab_size=vocab)
    assert name == expected
    assert name in PresetLibrary([bundled_dir]).names()


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    library = PresetLibrary([tmp_path / "user"])
    preset = Preset(
        name="My: preset/1",
        temperature=0.9,
        dry_multiplier=0.8,
        dry_sequence_breakers=("\n", '"'),
        logit_bias={42: -3.0},
        stop=("\nYou:",),
        unsupported={"smoothing_factor": 0.3},
    )
    path = library.save(preset)
    assert path.parent == tmp_path / "user"
    assert "/" not in path.name and ":" not in path.name
    assert library.load("My: preset/1") == preset
    assert list((tmp_path / "user").iterdir()) == [path]  # no temporary file left


def test_save_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "p.yaml"
    save_preset_file(Preset(name="p", temperature=0.5), target)
    save_preset_file(Preset(name="p", temperature=0.7), target)
    assert load_preset_file(target).temperature == 0.7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]


def test_earlier_folder_wins_and_save_goes_to_the_first(tmp_path: Path, bundled_dir: Path) -> None:
    user = tmp_path / "user"
    library = PresetLibrary([user, bundled_dir])
    library.save(Preset(name="Euryale", temperature=0.3))
    assert library.load("Euryale").temperature == 0.3
    assert load_preset_file(bundled_dir / "Euryale.yaml").temperature == 1.17
    library.delete("Euryale")
    assert library.load("Euryale").temperature == 1.17
    with pytest.raises(PresetError, match="bundled preset"):
        library.delete("Euryale")
    with pytest.raises(NotFound):
        library.load("No such preset")


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    (tmp_path / "Quiet.yaml").write_text("temperature: 0.6\n", "utf-8")
    (tmp_path / "Empty.yaml").write_text("", "utf-8")
    assert load_preset_file(tmp_path / "Quiet.yaml").name == "Quiet"
    assert load_preset_file(tmp_path / "Empty.yaml") == Preset.neutral("Empty")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("temperature: [1, 2\n", r"^bad\.yaml:2: not valid YAML"),
        ("- 1\n- 2\n", r"^bad\.yaml: expected a mapping"),
        ("temperature: 1\ntemprature: 2\n", r"^bad\.yaml: temprature: unknown key"),
        ("top_k: forty\n", r"^bad\.yaml: top_k: input should be a valid integer"),
        ("min_p: 1.5\n", r"^bad\.yaml: min_p: input should be less than or equal to 1"),
        ("ban_eos: yes-please\n", r"^bad\.yaml: ban_eos: input should be a valid boolean"),
        ("logit_bias: {abc: 1}\n", r"^bad\.yaml: logit_bias\.abc\.\[key\]"),
        ("order: [temperature, tfs]\n", r"^bad\.yaml: order\.1: input should be"),
        ("seed: 2020-01-01\n", r"^bad\.yaml: holds a value that is not plain data"),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(PresetError, match=message) as info:
        load_preset_file(path)
    assert "\n" not in str(info.value)


def test_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("temperature: 0.5\n", "utf-8")
    (tmp_path / "bad.yaml").write_text("temperature: hot\n", "utf-8")
    presets, errors = PresetLibrary([tmp_path]).load_all()
    assert list(presets) == ["good"]
    assert [str(e) for e in errors] == [
        "bad.yaml: temperature: input should be a valid number (got 'hot')"
    ]


def test_file_names_are_safe() -> None:
    assert file_name_for("NovelAI (Best Guess)") == "NovelAI (Best Guess).yaml"
    assert file_name_for("../../etc/passwd") == "_.._etc_passwd.yaml"
    assert file_name_for("...") == "preset.yaml"


def test_presets_feed_the_engine_contract(bundled_dir: Path) -> None:
    presets, _ = PresetLibrary([bundled_dir]).load_all()
    for preset in presets.values():
        assert isinstance(preset.to_sampler_settings(), SamplerSettings)
