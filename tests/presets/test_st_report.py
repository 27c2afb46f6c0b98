"""The preset import report names exactly what the saved YAML keeps as not honoured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.presets.library import dump_preset_yaml
from app.presets.sillytavern import import_sillytavern, import_sillytavern_data
from tests.presets.test_st_import import PRESET_FILES


def _not_honoured(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("note: ")]


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_report_and_yaml_list_the_same_settings(path: Path) -> None:
    preset, report = import_sillytavern(path)
    saved = yaml.safe_load(dump_preset_yaml(preset))
    listed = saved.get("unsupported", {})
    assert listed == report.unsupported
    lines = _not_honoured(report.lines())
    assert len(lines) == len(listed)
    for key, line in zip(listed, lines, strict=True):
        assert line.startswith(f"{key} = ")


def test_universal_creative_names_nothing_it_honours(reference_dir: Path) -> None:
    preset, report = import_sillytavern(reference_dir / "textgen" / "Universal-Creative.json")
    saved = yaml.safe_load(dump_preset_yaml(preset))
    assert "unsupported" not in saved and _not_honoured(report.lines()) == []
    # The orders stay, under their own key, so that an export gives the file back.
    assert saved["sillytavern"]["samplers"][5] == "tfs_z"
    assert any(line.startswith("note: sampler_priority: ") for line in report.lines())


def _among(order: tuple[str, ...], *stages: str) -> tuple[str, ...]:
    return tuple(stage for stage in order if stage in stages)


def _textgen(**values: Any) -> dict[str, Any]:
    return {"temp": 0.8, "min_p": 0.05, "top_k": 40, "rep_pen": 1.1, **values}


def test_text_generation_webui_order_is_applied_without_samplers() -> None:
    priority = ["temperature", "dynamic_temperature", "top_k", "min_p", "repetition_penalty"]
    preset, report = import_sillytavern_data(
        _textgen(sampler_priority=priority, temperature_last=False), source="x.json", name="x"
    )
    among = _among(preset.order, "temperature", "top_k", "min_p", "penalties")
    assert among == ("temperature", "top_k", "min_p", "penalties")
    assert report.unsupported == {}


def test_aphrodite_order_is_applied_without_the_others() -> None:
    order = ["min_p", "top_p_top_k", "temperature", "penalties"]
    preset, _ = import_sillytavern_data(
        _textgen(samplers_priorities=order), source="x.json", name="x"
    )
    among = _among(preset.order, "min_p", "top_k", "top_p", "temperature", "penalties")
    assert among == ("min_p", "top_k", "top_p", "temperature", "penalties")


def test_samplers_win_and_a_different_order_is_noted() -> None:
    preset, report = import_sillytavern_data(
        _textgen(
            samplers=["min_p", "top_k", "temperature"],
            sampler_priority=["top_k", "min_p", "temperature"],
        ),
        source="x.json",
        name="x",
    )
    assert _among(preset.order, "min_p", "top_k", "temperature") == (
        "min_p",
        "top_k",
        "temperature",
    )
    assert report.unsupported == {}
    assert any("sampler_priority" in note and "top_k > min_p" in note for note in report.notes)


@pytest.mark.parametrize(("st_value", "last_n"), [(0, 0), (-1, -1), (2048, 2048)])
def test_rep_pen_range_keeps_llama_cpps_meaning(st_value: int, last_n: int) -> None:
    preset, report = import_sillytavern_data(
        _textgen(rep_pen_range=st_value, dry_multiplier=0.8, dry_penalty_last_n=st_value),
        source="x.json",
        name="x",
    )
    assert (preset.repeat_last_n, preset.dry_penalty_last_n) == (last_n, last_n)
    switched_off = [n for n in report.notes if "switches" in n]
    assert len(switched_off) == (2 if st_value == 0 else 0)


def test_kobold_rep_pen_range_zero_is_the_last_token(reference_dir: Path) -> None:
    """KoboldCpp raises a window below 1 to 1 (gpttype_adapter.cpp), so a KoboldAI
    preset's rep_pen_range 0 penalises the last token only."""
    preset, _ = import_sillytavern(reference_dir / "kobold" / "Universal-Light.json")
    assert preset.repeat_last_n == 1


@pytest.mark.parametrize(
    ("api_type", "rep_pen_range", "dry_last_n"),
    [
        ("ooba", -1, -1),
        ("koboldcpp", 1, -1),
        ("llamacpp", 0, 0),
        ("tabby", 0, -1),
        ("vllm", -1, -1),
    ],
)
def test_a_settings_section_reads_windows_as_its_api_type(
    api_type: str, rep_pen_range: int, dry_last_n: int
) -> None:
    section = _textgen(rep_pen_range=0, dry_multiplier=0.8, dry_penalty_last_n=0, type=api_type)
    preset, _ = import_sillytavern_data(section, source="settings.json", name="x")
    assert (preset.repeat_last_n, preset.dry_penalty_last_n) == (rep_pen_range, dry_last_n)


def test_off_values_sillytavern_writes_import(reference_dir: Path, tmp_path: Path) -> None:
    data = json.loads((reference_dir / "settings.json").read_text("utf-8"))
    data["main_api"] = "textgenerationwebui"
    data["textgenerationwebui_settings"].update(top_k=-1, nsigma=0, type="vllm")
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data), "utf-8")
    preset, report = import_sillytavern(path)
    assert (preset.top_k, preset.top_n_sigma) == (0, -1)
    assert "type" not in report.unsupported  # connection state, not a sampler
    assert preset.sillytavern["top_k"] == -1  # the export gives the file's value back
