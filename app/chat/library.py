"""Characters and lorebooks in and out: card files ↔ storage, and the starter cast."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session

from app.cards import CharacterCard, WorldInfo, read_card
from app.cards.write import write_charx, write_json, write_png
from app.chat.turns import Stores
from app.errors import NotFound, ParlorError
from app.storage.db import Database
from app.storage.types import Character, Lorebook, Persona

CardFormat = Literal["png", "json", "charx"]
STARTER_MARKER = ".starter-cast-imported"


@dataclass(frozen=True)
class PersonaImport:
    """A persona to import (from a SillyTavern folder or a bare avatar file)."""

    name: str
    description: str = ""
    #: SillyTavern's description position (0 in the prompt, 2/3 author's note, 4 depth).
    position: int = 0
    avatar: bytes | None = None
    #: Make it the default persona.
    default: bool = False

    def same_as(self, stored: Persona) -> bool:
        """Whether ``stored`` has this name, description and description position."""
        return (stored.name, stored.description, stored.description_position) == (
            self.name,
            self.description,
            self.position,
        )


class CharacterLibrary:
    """Imports and exports character cards and World Info files."""

    def __init__(self, db: Database, stores: Stores) -> None:
        self._db = db
        self._stores = stores

    @property
    def db(self) -> Database:
        """The database the library writes to (for a caller's own transaction)."""
        return self._db

    def import_card(self, source: Path | bytes, *, source_name: str | None = None) -> Character:
        """Read a card (PNG, JSON, CHARX, YAML) and store it with its embedded lorebook.

        All or nothing: a card that fails to read or store leaves nothing behind.
        """
        if source_name is None and isinstance(source, Path):
            source_name = str(source)
        return self.store_card(read_card(source, source_name=source_name))

    def store_card(self, card: CharacterCard) -> Character:
        """Store a card that has been read, with its embedded lorebook: one transaction."""
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

    def identical(self, card: CharacterCard) -> Character | None:
        """A stored character whose card and avatar are exactly ``card``'s, if any."""
        wanted = card.name.casefold()
        for summary in self._stores.characters.list_characters():
            if summary.name.casefold() != wanted:
                continue
            stored = self._stores.characters.get(summary.id)
            if CharacterCard.from_document(stored.card, avatar=stored.avatar) == card:
                return stored
        return None

    def import_persona(
        self, persona: PersonaImport, *, session: Session | None = None
    ) -> tuple[Persona, bool]:
        """Store a persona unless an identical one is there; returns it and whether new.

        Identical means the same name, description and description position.  With
        ``persona.default`` it becomes the default persona: all in one transaction (the
        caller's, when ``session`` is given).
        """
        repo = self._stores.personas
        with self._db.write(session) as session:
            same = [p for p in repo.list_personas(session=session) if persona.same_as(p)]
            if same:
                stored, created = same[0], False
                if persona.avatar is not None and stored.avatar is None:
                    stored = repo.set_avatar(stored.id, persona.avatar, session=session)
            else:
                stored, created = self._new_persona(persona, session), True
            if persona.default:
                stored = repo.set_default(stored.id, session=session)
        return stored, created

    def _new_persona(self, persona: PersonaImport, session: Session) -> Persona:
        return self._stores.personas.create(
            persona.name,
            description=persona.description,
            avatar=persona.avatar,
            description_position=persona.position,
            session=session,
        )

    def store_world(self, world: WorldInfo) -> Lorebook:
        """Store a World Info file that has been read as a standalone lorebook."""
        return self._store_world(world, None)

    def identical_world(self, world: WorldInfo) -> Lorebook | None:
        """A standalone lorebook with ``world``'s name, fields and entries, if any."""
        fields = {k: v for k, v in world.data.items() if k != "entries"}
        wanted = (world.name, fields, list(world.entries.values()))
        for book in self._stores.lorebooks.list_lorebooks():
            if book.character_id is None and (
                (book.name, book.data, [e.data for e in book.entries]) == wanted
            ):
                return book
        return None

    def export_card(self, character_id: int, fmt: CardFormat) -> bytes:
        """The character as a card file; lorebook edits made in Parlor are included."""
        card = self.card(character_id)
        book = self._stores.lorebooks.for_character(character_id)
        if book is not None:
            world = WorldInfo.from_entries(book.name, book.data, (e.data for e in book.entries))
            card = card.updated(character_book=world.to_lorebook().data)
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


__all__ = ["CardFormat", "CharacterLibrary", "ParlorError", "PersonaImport"]
