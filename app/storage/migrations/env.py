"""Alembic environment: runs migrations on the connection ``Database.migrate`` hands in.

There is no ``alembic.ini`` at run time; :func:`app.storage.db._alembic_config` builds the
configuration in code and puts an open connection in ``config.attributes["connection"]``.
For development (``alembic revision``), ``sqlalchemy.url`` in a config file also works.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from app.storage.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    """Run the migrations online, on the given connection or on ``sqlalchemy.url``."""
    config = context.config
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    engine = create_engine(url)
    with engine.begin() as own:
        _run(own)
    engine.dispose()


run_migrations()
