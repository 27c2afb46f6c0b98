"""The engine sits at the bottom: it imports nothing from the layers above it."""

from __future__ import annotations

from tests.imports import app_imports
from tests.paths import REPO_ROOT

_ABOVE = ("app.presets", "app.prompt", "app.chat", "app.storage", "app.cards", "app.api", "app.ui")


def test_engine_imports_no_layer_above_it() -> None:
    offending = [
        f"{path.relative_to(REPO_ROOT)}: {name}"
        for path in sorted((REPO_ROOT / "app" / "engine").rglob("*.py"))
        for name in app_imports(path)
        if name.startswith(_ABOVE)
    ]
    assert offending == []
