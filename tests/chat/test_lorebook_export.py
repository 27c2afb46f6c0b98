"""A card's lorebook through import → store → export keeps every entry's own fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.cards import read_card
from app.chat.library import CardFormat
from app.context import AppContext
from app.storage.repositories import LorebookRepository
from tests.chat.st_files import card_png

#: A V2 card as SillyTavern writes it, its character_book holding two entries.
_ENTRIES: list[dict[str, Any]] = [
    {
        "id": 1,
        "keys": ["Lhaor", "the old city"],
        "secondary_keys": [],
        "comment": "",
        "content": "Lhaor is a drowned city under the northern lake.",
        "constant": False,
        "selective": True,
        "insertion_order": 100,
        "enabled": True,
        "position": "before_char",
        "use_regex": True,
        "extensions": {"position": 0, "depth": 4, "probability": 100, "role": 0},
        "name": "Lhaor",
        "priority": 10,
        "case_sensitive": False,
    },
    {
        "id": 2,
        "keys": ["sextant"],
        "secondary_keys": ["brass"],
        "comment": "navigation",
        "content": "The brass sextant points at whatever its holder has lost.",
        "constant": False,
        "selective": True,
        "insertion_order": 50,
        "enabled": True,
        "position": "after_char",
        "use_regex": True,
        "extensions": {"position": 1, "depth": 2, "probability": 80, "role": 1},
        "name": "Sextant",
        "priority": 5,
        "case_sensitive": False,
    },
]


def _v2_card() -> dict[str, Any]:
    data = {
        "name": "Mirelle",
        "description": "A cartographer of sunken places.",
        "personality": "",
        "scenario": "",
        "first_mes": "You found my map.",
        "mes_example": "",
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": [],
        "tags": [],
        "creator": "",
        "character_version": "",
        "extensions": {"talkativeness": "0.5", "fav": False, "world": "Mirelle"},
        "character_book": {"name": "Mirelle", "extensions": {}, "entries": _ENTRIES},
    }
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def _png_card(tmp_path: Path) -> Path:
    path = tmp_path / "Mirelle.png"
    path.write_bytes(card_png(_v2_card()))
    return path


@pytest.mark.parametrize("fmt", ["json", "png", "charx"])
def test_every_entry_keeps_its_own_fields(
    context: AppContext, tmp_path: Path, fmt: CardFormat
) -> None:
    character = context.library.import_card(_png_card(tmp_path))
    exported = tmp_path / f"out.{fmt}"
    exported.write_bytes(context.library.export_card(character.id, fmt))
    book = read_card(exported).character_book
    assert book is not None
    assert [e.data for e in book.entries] == _ENTRIES


def test_an_edited_entry_keeps_its_name_and_priority(context: AppContext, tmp_path: Path) -> None:
    character = context.library.import_card(_png_card(tmp_path))
    lorebooks = LorebookRepository(context.db)
    book = lorebooks.for_character(character.id)
    assert book is not None
    sextant = book.entries[1]
    lorebooks.update_entry(sextant.id, {**sextant.data, "content": "It points home."})
    lorebooks.delete_entry(book.entries[0].id)
    exported = tmp_path / "out.json"
    exported.write_bytes(context.library.export_card(character.id, "json"))
    exported_book = read_card(exported).character_book
    assert exported_book is not None
    (entry,) = exported_book.entries
    assert (entry.id, entry.name, entry.priority, entry.content) == (
        2,
        "Sextant",
        5,
        "It points home.",
    )
    assert entry.case_sensitive is False
