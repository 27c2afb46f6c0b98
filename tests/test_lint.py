"""The code stays as the house rules say: ruff clean, formatted, mypy --strict clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_ruff_finds_nothing_and_the_code_is_formatted() -> None:
    check = _run(str(BIN / "ruff"), "check", "app", "tests", "bench", "setup.py")
    assert check.returncode == 0, check.stdout[-4000:]
    formatted = _run(str(BIN / "ruff"), "format", "--check", "app", "tests", "bench", "setup.py")
    assert formatted.returncode == 0, formatted.stdout[-4000:]


def test_mypy_strict_finds_nothing() -> None:
    done = _run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout[-4000:]
