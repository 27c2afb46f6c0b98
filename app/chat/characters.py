"""The character service: the library listing, card edits with avatars, trash, card files.

Every change is one transaction: a card edit writes the card document, the name, the
tags and the avatar together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from app.cards.model import CharacterCard
from app.chat.file_names import safe_file_name
from app.chat.imports import Importer, ImportResult, ItemKind
from app.chat.library import CardFormat, CharacterLibrary
from app.chat.turns import Stores
from app.errors import InputError
from app.storage.db import Database
from app.storage.types import Character, CharacterSummary

#: Card fields by name (``name``, ``tags``, ``description``, ``extensions`` …).
CardFields = Mapping[str, Any]
#: The largest card file the library imports (stated on the Characters page).
MAX_CARD_BYTES: Final = 64 * 1024 * 1024
CARD_FORMATS: Final[tuple[CardFormat, ...]] = ("png", "json", "charx")
#: What the Characters page imports (a lorebook or a preset has its own page).
CARD_KINDS: Final[tuple[ItemKind, ...]] = ("card",)


@dataclass(frozen=True)
class CharacterFilter:
    """The library's search box and tag filter."""

    query: str = ""
    tags: tuple[str, ...] = ()

    def matches(self, summary: CharacterSummary) -> bool:
        """Whether ``summary`` has every chosen tag and the query in its name or a tag."""
        if any(tag not in summary.tags for tag in self.tags):
            return False
        needle = self.query.strip().casefold()
        if not needle:
            return True
        return needle in summary.name.casefold() or any(
            needle in tag.casefold() for tag in summary.tags
        )


@dataclass(frozen=True)
class CardFile:
    """An exported card: a file name made from the character's name, and the bytes."""

    file_name: str
    data: bytes


class CharacterService:
    """Characters for the library page: list, edit, trash, import and export."""

    def __init__(
        self,
        db: Database,
        stores: Stores,
        library: CharacterLibrary,
        importer: Importer,
        *,
        max_import_bytes: int = MAX_CARD_BYTES,
    ) -> None:
        self._db = db
        self._characters = stores.characters
        self._library = library
        self._importer = importer
        self.max_import_bytes = max_import_bytes

    # -- reading -------------------------------------------------------------------------

    def summaries(self, where: CharacterFilter | None = None) -> list[CharacterSummary]:
        """Characters (not trashed) by name that pass ``where``."""
        found = self._characters.list_characters()
        return [s for s in found if where is None or where.matches(s)]

    def trashed(self) -> list[CharacterSummary]:
        """Characters in the trash."""
        everyone = self._characters.list_characters(include_deleted=True)
        return [s for s in everyone if s.deleted_at is not None]

    def summary(self, character_id: int) -> CharacterSummary:
        """One character's name, tags and avatar state (trashed ones too)."""
        return self._characters.summary(character_id)

    def tags(self) -> list[str]:
        """Every tag used by a character, sorted."""
        tags = {tag for summary in self.summaries() for tag in summary.tags}
        return sorted(tags, key=str.casefold)

    def card(self, character_id: int) -> CharacterCard:
        """The stored character as a card (with its avatar)."""
        return self._library.card(character_id)

    def avatar(self, character_id: int) -> bytes | None:
        """The character's avatar image (None when it has none)."""
        return self._characters.avatar(character_id)

    # -- changes -------------------------------------------------------------------------

    def create(self, fields: CardFields, avatar: bytes | None = None) -> Character:
        """A new character from card fields (``name`` required) and an avatar PNG."""
        values = dict(fields)
        card = CharacterCard.create(str(values.pop("name", "")).strip(), avatar=avatar, **values)
        return self._characters.create(
            card.name, card.to_document(), avatar=card.avatar, tags=card.tags
        )

    def update(
        self, character_id: int, fields: CardFields, avatar: bytes | None = None
    ) -> Character:
        """Change card fields (the others stay) and, if given, the avatar: one transaction."""
        repo = self._characters
        with self._db.transaction() as session:
            stored = repo.get(character_id, session=session)
            card = CharacterCard.from_document(stored.card).updated(**fields)
            changed = repo.update(
                character_id, name=card.name, card=card.to_document(), tags=card.tags,
                session=session,
            )  # fmt: skip
            if avatar is not None:
                changed = repo.set_avatar(character_id, avatar, session=session)
            return changed

    def trash(self, character_id: int) -> Character:
        """Hide the character (its chats stay)."""
        return self._characters.trash(character_id)

    def restore(self, character_id: int) -> Character:
        """Take the character out of the trash."""
        return self._characters.restore(character_id)

    def delete(self, character_id: int) -> None:
        """Delete the character for good (its lorebook with it; its chats stay)."""
        self._characters.purge(character_id)

    def import_card(self, path: Path) -> ImportResult:
        """Import a card file (PNG, JSON, CHARX, YAML) with its lorebook, all or nothing.

        The importer of ``parlor import`` stores it: an identical card already there is
        reported (with its id), not stored twice.  Errors come back in the result.
        """
        too_large = self._too_large(path)
        if too_large is not None:
            return ImportResult(path, "card", error=too_large)
        return self._importer.import_file(path, only=CARD_KINDS, source_name=path.name)

    def _too_large(self, path: Path) -> str | None:
        """Why ``path`` is over the size limit (None when it is not, or cannot be read)."""
        try:
            size = path.stat().st_size
        except OSError:
            return None  # the importer reports it
        if size <= self.max_import_bytes:
            return None
        limit = self.max_import_bytes >> 20
        return f"{path.name}: is {size / 2**20:.0f} MB; cards up to {limit} MB can be imported"

    def export(self, character_id: int, fmt: str) -> CardFile:
        """The character as a card file (lorebook edits included)."""
        chosen = next((f for f in CARD_FORMATS if f == fmt), None)
        if chosen is None:
            raise InputError("export format", f"must be one of {', '.join(CARD_FORMATS)}")
        name = self._characters.get(character_id).name
        data = self._library.export_card(character_id, chosen)
        return CardFile(f"{safe_file_name(name, 'character')}.{chosen}", data)
