"""The embedder loads without the modules sentence-transformers imports but never uses
to embed (torch's compiler and distributed tensors, scikit-learn's metrics, SciPy), and
what they stood in for still works when called."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.engine.lean_import import StandIn, installed, run_lean
from tests.paths import REPO_ROOT


def test_the_embedder_loads_without_scikit_learn_which_still_works_when_called(
    minilm_dir: Path,
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from pathlib import Path
        from app.engine.embedder import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(Path({str(minilm_dir)!r}), device="cpu")
        vectors = embedder.embed(["The lighthouse keeper rows out at dawn.", "Bread, salt."])
        print("shape:", vectors.shape, "norms:", np.round(np.linalg.norm(vectors, axis=1), 3))
        print("sklearn loaded:", "sklearn" in sys.modules, "scipy.optimize" in sys.modules)
        print("compiler loaded:", "torch._dynamo" in sys.modules,
              "distributed tensors:", "torch.distributed.tensor" in sys.modules,
              "scipy:", "scipy" in sys.modules)
        from sentence_transformers.util import similarity
        distances = similarity.pairwise_distances(np.eye(2), np.eye(2), metric="manhattan")
        print("manhattan:", distances.tolist(), "sklearn loaded:", "sklearn" in sys.modules)
        from transformers.loss import loss_for_object_detection as detection
        rows, cols = detection.linear_sum_assignment(np.array([[4.0, 1.0], [2.0, 8.0]]))
        print("assignment:", cols.tolist(), "scipy.optimize:", "scipy.optimize" in sys.modules)
        import torch
        from sentence_transformers.util import to_scipy_coo
        print("coo:", to_scipy_coo(torch.eye(2).to_sparse()).toarray().tolist())
        import torch._dynamo
        print("real compiler:", hasattr(torch._dynamo, "optimize"), hasattr(torch._dynamo, "reset"))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "shape: (2, 384) norms: [1. 1.]" in out
    assert "sklearn loaded: False False" in out
    assert "compiler loaded: False distributed tensors: False scipy: False" in out
    assert "manhattan: [[0.0, 2.0], [2.0, 0.0]] sklearn loaded: True" in out
    assert "assignment: [1, 0] scipy.optimize: True" in out
    assert "coo: [[1.0, 0.0], [0.0, 1.0]]" in out
    assert "real compiler: True True" in out


def test_a_stand_in_forwards_its_functions_and_leaves_no_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    with installed({"colorsys": StandIn(deferred=("rgb_to_hsv",))}):
        from colorsys import rgb_to_hsv  # the stand-in's forwarder

        assert "colorsys" in sys.modules and not hasattr(sys.modules["colorsys"], "hsv_to_rgb")
        with pytest.raises(ImportError):  # what it does not stand in for is not there
            from colorsys import hsv_to_rgb  # noqa: F401
    assert "colorsys" not in sys.modules
    assert rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)  # the real function, imported now
    import colorsys

    assert colorsys.hsv_to_rgb(0.0, 1.0, 1.0) == (1.0, 0.0, 0.0)


def test_markers_return_what_they_mark_and_absent_types_match_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "wave", raising=False)
    monkeypatch.delitem(sys.modules, "sunau", raising=False)
    offers = {
        "wave": StandIn(markers=("disable",), absent_types=("Shard",)),
        "sunau": StandIn(absent_types=("Shard",)),
    }
    with installed(offers):
        from sunau import Shard as other_shard  # type: ignore[attr-defined]
        from wave import Shard, disable  # type: ignore[attr-defined]

    def step() -> int:
        return 7

    assert disable(step) is step and disable(recursive=False)(step) is step
    assert Shard is other_shard and not isinstance(Shard(0, dim=1), int)
    assert not isinstance(step, Shard) and "wave" not in sys.modules


def test_a_load_the_stand_ins_fall_short_of_runs_again_the_plain_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    offers = {"colorsys": StandIn(deferred=("rgb_to_hsv",))}

    def load() -> object:
        from colorsys import hsv_to_rgb  # not stood in for: ImportError under the stand-in

        return hsv_to_rgb(0.0, 1.0, 1.0)

    assert run_lean(load, offers) == (1.0, 0.0, 0.0)


def test_the_embedder_loads_the_plain_way_where_a_stand_in_falls_short(
    minilm_dir: Path,
) -> None:
    # As a newer transformers might: it calls torch._dynamo.disable, not stood in for here.
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import app.engine.embedder as embedder
        from app.engine import lean_import

        short = dict(lean_import.STAND_INS)
        short["torch._dynamo"] = lean_import.StandIn(markers=("allow_in_graph",))
        embedder.run_lean = lambda load: lean_import.run_lean(load, short)
        model = embedder.SentenceTransformerEmbedder(Path({str(minilm_dir)!r}), device="cpu")
        texts = ["The lighthouse keeper rows out at dawn.", "Bread, salt."]
        plain = embedder.import_sentence_transformer()(
            {str(minilm_dir)!r}, device="cpu", local_files_only=True
        )
        cosines = (model.embed(texts) * plain.encode(texts)).sum(axis=1)
        print("cosines above 0.9999:", bool((cosines > 0.9999).all()))
        print("real compiler:", hasattr(sys.modules["torch._dynamo"], "optimize"))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "cosines above 0.9999: True" in result.stdout
    assert "real compiler: True" in result.stdout
