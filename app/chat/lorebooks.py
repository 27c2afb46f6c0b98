"""The lorebook service: World Info books (standalone or a card's own) and their entries.

Entry ids (SillyTavern's ``uid``) are allocated here, inside the transaction that adds
the entry; an edit reads the stored entry and writes it back in one transaction, so keys
the editor does not show are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.chat.imports import Importer, ImportResult, ItemKind
from app.chat.turns import Stores
from app.errors import InputError, NotFound
from app.storage.db import Database
from app.storage.types import JSONDict, Lorebook, LorebookEntry

#: What the Lorebooks page imports (a card with its book goes to the Characters page).
BOOK_KINDS: Final[tuple[ItemKind, ...]] = ("lorebook",)
#: SillyTavern's defaults for a new entry (``uid`` is added when it is stored).
NEW_ENTRY: Final[JSONDict] = {
    "key": [], "keysecondary": [], "comment": "New entry", "content": "", "constant": False,
    "selective": True, "selectiveLogic": 0, "order": 100, "position": 0, "disable": False,
    "depth": 4, "probability": 100, "useProbability": True,
}  # fmt: skip


def new_entry(uid: int) -> JSONDict:
    """A fresh, enabled entry with SillyTavern's defaults."""
    return {"uid": uid, **{k: list(v) if isinstance(v, list) else v for k, v in NEW_ENTRY.items()}}


def next_uid(entries: tuple[LorebookEntry, ...]) -> int:
    """One more than the largest numeric ``uid`` in ``entries`` (0 for none)."""
    uids = [int(str(e.data.get("uid"))) for e in entries if str(e.data.get("uid", "")).isdigit()]
    return max(uids, default=-1) + 1


@dataclass(frozen=True)
class EntryEdit:
    """The fields of an entry the editor shows; every other key of the entry is kept."""

    keys: tuple[str, ...] = ()
    secondary: tuple[str, ...] = ()
    comment: str = ""
    content: str = ""
    constant: bool = False
    enabled: bool = True
    logic: int = 0
    order: int = 100
    position: int = 0
    depth: int = 4
    probability: int = 100

    def applied_to(self, data: JSONDict) -> JSONDict:
        """``data`` with these values written over it."""
        if not 0 <= self.probability <= 100:
            raise InputError("probability", "must be between 0 and 100")
        if self.depth < 0:
            raise InputError("depth", "must not be negative")
        out = dict(data)
        out.update(
            key=list(self.keys), keysecondary=list(self.secondary), comment=self.comment,
            content=self.content, constant=self.constant, disable=not self.enabled,
            selectiveLogic=self.logic, order=self.order, position=self.position,
            depth=self.depth, probability=self.probability,
        )  # fmt: skip
        out["selective"] = bool(self.secondary) or bool(data.get("selective", True))
        out["useProbability"] = self.probability < 100 or bool(data.get("useProbability", True))
        return out


@dataclass(frozen=True)
class BookSummary:
    """A lorebook as the book picker lists it."""

    id: int
    name: str
    #: The character whose card holds the book (None for a standalone book).
    owner: str | None
    entry_count: int


class LorebookService:
    """Lists, imports and edits lorebooks; every edit is one transaction."""

    def __init__(self, db: Database, stores: Stores, importer: Importer) -> None:
        self._db = db
        self._stores = stores
        self._importer = importer

    def books(self) -> list[BookSummary]:
        """Every lorebook by name, with the character it belongs to."""
        names = {c.id: c.name for c in self._stores.characters.list_characters()}
        return [
            BookSummary(book.id, book.name, _owner(book, names), len(book.entries))
            for book in self._stores.lorebooks.list_lorebooks()
        ]

    def book(self, book_id: int) -> Lorebook:
        """One book with its entries (``NotFound`` if it is gone)."""
        return self._stores.lorebooks.get(book_id)

    def import_world(self, path: Path) -> ImportResult:
        """Import a SillyTavern World Info file as a new book (errors in the result).

        The importer of ``parlor import`` stores it: an identical book already there is
        reported (with its id), not stored twice.
        """
        return self._importer.import_file(path, only=BOOK_KINDS)

    def add_entry(self, book_id: int) -> LorebookEntry:
        """Append a new entry (with the next free ``uid``) to the book."""
        books = self._stores.lorebooks
        with self._db.transaction() as session:
            book = books.get(book_id, session=session)
            return books.add_entry(book.id, new_entry(next_uid(book.entries)), session=session)

    def update_entry(self, book_id: int, entry_id: int, edit: EntryEdit) -> LorebookEntry:
        """Write the editor's values into the stored entry."""
        books = self._stores.lorebooks
        with self._db.transaction() as session:
            entry = _entry_of(books.get(book_id, session=session), entry_id)
            return books.update_entry(entry.id, edit.applied_to(entry.data), session=session)

    def delete_entry(self, book_id: int, entry_id: int) -> None:
        """Delete one entry of the book."""
        books = self._stores.lorebooks
        with self._db.transaction() as session:
            entry = _entry_of(books.get(book_id, session=session), entry_id)
            books.delete_entry(entry.id, session=session)


def _owner(book: Lorebook, names: dict[int, str]) -> str | None:
    """The name of the character whose card holds ``book`` (None for a standalone book)."""
    if book.character_id is None:
        return None
    return names.get(book.character_id, "hidden character")


def _entry_of(book: Lorebook, entry_id: int) -> LorebookEntry:
    entry = next((e for e in book.entries if e.id == entry_id), None)
    if entry is None:
        raise NotFound("lorebook entry", entry_id)
    return entry
