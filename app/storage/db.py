"""One SQLite database file: the engine, its pragmas, sessions and migrations.

All SQLite tuning lives in :func:`_on_connect`.  Write transactions start with
``BEGIN IMMEDIATE`` so two writers queue on ``busy_timeout`` instead of failing on a
lock upgrade; reads use a plain ``BEGIN`` and, thanks to WAL, never block a writer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from app.errors import ParlorError

if TYPE_CHECKING:
    from alembic.config import Config

#: Milliseconds a connection waits for another writer before giving up.
BUSY_TIMEOUT_MS = 10_000
#: Page cache per connection (KiB) and memory-map size (bytes).
CACHE_KIB = 32_768
MMAP_BYTES = 256 * 1024 * 1024
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_WRITE_OPTION = "parlor_write"


class StorageError(ParlorError):
    """The database file cannot be opened or migrated."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_loads(text: str) -> Any:
    # Most rows hold an empty object; skip the decoder for it (long chats load faster).
    if text == "{}":
        return {}
    return json.loads(text)


def _on_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    """Tune every new SQLite connection (the one place the pragmas are set)."""
    assert isinstance(dbapi_connection, sqlite3.Connection)
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is unreliable).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Reads of long chats: a larger page cache and memory-mapped I/O (no read syscalls).
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cursor.close()


def _on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The engine and session factories for one SQLite file.

    ``sessions`` opens read sessions; :meth:`transaction` opens a write transaction.
    Repositories take a ``Database`` and accept an optional session, so a service can
    run several repository calls in one transaction::

        with db.transaction() as session:
            chats.rename(chat_id, "New", session=session)
            chats.add_message(chat_id, parent_id, ..., session=session)
    """

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.engine = engine
        self.sessions: sessionmaker[Session] = sessionmaker(bind=engine, expire_on_commit=False)
        self._write_sessions: sessionmaker[Session] = sessionmaker(
            bind=engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Open a write transaction (``BEGIN IMMEDIATE``); commit on exit, roll back on error."""
        with self._write_sessions.begin() as session:
            yield session

    @contextmanager
    def read(self, session: Session | None = None) -> Iterator[Session]:
        """Use ``session`` if given, else open a short read-only session."""
        if session is not None:
            yield session
            return
        with self.sessions() as own:
            yield own

    @contextmanager
    def write(self, session: Session | None = None) -> Iterator[Session]:
        """Use ``session`` if given (the caller commits), else a transaction of its own."""
        if session is not None:
            yield session
            return
        with self.transaction() as own:
            yield own

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to the newest revision (``alembic upgrade head``).

        Runs in one transaction with foreign keys off, as SQLite's ALTER procedure asks,
        and checks the foreign keys before committing.  ``revision`` is for tests that
        build an old database.
        """
        # Alembic is imported here, not at the top: only start-up needs it, and it
        # doubles the import time of processes that just read and write chats.
        from alembic import command
        from alembic.util.exc import CommandError

        try:
            with self.engine.connect() as conn:
                raw = conn.connection.driver_connection
                assert isinstance(raw, sqlite3.Connection)
                raw.execute("PRAGMA foreign_keys=OFF")
                try:
                    with conn.begin():
                        command.upgrade(_alembic_config(conn), revision)
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise StorageError(
                                self.path, f"migration broke {len(broken)} foreign key(s)"
                            )
                finally:
                    raw.execute("PRAGMA foreign_keys=ON")
        except CommandError as exc:
            raise StorageError(self.path, f"cannot migrate the schema ({exc})") from exc
        except DatabaseError as exc:
            raise StorageError(self.path, f"not a usable SQLite database ({exc.orig})") from exc

    def revision(self) -> str | None:
        """Return the schema revision the file is at (``None`` for a new file)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        """Close every pooled connection (the WAL is checkpointed by the last one)."""
        self.engine.dispose()


def _alembic_config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = conn
    return config


def open_database(path: Path) -> Database:
    """Create the engine for the SQLite file at ``path`` (created when missing).

    Call :meth:`Database.migrate` once at start-up before using the repositories.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    url = URL.create("sqlite+pysqlite", database=str(path))
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return Database(path, engine)
