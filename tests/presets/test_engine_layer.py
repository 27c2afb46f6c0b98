"""The engine sits at the bottom: it imports nothing from the layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import REPO_ROOT

_ABOVE = ("app.presets", "app.prompt", "app.chat", "app.storage", "app.cards", "app.api", "app.ui")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_engine_imports_no_layer_above_it() -> None:
    offending = [
        f"{path.relative_to(REPO_ROOT)}: {name}"
        for path in sorted((REPO_ROOT / "app" / "engine").rglob("*.py"))
        for name in _imports(path)
        if name.startswith(_ABOVE)
    ]
    assert offending == []
