"""The embedder loads without the modules sentence-transformers imports but never uses
to embed (scikit-learn's metrics, SciPy's optimizers), and what they stood in for still
works when called."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.engine.embedder import _stand_ins
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
        from sentence_transformers.util import similarity
        distances = similarity.pairwise_distances(np.eye(2), np.eye(2), metric="manhattan")
        print("manhattan:", distances.tolist(), "sklearn loaded:", "sklearn" in sys.modules)
        from transformers.loss import loss_for_object_detection as detection
        rows, cols = detection.linear_sum_assignment(np.array([[4.0, 1.0], [2.0, 8.0]]))
        print("assignment:", cols.tolist(), "scipy.optimize:", "scipy.optimize" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "shape: (2, 384) norms: [1. 1.]" in out
    assert "sklearn loaded: False False" in out
    assert "manhattan: [[0.0, 2.0], [2.0, 0.0]] sklearn loaded: True" in out
    assert "assignment: [1, 0] scipy.optimize: True" in out


def test_a_stand_in_forwards_its_functions_and_leaves_no_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    with _stand_ins({"colorsys": ("rgb_to_hsv",)}):
        from colorsys import rgb_to_hsv  # the stand-in's forwarder

        assert "colorsys" in sys.modules and not hasattr(sys.modules["colorsys"], "hsv_to_rgb")
        with pytest.raises(ImportError):  # what it does not stand in for is not there
            from colorsys import hsv_to_rgb  # noqa: F401
    assert "colorsys" not in sys.modules
    assert rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)  # the real function, imported now
    import colorsys

    assert colorsys.hsv_to_rgb(0.0, 1.0, 1.0) == (1.0, 0.0, 0.0)
