"""open_database: pragmas, sessions, transactions and bad files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import event, text

from app.errors import ParlorError
from app.storage import Database, StorageError, open_database
from app.storage.repositories import ChatRepository


def test_every_connection_is_tuned(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_sessions_do_not_expire_on_commit(db: Database) -> None:
    assert db.sessions.kw["expire_on_commit"] is False


def _asks_for_the_write_lock(statement: str) -> bool:
    """``BEGIN IMMEDIATE`` or a write: the statement cannot finish while another writer works."""
    return statement.lstrip().upper().startswith(("BEGIN IMMEDIATE", "INSERT", "UPDATE", "DELETE"))


def test_write_transaction_takes_the_write_lock_at_once(db: Database) -> None:
    """A second writer waits for the first (BEGIN IMMEDIATE), instead of failing later.

    The second writer reads, then writes, in one transaction.  The first commits only once
    the second has asked for the write lock.  Taken at once, the second's read comes after
    the first's commit; a deferred ``BEGIN`` would read the old title and then fail to write.
    """
    chats = ChatRepository(db)
    chat = chats.create_chat([], title="before")
    order: list[str] = []
    seen: list[str] = []
    errors: list[Exception] = []
    asking = threading.Event()

    def second_writer() -> None:
        try:
            with db.transaction() as session:
                seen.append(chats.get_chat(chat.id, session=session).title)
                chats.rename(chat.id, "second", session=session)
            order.append("second")
        except Exception as exc:  # reported by the assertions below
            errors.append(exc)

    def watch(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if threading.current_thread() is thread and _asks_for_the_write_lock(statement):
            asking.set()

    thread = threading.Thread(target=second_writer)
    event.listen(db.engine, "before_cursor_execute", watch)
    try:
        with db.transaction() as session:
            chats.rename(chat.id, "first", session=session)
            thread.start()
            assert asking.wait(10), "the second writer never asked for the write lock"
            order.append("first")
        thread.join(timeout=10)
    finally:
        event.remove(db.engine, "before_cursor_execute", watch)
    assert not thread.is_alive()
    assert errors == []
    assert seen == ["first"]  # its transaction began after the first one committed
    assert order == ["first", "second"]
    assert chats.get_chat(chat.id).title == "second"


def test_readers_see_committed_data_while_a_writer_works(db: Database) -> None:
    chats = ChatRepository(db)
    chat = chats.create_chat([], title="before")
    with db.transaction() as session:
        chats.rename(chat.id, "during", session=session)
        assert chats.get_chat(chat.id).title == "before"  # WAL: no blocking, old snapshot
    assert chats.get_chat(chat.id).title == "during"


def test_savepoints_work_inside_a_transaction(db: Database) -> None:
    chats = ChatRepository(db)
    chat = chats.create_chat([], title="a")
    with db.transaction() as session:
        nested = session.begin_nested()
        chats.rename(chat.id, "b", session=session)
        nested.rollback()
        chats.set_persona(chat.id, None, session=session)
    assert chats.get_chat(chat.id).title == "a"


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "parlor.db"
    path.write_bytes(b"this is not sqlite at all, just text" * 100)
    database = open_database(path)
    with pytest.raises(StorageError, match=r"parlor\.db: not a usable SQLite database") as info:
        database.migrate()
    assert isinstance(info.value, ParlorError)
    assert "\n" not in str(info.value)
    database.close()


def test_a_database_from_a_newer_parlor(tmp_path: Path) -> None:
    database = open_database(tmp_path / "parlor.db")
    database.migrate()
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StorageError, match="cannot migrate the schema"):
        database.migrate()
    database.close()
