"""Character, persona and lorebook repositories: lossless documents and simple rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import InputError, NotFound
from app.storage.repositories import (
    CharacterRepository,
    ChatRepository,
    LorebookRepository,
    PersonaRepository,
)


def test_card_document_is_stored_losslessly(
    characters: CharacterRepository, sillytavern_dir: Path
) -> None:
    text = (sillytavern_dir / "cards" / "Seraphina_ccv3.json").read_text(encoding="utf-8")
    card = json.loads(text)
    card["unknown_future_key"] = {"nested": [1, 2.5, None, "ü"], "0": "zero"}
    png = (sillytavern_dir / "cards" / "default_Seraphina.png").read_bytes()
    created = characters.create("Seraphina", card, avatar=png, tags=["fantasy", "healer"])
    stored = characters.get(created.id)
    assert stored.card == card
    assert list(stored.card) == list(card)  # key order kept
    assert json.dumps(stored.card) == json.dumps(card)
    assert stored.avatar == png
    assert stored.tags == ("fantasy", "healer")
    assert characters.avatar(created.id) == png


def test_character_list_update_trash(characters: CharacterRepository) -> None:
    zed = characters.create("zed", {"name": "zed"})
    amy = characters.create("Amy", {"name": "Amy"}, avatar=b"\x89PNG")
    summaries = characters.list_characters()
    assert [c.name for c in summaries] == ["Amy", "zed"]
    assert [c.has_avatar for c in summaries] == [True, False]
    updated = characters.update(zed.id, name="Zed", card={"name": "Zed", "v": 2}, tags=["x"])
    assert (updated.name, updated.card, updated.tags) == ("Zed", {"name": "Zed", "v": 2}, ("x",))
    assert updated.modified_at >= zed.modified_at
    assert characters.set_avatar(amy.id, None).avatar is None
    characters.trash(amy.id)
    assert [c.name for c in characters.list_characters()] == ["Zed"]
    assert len(characters.list_characters(include_deleted=True)) == 2
    assert characters.restore(amy.id).deleted_at is None
    with pytest.raises(InputError, match="name"):
        characters.create(" ", {})
    with pytest.raises(NotFound, match="no character"):
        characters.get(999)


def test_purging_a_character_keeps_its_chats(
    characters: CharacterRepository, chats: ChatRepository, lorebooks: LorebookRepository
) -> None:
    sera = characters.create("Sera", {"name": "Sera"})
    chat = chats.create_chat([sera.id], greetings=["hi"])
    lorebooks.create("Sera's book", character_id=sera.id, entries=[{"key": ["a"]}])
    characters.purge(sera.id)
    assert chats.get_chat(chat.id).character_ids == ()
    assert [m.content for m in chats.active_path(chat.id)] == ["hi"]
    assert lorebooks.for_character(sera.id) is None


def test_personas_have_one_default(personas: PersonaRepository) -> None:
    assert personas.get_default() is None
    me = personas.create("Me", description="A traveller.")
    assert me.is_default
    alt = personas.create("Alt", description_position=2)
    assert not alt.is_default and alt.description_position == 2
    personas.set_default(alt.id)
    assert [p.is_default for p in personas.list_personas()] == [True, False]  # Alt, Me
    third = personas.create("Third", is_default=True)
    default = personas.get_default()
    assert default is not None and default.id == third.id
    assert sum(p.is_default for p in personas.list_personas()) == 1
    changed = personas.update(me.id, name="Me2", description="New.")
    assert (changed.name, changed.description) == ("Me2", "New.")
    assert personas.set_avatar(me.id, b"img").avatar == b"img"
    personas.delete(me.id)
    with pytest.raises(NotFound):
        personas.get(me.id)


def test_lorebook_entries_are_kept_whole_and_ordered(
    lorebooks: LorebookRepository, sillytavern_dir: Path
) -> None:
    world = json.loads((sillytavern_dir / "cards" / "Eldoria.json").read_text(encoding="utf-8"))
    entries = list(world["entries"].values())
    data = {"scan_depth": 4, "extensions": {"x": 1}, "unknown": [True]}
    book = lorebooks.create("Eldoria", description="A world.", data=data, entries=entries)
    stored = lorebooks.get(book.id)
    assert [e.data for e in stored.entries] == entries
    assert [e.position for e in stored.entries] == list(range(len(entries)))
    assert stored.data == data and stored.character_id is None
    extra = lorebooks.add_entry(book.id, {"key": ["new"], "content": "added", "custom": 1})
    assert lorebooks.get(book.id).entries[-1] == extra
    first = stored.entries[0]
    lorebooks.update_entry(first.id, {**first.data, "content": "changed"})
    lorebooks.delete_entry(stored.entries[1].id)
    after = lorebooks.get(book.id)
    assert after.entries[0].data["content"] == "changed"
    assert len(after.entries) == len(entries)
    replaced = lorebooks.replace_entries(book.id, [{"key": ["only"]}])
    assert [e.data for e in replaced.entries] == [{"key": ["only"]}]
    renamed = lorebooks.update(book.id, name="Eldoria 2", data={"scan_depth": 2})
    assert (renamed.name, renamed.data) == ("Eldoria 2", {"scan_depth": 2})
    assert [b.name for b in lorebooks.list_lorebooks()] == ["Eldoria 2"]
    lorebooks.delete(book.id)
    with pytest.raises(NotFound, match="no lorebook"):
        lorebooks.get(book.id)


def test_embedded_book_of_a_character(
    lorebooks: LorebookRepository, characters: CharacterRepository
) -> None:
    sera = characters.create("Sera", {"name": "Sera"})
    assert lorebooks.for_character(sera.id) is None
    book = lorebooks.create("Sera's book", character_id=sera.id, entries=[{"key": ["k"]}])
    found = lorebooks.for_character(sera.id)
    assert found is not None and found.id == book.id and found.character_id == sera.id
