"""The batched-decode measurement still runs and prints every setup (no timings)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.paths import REPO_ROOT

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_it_times_every_setup_with_a_figure_for_each_batch() -> None:
    run = subprocess.run(
        [sys.executable, "bench/batched_decode.py", "--tokens", "64"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {line[:32].strip(): line[32:].split() for line in run.stdout.splitlines()[2:]}
    assert set(rows) == {"1 sequence", "3 sequences, own KV streams", "3 sequences, unified KV"}
    assert len(rows["1 sequence"]) == 3  # one step figure, then the prompt's "N ms"
    for label in ("3 sequences, own KV streams", "3 sequences, unified KV"):
        figures = [float(x) for x in rows[label][:4]]
        assert len(figures) == 4 and all(f > 0 for f in figures), rows[label]
