"""Settings precedence (defaults < config.yaml < environment < command line) and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import build_parser, settings_from
from app.settings import Settings, SettingsError


def cli(*args: str) -> Settings:
    return settings_from(build_parser().parse_args(["serve", *args]))


def test_defaults(_isolated_home: Path) -> None:
    settings = Settings.load()
    assert settings.host == "127.0.0.1"  # loopback unless asked otherwise
    assert settings.port == 7860
    assert settings.n_ctx == 8192
    assert settings.data_dir == _isolated_home
    assert settings.models_folder == _isolated_home / "models"
    assert settings.n_gpu_layers is None and settings.api_key is None


def test_config_file_then_environment_then_command_line(
    _isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _isolated_home.mkdir(parents=True)
    (_isolated_home / "config.yaml").write_text("port: 8001\nn_ctx: 4096\nthreads: 3\n")
    assert (Settings.load().port, Settings.load().n_ctx) == (8001, 4096)
    monkeypatch.setenv("PARLOR_PORT", "8002")
    assert Settings.load().port == 8002
    settings = cli("--port", "8003", "--flash-attn", "--cache-type-k", "q8_0")
    assert settings.port == 8003
    assert settings.n_ctx == 4096 and settings.threads == 3
    assert settings.flash_attn is True and settings.cache_type_k == "q8_0"


def test_data_dir_flag_moves_the_config_file(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "config.yaml").write_text("port: 9100\n")
    settings = cli("--data-dir", str(other))
    assert settings.data_dir == other and settings.port == 9100


def test_unknown_key_in_config_names_file_and_key(_isolated_home: Path) -> None:
    _isolated_home.mkdir(parents=True)
    (_isolated_home / "config.yaml").write_text("prot: 1\n")
    with pytest.raises(SettingsError, match=r"config\.yaml: unknown setting 'prot'"):
        Settings.load()


def test_broken_yaml_names_the_file(_isolated_home: Path) -> None:
    _isolated_home.mkdir(parents=True)
    (_isolated_home / "config.yaml").write_text("port: [1, \n")
    with pytest.raises(SettingsError, match=r"config\.yaml: not valid YAML"):
        Settings.load()


def test_out_of_range_flag_names_the_flag() -> None:
    with pytest.raises(SettingsError, match=r"--port: port: .*less than or equal to 65535"):
        cli("--port", "70000")


def test_every_setting_has_help_and_a_flag() -> None:
    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    flags = {a.dest: a for a in serve._actions}
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no help text"
        assert name in flags, f"{name} has no flag"
        assert flags[name].help == field.description
