"""What a source file of Parlor imports, read from its syntax tree (for layer tests)."""

from __future__ import annotations

import ast
from pathlib import Path


def app_imports(path: Path) -> set[str]:
    """The ``app.*`` modules ``path`` imports (at any level, TYPE_CHECKING included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "app" or name.startswith("app.")}
