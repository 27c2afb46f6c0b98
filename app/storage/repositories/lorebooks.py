"""LorebookRepository: World Info books and their entries, every object kept whole."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.errors import InputError, NotFound
from app.storage.db import Database
from app.storage.models import LorebookEntryRow, LorebookRow, utcnow
from app.storage.types import JSONDict, Lorebook, LorebookEntry


def _to_entry(row: LorebookEntryRow) -> LorebookEntry:
    return LorebookEntry(
        id=row.id, lorebook_id=row.lorebook_id, position=row.position, data=row.data
    )


class LorebookRepository:
    """Lorebooks in one :class:`Database`; a card's embedded book has a ``character_id``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        name: str,
        *,
        description: str = "",
        data: JSONDict | None = None,
        entries: Sequence[JSONDict] = (),
        character_id: int | None = None,
        session: Session | None = None,
    ) -> Lorebook:
        """Store a book: book-level fields in ``data``, each entry object in order."""
        if not name.strip():
            raise InputError("name", "a lorebook needs a name")
        now = utcnow()
        with self._db.write(session) as s:
            row = LorebookRow(
                name=name,
                description=description,
                data=dict(data or {}),
                character_id=character_id,
                created_at=now,
                modified_at=now,
            )
            s.add(row)
            s.flush()
            self._insert_entries(s, row.id, entries, start=0)
            return self._book(s, row.id)

    def get(self, lorebook_id: int, *, session: Session | None = None) -> Lorebook:
        """Load a book with its entries, or raise :class:`NotFound`."""
        with self._db.read(session) as s:
            return self._book(s, lorebook_id)

    def for_character(
        self, character_id: int, *, session: Session | None = None
    ) -> Lorebook | None:
        """The book embedded in a character's card, if it has one."""
        with self._db.read(session) as s:
            book_id = s.scalar(
                select(LorebookRow.id)
                .where(LorebookRow.character_id == character_id)
                .order_by(LorebookRow.id)
                .limit(1)
            )
            return self._book(s, book_id) if book_id is not None else None

    def list_lorebooks(self, *, session: Session | None = None) -> list[Lorebook]:
        """All books by name, with their entries."""
        with self._db.read(session) as s:
            ids = s.scalars(select(LorebookRow.id).order_by(func.lower(LorebookRow.name)))
            return [self._book(s, book_id) for book_id in list(ids)]

    def update(
        self,
        lorebook_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        data: JSONDict | None = None,
        session: Session | None = None,
    ) -> Lorebook:
        """Change a book's name, description and/or book-level fields."""
        values: dict[str, object] = {"modified_at": utcnow()}
        if name is not None:
            if not name.strip():
                raise InputError("name", "a lorebook needs a name")
            values["name"] = name
        if description is not None:
            values["description"] = description
        if data is not None:
            values["data"] = dict(data)
        with self._db.write(session) as s:
            result = s.execute(
                update(LorebookRow).where(LorebookRow.id == lorebook_id).values(**values)
            )
            if getattr(result, "rowcount", 0) == 0:
                raise NotFound("lorebook", lorebook_id)
            return self._book(s, lorebook_id)

    def replace_entries(
        self, lorebook_id: int, entries: Sequence[JSONDict], *, session: Session | None = None
    ) -> Lorebook:
        """Replace all entries of a book (in the given order)."""
        with self._db.write(session) as s:
            self._book(s, lorebook_id)
            s.execute(delete(LorebookEntryRow).where(LorebookEntryRow.lorebook_id == lorebook_id))
            self._insert_entries(s, lorebook_id, entries, start=0)
            return self._touch(s, lorebook_id)

    def add_entry(
        self, lorebook_id: int, data: JSONDict, *, session: Session | None = None
    ) -> LorebookEntry:
        """Append one entry to a book."""
        with self._db.write(session) as s:
            self._book(s, lorebook_id)
            last = s.scalar(
                select(func.max(LorebookEntryRow.position)).where(
                    LorebookEntryRow.lorebook_id == lorebook_id
                )
            )
            rows = self._insert_entries(s, lorebook_id, [data], start=(last or 0) + 1)
            self._touch(s, lorebook_id)
            return _to_entry(rows[0])

    def update_entry(
        self, entry_id: int, data: JSONDict, *, session: Session | None = None
    ) -> LorebookEntry:
        """Replace one entry's object."""
        with self._db.write(session) as s:
            row = s.get(LorebookEntryRow, entry_id)
            if row is None:
                raise NotFound("lorebook entry", entry_id)
            row.data = dict(data)
            s.flush()
            self._touch(s, row.lorebook_id)
            return _to_entry(row)

    def delete_entry(self, entry_id: int, *, session: Session | None = None) -> None:
        """Delete one entry."""
        with self._db.write(session) as s:
            row = s.get(LorebookEntryRow, entry_id)
            if row is None:
                raise NotFound("lorebook entry", entry_id)
            s.delete(row)
            s.flush()
            self._touch(s, row.lorebook_id)

    def delete(self, lorebook_id: int, *, session: Session | None = None) -> None:
        """Delete a book and its entries."""
        with self._db.write(session) as s:
            result = s.execute(delete(LorebookRow).where(LorebookRow.id == lorebook_id))
            if getattr(result, "rowcount", 0) == 0:
                raise NotFound("lorebook", lorebook_id)

    def _insert_entries(
        self, s: Session, lorebook_id: int, entries: Sequence[JSONDict], *, start: int
    ) -> list[LorebookEntryRow]:
        rows = [
            LorebookEntryRow(lorebook_id=lorebook_id, position=start + i, data=dict(entry))
            for i, entry in enumerate(entries)
        ]
        s.add_all(rows)
        s.flush()
        return rows

    def _touch(self, s: Session, lorebook_id: int) -> Lorebook:
        s.execute(
            update(LorebookRow).where(LorebookRow.id == lorebook_id).values(modified_at=utcnow())
        )
        return self._book(s, lorebook_id)

    def _book(self, s: Session, lorebook_id: int) -> Lorebook:
        row = s.get(LorebookRow, lorebook_id, populate_existing=True)
        if row is None:
            raise NotFound("lorebook", lorebook_id)
        entries = s.scalars(
            select(LorebookEntryRow)
            .where(LorebookEntryRow.lorebook_id == lorebook_id)
            .order_by(LorebookEntryRow.position, LorebookEntryRow.id)
        )
        return Lorebook(
            id=row.id,
            name=row.name,
            description=row.description,
            data=row.data,
            character_id=row.character_id,
            entries=tuple(_to_entry(entry) for entry in entries),
            created_at=row.created_at,
            modified_at=row.modified_at,
        )
