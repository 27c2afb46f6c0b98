"""The embedder runs all-MiniLM-L6-v2 on packed rows: the same vectors as
sentence-transformers' own ``encode``, in a few input shapes only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.engine.embedder import SentenceTransformerEmbedder, import_sentence_transformer
from app.engine.packing import PackedRows

WORDS = [
    "the",
    "harbour",
    "master",
    "counted",
    "barrels",
    "while",
    "Orlov",
    "mended",
    "a",
    "torn",
    "sail",
]


@pytest.fixture(scope="module")
def embedder(minilm_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(minilm_dir, "cpu")


@pytest.fixture(scope="module")
def plain(minilm_dir: Path) -> Any:
    """sentence-transformers' own model, float32."""
    return import_sentence_transformer()(str(minilm_dir), device="cpu", local_files_only=True)


def words(count: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(count))


def test_packed_vectors_are_the_models_own(
    embedder: SentenceTransformerEmbedder, plain: Any
) -> None:
    texts = [words(n) for n in (1, 3, 17, 40, 60, 90, 110, 150, 400)] + ["", "Hi!"] * 3
    texts += [f"Message {i}: {words(5 + i % 70)}" for i in range(60)]
    packed = embedder.embed(texts)
    own = plain.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    cosines = (packed * own).sum(axis=1)
    assert cosines.min() > 0.9999
    assert np.allclose(np.linalg.norm(packed, axis=1), 1.0, atol=1e-5)
    # and each text's own: one at a time gives the same vector as packed among others
    alone = np.stack([embedder.embed([text])[0] for text in texts[:12]])
    assert (alone * packed[:12]).sum(axis=1).min() > 0.9999


@pytest.fixture
def shapes_seen(
    embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> set[tuple[int, ...]]:
    """The input shapes the encoder's layers see."""
    seen: set[tuple[int, ...]] = set()
    encode = embedder._token_states

    def recorded(rows: PackedRows) -> Any:
        seen.add(tuple(rows.input_ids.shape))
        return encode(rows)

    monkeypatch.setattr(embedder, "_token_states", recorded)
    return seen


def test_texts_of_every_length_make_few_input_shapes(
    embedder: SentenceTransformerEmbedder, shapes_seen: set[tuple[int, ...]]
) -> None:
    """torch keeps what it compiles for each input shape (2–3 MB each in bfloat16):
    a long session's queries of every length once made one shape each."""
    for count in range(1, 121):
        embedder.embed([words(count)])
    embedder.embed([words(3 + i % 100) for i in range(300)])
    assert len(shapes_seen) <= 12, sorted(shapes_seen)  # at most 12 ever (see test_packing)


def test_vectors_are_those_of_the_float32_model(
    embedder: SentenceTransformerEmbedder, minilm_dir: Path, plain: Any
) -> None:
    """bfloat16 (the own encoder where the CPU has it) stays within 0.9999 cosine."""
    texts = [words(n) for n in (1, 5, 30, 90, 200)] + [f"Line {i}: {words(i)}" for i in range(40)]
    reference = plain.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert (embedder.embed(texts) * reference).sum(axis=1).min() > 0.9999
    assert (embedder.bert is not None) == embedder.bfloat16
    # and on a CPU without bfloat16 (most desktop CPUs): float32, packed the same way
    float32 = SentenceTransformerEmbedder(minilm_dir, "cpu", bfloat16=False)
    assert not float32.bfloat16 and float32.bert is None
    assert (float32.embed(texts) * reference).sum(axis=1).min() > 0.99999


def test_a_model_the_own_encoder_does_not_take_runs_under_autocast(
    minilm_dir: Path, plain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the own encoder refuses the model (another architecture, or a transformers
    whose layers it does not know), transformers' model runs, with the same vectors."""
    from app.engine import bfloat16_encoder

    monkeypatch.setattr(bfloat16_encoder, "bfloat16_bert", lambda model: None)
    fallback = SentenceTransformerEmbedder(minilm_dir, "cpu")
    assert fallback.bert is None and fallback.transformer is not None
    texts = [words(n) for n in (1, 5, 30, 90, 200)] + [f"Line {i}: {words(i)}" for i in range(40)]
    reference = plain.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert (fallback.embed(texts) * reference).sum(axis=1).min() > 0.9999


def test_an_own_encoder_that_fails_on_the_probe_leaves_it_to_transformers(
    minilm_dir: Path, plain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transformers whose BERT modules take other arguments is caught once, when the
    embedder loads, not at every embedding."""
    from app.engine.bfloat16_encoder import BFloat16Bert

    def changed_signature(self: BFloat16Bert, rows: PackedRows) -> Any:
        self.embeddings(input_ids=rows.input_ids, no_such_argument=True)

    monkeypatch.setattr(BFloat16Bert, "__call__", changed_signature)
    embedder = SentenceTransformerEmbedder(minilm_dir, "cpu")
    assert embedder.bert is None and embedder.transformer is not None
    texts = [words(n) for n in (1, 5, 30, 90)]
    reference = plain.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert (embedder.embed(texts) * reference).sum(axis=1).min() > 0.9999


def test_the_own_encoder_takes_plain_bert_only(embedder: SentenceTransformerEmbedder) -> None:
    from transformers import BertConfig, BertModel

    from app.engine.bfloat16_encoder import bfloat16_bert

    def small_bert(activation: str) -> Any:
        config = BertConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            hidden_act=activation,
        )
        return BertModel(config).eval()

    assert bfloat16_bert(small_bert("relu")) is None
    assert (bfloat16_bert(small_bert("gelu")) is not None) == embedder.bfloat16
