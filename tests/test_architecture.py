"""The layers hold (issue 14, item 7): the import-linter contracts in pyproject.toml.

ui and api above the chat layer; the chat layer above storage, prompt, presets and
cards; the engine at the bottom importing none of them; and the UI and the API import
no repository.  docs/architecture.md draws the same picture.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO_ROOT


def test_the_import_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is one of the test extras"
    done = subprocess.run(
        [lint, "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_contracts_list_no_exceptions() -> None:
    config = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = config[config.index("[tool.importlinter]") : config.index("[tool.pytest")]
    assert "ignore_imports" not in section
    for layer in ('"app.ui | app.api"', '"app.chat"', '"app.engine"'):
        assert layer in section
