"""CharacterRepository: imported character cards, stored as complete documents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.errors import InputError, NotFound
from app.storage.db import Database
from app.storage.models import CharacterRow, utcnow
from app.storage.types import Character, CharacterSummary, JSONDict


def _to_character(row: CharacterRow) -> Character:
    return Character(
        id=row.id,
        name=row.name,
        card=row.card,
        avatar=row.avatar,
        tags=tuple(row.tags),
        created_at=row.created_at,
        modified_at=row.modified_at,
        deleted_at=row.deleted_at,
    )


_SUMMARY = select(
    CharacterRow.id,
    CharacterRow.name,
    CharacterRow.tags,
    CharacterRow.avatar.is_not(None).label("has_avatar"),
    CharacterRow.modified_at,
    CharacterRow.deleted_at,
)


def _to_summary(row: Any) -> CharacterSummary:
    return CharacterSummary(
        id=row.id,
        name=row.name,
        tags=tuple(row.tags),
        has_avatar=bool(row.has_avatar),
        modified_at=row.modified_at,
        deleted_at=row.deleted_at,
    )


class CharacterRepository:
    """Characters in one :class:`Database`; the ``card`` dict is stored as-is (lossless)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        name: str,
        card: JSONDict,
        *,
        avatar: bytes | None = None,
        tags: Sequence[str] = (),
        session: Session | None = None,
    ) -> Character:
        """Store a new character; ``card`` is the cards layer's complete document."""
        if not name.strip():
            raise InputError("name", "a character needs a name")
        now = utcnow()
        with self._db.write(session) as s:
            row = CharacterRow(
                name=name,
                card=card,
                avatar=avatar,
                tags=list(tags),
                created_at=now,
                modified_at=now,
            )
            s.add(row)
            s.flush()
            return _to_character(row)

    def get(self, character_id: int, *, session: Session | None = None) -> Character:
        """Load a character (trashed ones too) or raise :class:`NotFound`."""
        with self._db.read(session) as s:
            row = s.get(CharacterRow, character_id, populate_existing=True)
            if row is None:
                raise NotFound("character", character_id)
            return _to_character(row)

    def list_characters(
        self, *, include_deleted: bool = False, session: Session | None = None
    ) -> list[CharacterSummary]:
        """Characters by name, without cards and avatars (cheap for long lists)."""
        query = _SUMMARY.order_by(func.lower(CharacterRow.name), CharacterRow.id)
        if not include_deleted:
            query = query.where(CharacterRow.deleted_at.is_(None))
        with self._db.read(session) as s:
            return [_to_summary(row) for row in s.execute(query)]

    def summary(self, character_id: int, *, session: Session | None = None) -> CharacterSummary:
        """One character without its card and avatar, or :class:`NotFound`."""
        with self._db.read(session) as s:
            row = s.execute(_SUMMARY.where(CharacterRow.id == character_id)).one_or_none()
            if row is None:
                raise NotFound("character", character_id)
            return _to_summary(row)

    def avatar(self, character_id: int, *, session: Session | None = None) -> bytes | None:
        """Return a character's avatar image bytes (``None`` when it has none)."""
        with self._db.read(session) as s:
            row = s.execute(
                select(CharacterRow.avatar).where(CharacterRow.id == character_id)
            ).one_or_none()
            if row is None:
                raise NotFound("character", character_id)
            return row[0]

    def update(
        self,
        character_id: int,
        *,
        name: str | None = None,
        card: JSONDict | None = None,
        tags: Sequence[str] | None = None,
        session: Session | None = None,
    ) -> Character:
        """Change a character's name, card document and/or tags."""
        values: dict[str, object] = {}
        if name is not None:
            if not name.strip():
                raise InputError("name", "a character needs a name")
            values["name"] = name
        if card is not None:
            values["card"] = card
        if tags is not None:
            values["tags"] = list(tags)
        return self._update(character_id, session, **values)

    def set_avatar(
        self, character_id: int, avatar: bytes | None, *, session: Session | None = None
    ) -> Character:
        """Replace (or with ``None`` remove) a character's avatar."""
        return self._update(character_id, session, avatar=avatar)

    def trash(self, character_id: int, *, session: Session | None = None) -> Character:
        """Hide a character (soft delete); its chats stay."""
        return self._update(character_id, session, deleted_at=utcnow())

    def restore(self, character_id: int, *, session: Session | None = None) -> Character:
        """Undo :meth:`trash`."""
        return self._update(character_id, session, deleted_at=None)

    def purge(self, character_id: int, *, session: Session | None = None) -> None:
        """Delete a character for good (its chats stay, without it; its lorebooks go)."""
        with self._db.write(session) as s:
            row = s.get(CharacterRow, character_id)
            if row is None:
                raise NotFound("character", character_id)
            s.delete(row)

    def _update(self, character_id: int, session: Session | None, **values: object) -> Character:
        with self._db.write(session) as s:
            result = s.execute(
                update(CharacterRow)
                .where(CharacterRow.id == character_id)
                .values(modified_at=utcnow(), **values)
            )
            if getattr(result, "rowcount", 0) == 0:
                raise NotFound("character", character_id)
            row = s.get(CharacterRow, character_id, populate_existing=True)
            assert row is not None
            return _to_character(row)
