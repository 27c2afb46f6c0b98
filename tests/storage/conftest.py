"""Fixtures for the storage tests: a migrated database in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text, update

from app.storage import Database, open_database
from app.storage.models import MessageRow, table_of, utcnow
from app.storage.repositories import (
    CharacterRepository,
    ChatRepository,
    LorebookRepository,
    PersonaRepository,
)


@pytest.fixture(scope="session")
def sillytavern_dir() -> Path:
    """The saved SillyTavern reference files (cards, presets)."""
    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "sillytavern"
    assert path.is_dir(), f"missing reference folder {path}"
    return path


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh database file, migrated to the newest revision."""
    database = open_database(tmp_path / "parlor.db")
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def chats(db: Database) -> ChatRepository:
    """The chat repository on :func:`db`."""
    return ChatRepository(db)


@pytest.fixture
def characters(db: Database) -> CharacterRepository:
    """The character repository on :func:`db`."""
    return CharacterRepository(db)


@pytest.fixture
def personas(db: Database) -> PersonaRepository:
    """The persona repository on :func:`db`."""
    return PersonaRepository(db)


@pytest.fixture
def lorebooks(db: Database) -> LorebookRepository:
    """The lorebook repository on :func:`db`."""
    return LorebookRepository(db)


@pytest.fixture
def character_id(characters: CharacterRepository) -> int:
    """One stored character, Seraphina, with a minimal card."""
    card = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Seraphina"}}
    return characters.create("Seraphina", card).id


#: ``bulk_chain(chat_id, parent_id, count) -> leaf_id``
BulkChain = Callable[[int, int, int], int]


@pytest.fixture
def bulk_chain(db: Database) -> BulkChain:
    """Insert a linear chain of messages below a parent in one statement (fast set-up)."""

    def insert_chain(chat_id: int, parent_id: int, count: int) -> int:
        table = table_of(MessageRow)
        now = utcnow()
        with db.transaction() as s:
            start = int(s.scalar(select(func.max(table.c.id))) or 0) + 1
            rows: list[dict[str, object]] = [
                {
                    "id": start + i,
                    "chat_id": chat_id,
                    "parent_id": parent_id if i == 0 else start + i - 1,
                    "role": "user" if i % 2 else "assistant",
                    "speaker": "x",
                    "content": f"bulk message number {i} about lanterns and rivers",
                    "created_at": now,
                    "gen_info": {},
                    "extra": {},
                    "active_child_id": start + i + 1 if i < count - 1 else None,
                    "sibling_index": 0,
                }
                for i in range(count)
            ]
            s.execute(text("PRAGMA defer_foreign_keys = ON"))
            s.execute(insert(table), rows)
            s.execute(update(table).where(table.c.id == parent_id).values(active_child_id=start))
        return start + count - 1

    return insert_chain
