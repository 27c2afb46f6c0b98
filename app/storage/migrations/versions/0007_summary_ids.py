"""Summary ids are never reused: ``memory_summaries`` gets SQLite's AUTOINCREMENT.

A summary written in place of a stale one took the stale one's id when that was the
largest (SQLite reuses the largest rowid freed), so an edit, pin or delete by the old id
from a page shown before could land on the new summary.  The table is copied into one
declared AUTOINCREMENT; its rows and index are kept.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Recreate ``memory_summaries`` with AUTOINCREMENT ids."""
    with op.batch_alter_table(
        "memory_summaries", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass


def downgrade() -> None:
    """Recreate ``memory_summaries`` with plain rowid ids."""
    with op.batch_alter_table("memory_summaries", recreate="always"):
        pass
