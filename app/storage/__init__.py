"""Chat storage: one SQLite file, SQLAlchemy rows, repositories and Alembic migrations.

Start-up opens and migrates the database once::

    db = open_database(settings.data_dir / "parlor.db")
    db.migrate()
    chats = ChatRepository(db)

Other layers use the repositories and the domain types in :mod:`app.storage.types`;
nothing outside this package touches :mod:`app.storage.models`.
"""

from app.storage.db import Database, StorageError, open_database

__all__ = ["Database", "StorageError", "open_database"]
