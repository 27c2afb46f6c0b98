"""GGUF header reading and the clear errors for files that are not usable models."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.gguf import read_gguf_header
from app.engine.llamacpp import LlamaCppBackend, LoadOptions
from app.engine.models import list_models, startup_model
from app.errors import ModelLoadError


def test_header_of_the_bundled_model(smollm_path: Path) -> None:
    header = read_gguf_header(smollm_path)
    assert header.architecture == "llama"
    assert header.quantization == "Q4_1"
    assert header.context_length == 8192
    assert header.chat_template is not None and "<|im_start|>" in header.chat_template
    assert header.n_tensors > 0


def test_text_file_renamed_gguf_is_refused_by_name(tmp_path: Path) -> None:
    fake = tmp_path / "notes.gguf"
    fake.write_text("these are my notes, not a model\n")
    with pytest.raises(ModelLoadError) as caught:
        LlamaCppBackend.load(fake, LoadOptions(n_ctx=512))
    assert str(fake) in str(caught.value)
    assert "not a GGUF" in str(caught.value)


def test_file_cut_inside_the_header(tmp_path: Path, smollm_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(smollm_path.read_bytes()[:4096])
    with pytest.raises(ModelLoadError, match="truncated") as caught:
        LlamaCppBackend.load(cut, LoadOptions(n_ctx=512))
    assert str(cut) in str(caught.value)


def test_file_cut_inside_the_tensor_data(tmp_path: Path, smollm_path: Path) -> None:
    data = smollm_path.read_bytes()
    cut = tmp_path / "half.gguf"
    cut.write_bytes(data[: len(data) // 2])
    assert read_gguf_header(cut).architecture == "llama"  # the header itself is whole
    with pytest.raises(ModelLoadError, match="truncated or corrupt") as caught:
        LlamaCppBackend.load(cut, LoadOptions(n_ctx=512))
    assert str(cut) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="file not found"):
        LlamaCppBackend.load(tmp_path / "nope.gguf", LoadOptions())


def test_models_folder_listing_marks_bad_files(tmp_path: Path, smollm_path: Path) -> None:
    (tmp_path / "bad.gguf").write_text("nope")
    good = tmp_path / "sub" / "smol.gguf"
    good.parent.mkdir()
    good.symlink_to(smollm_path)
    listed = {m.path.name: m for m in list_models(tmp_path)}
    assert listed["bad.gguf"].error is not None
    assert listed["smol.gguf"].error is None
    assert listed["smol.gguf"].quantization == "Q4_1"
    assert startup_model(None, tmp_path) == good


def test_startup_falls_back_to_the_bundled_model(tmp_path: Path, smollm_path: Path) -> None:
    assert startup_model(None, tmp_path / "empty") == smollm_path
    explicit = tmp_path / "mine.gguf"
    assert startup_model(explicit, tmp_path) == explicit
