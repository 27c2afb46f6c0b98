"""Characters and lorebooks in and out: card files ↔ storage, and the starter cast."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session

from app.cards import CharacterCard, WorldInfo, read_card, read_world_file
from app.cards.write import write_charx, write_json, write_png
from app.chat.turns import Stores
from app.errors import NotFound, ParlorError
from app.storage.db import Database
from app.storage.types import Character, Lorebook

CardFormat = Literal["png", "json", "charx"]
STARTER_MARKER = ".starter-cast-imported"


class CharacterLibrary:
    """Imports and exports character cards and World Info files."""

    def __init__(self, db: Database, stores: Stores) -> None:
        self._db = db
        self._stores = stores

    def import_card(self, source: Path | bytes, *, source_name: str | None = None) -> Character:
        """Read a card (PNG, JSON, CHARX, YAML) and store it with its embedded lorebook.

        All or nothing: a card that fails to read or store leaves nothing behind.
        """
        if source_name is None and isinstance(source, Path):
            source_name = str(source)
        card = read_card(source, source_name=source_name)
        with self._db.write() as session:
            character = self._stores.characters.create(
                card.name,
                card.to_document(),
                avatar=card.avatar,
                tags=card.tags,
                session=session,
            )
            book = card.character_book
            if book is not None:
                world = WorldInfo.from_lorebook(book, name=book.name or card.name)
                self._store_world(world, character.id, session=session)
        return character

    def import_world(self, path: Path) -> Lorebook:
        """Read a SillyTavern World Info file into the lorebook store."""
        return self._store_world(read_world_file(path), None)

    def export_card(self, character_id: int, fmt: CardFormat) -> bytes:
        """The character as a card file; lorebook edits made in Parlor are included."""
        card = self.card(character_id)
        book = self._stores.lorebooks.for_character(character_id)
        if book is not None:
            world = {**book.data, "entries": {str(i): e.data for i, e in enumerate(book.entries)}}
            card = card.updated(character_book=WorldInfo(book.name, world).to_lorebook().data)
        if fmt == "png":
            return write_png(card)
        if fmt == "charx":
            return write_charx(card)
        return write_json(card, version=3)

    def card(self, character_id: int) -> CharacterCard:
        """The stored character as a card."""
        character = self._stores.characters.get(character_id)
        return CharacterCard.from_document(character.card, avatar=character.avatar)

    def find(self, name_or_id: str) -> Character:
        """A character by id or (case-insensitive) name."""
        characters = self._stores.characters
        if name_or_id.isdigit():
            return characters.get(int(name_or_id))
        wanted = name_or_id.casefold()
        for summary in characters.list_characters():
            if summary.name.casefold() == wanted:
                return characters.get(summary.id)
        raise NotFound("character", name_or_id)

    def import_starter_cast(self, folder: Path, data_dir: Path) -> list[Character]:
        """On first run, import the bundled characters (once, even if later deleted)."""
        marker = data_dir / STARTER_MARKER
        if marker.exists():
            return []
        imported = [self.import_card(path) for path in _cards_in(folder)]
        marker.write_text("imported\n", encoding="utf-8")
        return imported

    def _store_world(
        self, world: WorldInfo, character_id: int | None, *, session: Session | None = None
    ) -> Lorebook:
        data = {k: v for k, v in world.data.items() if k != "entries"}
        entries = list(world.entries.values())
        return self._stores.lorebooks.create(
            world.name or "Lorebook",
            data=data,
            entries=entries,
            character_id=character_id,
            session=session,
        )


def _cards_in(folder: Path) -> Iterable[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".json", ".charx"))


__all__ = ["CardFormat", "CharacterLibrary", "ParlorError"]
