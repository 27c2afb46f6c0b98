"""The API is protocol, serving and a thin router: it imports the chat layer, the errors
and the engine's types, nothing else of Parlor's (issue 14, item 2)."""

from __future__ import annotations

from tests.imports import app_imports
from tests.paths import REPO_ROOT

#: What ``app/api`` may import from ``app``.
ALLOWED = (
    "app.api",
    "app.chat",
    "app.errors",
    "app.engine.base",
    "app.engine.sampling",
    "app.engine.sampler_names",
)


def test_the_api_imports_only_the_chat_layer_errors_and_engine_types() -> None:
    files = sorted((REPO_ROOT / "app" / "api").glob("*.py"))
    assert files
    outside = {
        f"{path.name}: {name}"
        for path in files
        for name in app_imports(path)
        if not any(name == ok or name.startswith(f"{ok}.") for ok in ALLOWED)
    }
    assert not outside, sorted(outside)


def test_the_serving_object_is_built_by_the_composition_root() -> None:
    router = (REPO_ROOT / "app" / "api" / "router.py").read_text(encoding="utf-8")
    assert "OpenAIServing(" not in router
    assert "OpenAIServing(" in (REPO_ROOT / "app" / "context.py").read_text(encoding="utf-8")
