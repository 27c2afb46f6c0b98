"""Fixtures for the prompt tests: reference files, bundled templates, a pinned builder."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.prompt.assemble import PromptBuilder
from app.prompt.registry import FormatRegistry
from app.prompt.sandbox import TemplateSandbox

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXED_NOW = datetime(2024, 6, 19, 14, 20, 5, tzinfo=UTC)


@pytest.fixture(scope="session")
def st_ref() -> Path:
    """SillyTavern reference files (``/work/shared/reference/sillytavern``)."""
    path = (REPO_ROOT / ".." / "shared" / "reference" / "sillytavern").resolve()
    assert path.is_dir(), f"missing reference folder {path}"
    return path


@pytest.fixture(scope="session")
def templates_dir() -> Path:
    return REPO_ROOT / "templates"


@pytest.fixture
def sandbox() -> TemplateSandbox:
    return TemplateSandbox()


@pytest.fixture
def registry(templates_dir: Path, sandbox: TemplateSandbox) -> FormatRegistry:
    return FormatRegistry.load(templates_dir, sandbox)


@pytest.fixture
def builder(sandbox: TemplateSandbox) -> PromptBuilder:
    return PromptBuilder(sandbox, clock=lambda: FIXED_NOW, rng=random.Random(1234))


@pytest.fixture
def count_chars() -> Callable[[str], int]:
    """A stand-in tokenizer: one token per character (easy arithmetic)."""
    return len
