"""Alembic migrations of the Parlor database (run by :meth:`app.storage.db.Database.migrate`)."""
