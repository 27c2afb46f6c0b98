"""The starter cast in characters/: valid PNG cards, reproducible from the script."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from app.cards.model import CharacterCard
from app.cards.read import read_card

CHARACTERS = Path(__file__).resolve().parents[2] / "characters"
NAMES = {
    "Ysolde_Marrow.png": "Ysolde Marrow",
    "HESPER.png": "HESPER",
    "Basil_Thorne.png": "Basil Thorne",
}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_starter_cast", CHARACTERS / "make_starter_cast.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cast() -> dict[str, CharacterCard]:
    return {name: read_card(CHARACTERS / name) for name in NAMES}


def test_every_card_is_complete(cast: dict[str, CharacterCard]) -> None:
    for filename, card in cast.items():
        assert card.name == NAMES[filename]
        assert card.spec == "chara_card_v3"
        for text in (
            card.description,
            card.personality,
            card.scenario,
            card.first_mes,
            card.creator_notes,
        ):
            assert len(text) > 40
        assert card.mes_example.count("<START>") >= 2
        assert "{{char}}" in card.description and "{{user}}" in card.description
        assert "original" in card.tags and len(card.tags) >= 4
        assert len(card.alternate_greetings) >= 2
        assert card.creator == "Parlor"
        assert card.avatar is not None
        with Image.open(CHARACTERS / filename) as image:
            assert image.size == (400, 600)


def test_ysolde_has_a_lorebook(cast: dict[str, CharacterCard]) -> None:
    book = cast["Ysolde_Marrow.png"].character_book
    assert book is not None
    assert len(book) == 4
    assert [e.constant for e in book.entries].count(True) == 1
    assert all(e.keys and e.content and e.enabled for e in book.entries)
    world = book.to_world()
    assert sum(1 for e in world["entries"].values() if e["constant"]) == 1


def test_hesper_has_a_character_note(cast: dict[str, CharacterCard]) -> None:
    note = cast["HESPER.png"].depth_prompt
    assert note is not None and note.depth == 4 and note.role == "system"


def test_script_reproduces_the_committed_files() -> None:
    built = _script().build_cast()
    assert set(built) == set(NAMES)
    for filename, data in built.items():
        assert read_card(data, source_name=filename) == read_card(CHARACTERS / filename)
        assert data == (CHARACTERS / filename).read_bytes()
