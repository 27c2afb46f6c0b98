"""The ``parlor`` command line: entry points, one-line errors, serving a page."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.servers import run_parlor


def test_help_lists_the_commands(_isolated_home: Path) -> None:
    done = run_parlor(_isolated_home, "--help")
    assert done.returncode == 0
    for command in ("serve", "import", "export", "list", "prompt"):
        assert command in done.stdout


def test_serve_help_shows_every_flag(_isolated_home: Path) -> None:
    done = run_parlor(_isolated_home, "serve", "--help")
    for flag in (
        "--model",
        "--models-dir",
        "--host",
        "--port",
        "--n-ctx",
        "--n-gpu-layers",
        "--threads",
        "--flash-attn",
        "--cache-type-k",
        "--cache-type-v",
        "--data-dir",
        "--api-key",
        "--inbrowser",
    ):
        assert flag in done.stdout


def test_bad_setting_is_one_line_without_traceback(_isolated_home: Path) -> None:
    done = run_parlor(_isolated_home, "--port", "0")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("parlor: error: --port")
    assert "Traceback" not in done.stderr


def test_broken_config_file_is_one_line(_isolated_home: Path) -> None:
    _isolated_home.mkdir(parents=True)
    (_isolated_home / "config.yaml").write_text("- a list\n")
    done = run_parlor(_isolated_home, "serve")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"parlor: error: {_isolated_home / 'config.yaml'}: must be a mapping of setting: value"
    )


@pytest.mark.model
def test_launch_serves_the_page_with_the_bundled_model(parlor_server: str) -> None:
    base = parlor_server
    health = httpx.get(f"{base}/healthz").json()
    assert health["model"] and health["model_error"] is None
    page = httpx.get(f"{base}/")
    assert page.status_code == 200 and "gradio" in page.text.lower()
    config = httpx.get(f"{base}/config").json()
    assert config["title"] == "Parlor"


@pytest.mark.parametrize("parlor_server", [["--model", "/nonexistent/model.gguf"]], indirect=True)
def test_a_missing_model_keeps_the_app_up(parlor_server: str) -> None:
    base = parlor_server
    health = httpx.get(f"{base}/healthz").json()
    assert health["model"] is None
    assert "/nonexistent/model.gguf: file not found" in health["model_error"]
    assert httpx.get(f"{base}/").status_code == 200
