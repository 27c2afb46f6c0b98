"""Fixtures for the card tests: the SillyTavern reference files and small images."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The saved SillyTavern reference files (``/work/shared/reference/sillytavern``)."""
    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "sillytavern"
    assert path.is_dir(), f"reference files missing at {path}"
    return path.resolve()


@pytest.fixture(scope="session")
def cards_dir(reference_dir: Path) -> Path:
    """Folder with default_Seraphina.png, its decoded chunks and Eldoria.json."""
    return reference_dir / "cards"


@pytest.fixture(scope="session")
def seraphina_png(cards_dir: Path) -> bytes:
    """The bytes of ST's bundled default_Seraphina.png."""
    return (cards_dir / "default_Seraphina.png").read_bytes()


@pytest.fixture(scope="session")
def seraphina_v2(cards_dir: Path) -> dict[str, Any]:
    """The decoded ``chara`` chunk of default_Seraphina.png."""
    data: dict[str, Any] = json.loads((cards_dir / "Seraphina_chara.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="session")
def seraphina_v3(cards_dir: Path) -> dict[str, Any]:
    """The decoded ``ccv3`` chunk of default_Seraphina.png."""
    data: dict[str, Any] = json.loads((cards_dir / "Seraphina_ccv3.json").read_text("utf-8"))
    return data


def _make_image(size: tuple[int, int] = (8, 12), colour: str = "teal", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def make_image() -> Callable[..., bytes]:
    """A factory of small real images: ``make_image(size, colour, fmt)``."""
    return _make_image


@pytest.fixture(scope="session")
def small_png() -> bytes:
    """An 8x12 PNG without card chunks."""
    return _make_image()
