"""The character service: one transaction per edit, filters, trash, card files."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from app.cards import read_card
from app.chat.characters import CharacterFilter, CharacterService
from app.context import AppContext
from app.errors import InputError, NotFound
from app.storage.repositories import CharacterRepository
from app.storage.types import CharacterSummary


def png(colour: str, size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def characters(context: AppContext) -> CharacterService:
    return context.services.characters


def test_create_then_update_card_fields_and_avatar(characters: CharacterService) -> None:
    made = characters.create(
        {"name": " Quill ", "tags": ["owl"], "description": "An owl."}, png("brown")
    )
    assert made.name == "Quill" and made.avatar == png("brown")
    changed = characters.update(
        made.id, {"scenario": "Tax season.", "tags": ["owl", "scribe"]}, png("white")
    )
    card = characters.card(made.id)
    assert card.description == "An owl." and card.scenario == "Tax season."  # others kept
    assert changed.tags == ("owl", "scribe") and changed.avatar == png("white")
    assert "scribe" in characters.tags()


def test_a_failed_avatar_write_leaves_the_card_as_it_was(
    characters: CharacterService, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = characters.create({"name": "Quill", "description": "An owl."})

    def broken(*args: object, **kwargs: object) -> None:
        raise InputError("avatar", "disk full")

    monkeypatch.setattr(CharacterRepository, "set_avatar", broken)
    with pytest.raises(InputError):
        characters.update(made.id, {"name": "Quillon", "description": "A heron."}, png("red"))
    card = characters.card(made.id)
    assert (card.name, card.description) == ("Quill", "An owl.")  # one transaction: nothing


def test_filters_trash_restore_and_delete(characters: CharacterService) -> None:
    hesper = next(s for s in characters.summaries() if s.name == "HESPER")
    assert CharacterFilter("hes").matches(hesper) and CharacterFilter("space").matches(hesper)
    assert CharacterFilter(tags=("sci-fi",)).matches(hesper)
    assert not CharacterFilter(tags=("fantasy",)).matches(hesper)
    assert [s.name for s in characters.summaries(CharacterFilter("hes"))] == ["HESPER"]
    characters.trash(hesper.id)
    assert hesper.id not in [s.id for s in characters.summaries()]
    assert [s.id for s in characters.trashed()] == [hesper.id]
    characters.restore(hesper.id)
    assert hesper.id in [s.id for s in characters.summaries()]
    characters.delete(hesper.id)
    with pytest.raises(NotFound):
        characters.card(hesper.id)


def test_export_names_the_file_after_the_character(
    characters: CharacterService, tmp_path: Path
) -> None:
    made = characters.create({"name": "Q/uill: the owl", "description": "An owl."})
    exported = characters.export(made.id, "json")
    assert exported.file_name == "Q_uill_ the owl.json"
    path = tmp_path / exported.file_name
    path.write_bytes(exported.data)
    assert read_card(path).description == "An owl."
    with pytest.raises(InputError):
        characters.export(made.id, "exe")


def test_import_refuses_a_file_over_the_limit_and_says_the_limit(
    context: AppContext, tmp_path: Path
) -> None:
    small = CharacterService(
        context.db, context.stores, context.library, context.services.importer,
        max_import_bytes=1024,
    )  # fmt: skip
    big = tmp_path / "big.json"
    data = {"name": "Big", "description": "x" * 4096, "first_mes": "Hi."}
    big.write_text(json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}))
    result = small.import_card(big)
    assert not result.ok and re.search(r"big\.json.*up to 0 MB", result.error or "")
    assert not any(s.name == "Big" for s in small.summaries())


def test_summaries_are_cheap_and_sorted(characters: CharacterService) -> None:
    names = [s.name for s in characters.summaries()]
    assert names == sorted(names, key=str.casefold)
    assert all(isinstance(s, CharacterSummary) for s in characters.summaries())


def test_a_card_imported_twice_is_stored_once(characters: CharacterService, tmp_path: Path) -> None:
    path = tmp_path / "wren.json"
    data = {"name": "Wren", "description": "A wren.", "first_mes": "Tweet."}
    path.write_text(json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}))
    first, second = characters.import_card(path), characters.import_card(path)
    assert first.ok and first.skipped is None and first.item_id is not None
    assert second.skipped == "already there: character 'Wren'"
    assert second.item_id == first.item_id
    assert [s.id for s in characters.summaries() if s.name == "Wren"] == [first.item_id]
    assert characters.card(first.item_id).source_name == "wren.json"  # not the upload's path
