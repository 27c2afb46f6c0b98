"""A real application context (SQLite file, starter cast) with the fake backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from app.context import AppContext, build_context
from app.engine.fake import FakeBackend
from app.engine.llamacpp import LlamaCppBackend
from app.settings import Settings
from tests.api.live import RecordingBackend


@pytest.fixture
def context(_isolated_home: Path) -> Iterator[AppContext]:
    """The app with no model loaded; tests install a backend."""
    settings = Settings.load(data_dir=_isolated_home)
    ctx = build_context(settings, load_model=False)
    yield ctx
    ctx.close()


@pytest.fixture
def fake(context: AppContext) -> FakeBackend:
    """A scripted backend installed as the active model."""
    backend = FakeBackend(n_ctx=16384)
    context.models.use(backend)
    return backend


def write_preset(home: Path, name: str, **values: object) -> None:
    """A user preset in the data folder (e.g. a short reply length for model tests)."""
    folder = home / "presets"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, **values}))


@pytest.fixture
def recorded(context: AppContext, smollm: LlamaCppBackend) -> RecordingBackend:
    """SmolLM2, every request it runs recorded."""
    backend = RecordingBackend(smollm)
    context.models.use(backend)
    return backend
