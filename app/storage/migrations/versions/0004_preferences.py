"""User preferences: the default prompt format and sampler preset, one row per key.

A chat without its own choice (and whose character names none) uses these before
falling back on the model's auto-detected format and preset.  ``parlor import`` of a
SillyTavern data folder sets them from the folder's ``settings.json``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``preferences`` (key → JSON value)."""
    op.create_table(
        "preferences",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    """Drop ``preferences``."""
    op.drop_table("preferences")
