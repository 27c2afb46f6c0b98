"""Typed chat settings: ``chats.settings`` replaces string keys in ``chats.metadata``.

The author's note, preset and format a user chose in Parlor (``metadata["author_note"]``,
``["preset"]``, ``["template"]``) move into the new column; a chat imported from
SillyTavern without a Parlor note gets its ``chat_metadata.note_*`` values, which
were stored but never reached the prompt.

The SillyTavern note mapping is frozen here (as it was at this revision): a migration
imports nothing from the app, so later changes to the app cannot change what it does.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_PARLOR_KEYS = ("author_note", "preset", "template")
#: SillyTavern's ``note_position`` and ``note_role`` numbers, in order.
_POSITIONS = ("after_story", "in_chat", "before_prompt")
_ROLES = ("system", "user", "assistant")
#: The author's note defaults, left out of the stored settings.
_NOTE_DEFAULTS: dict[str, Any] = {
    "depth": 4, "interval": 1, "position": "in_chat", "role": "system",
}  # fmt: skip


def upgrade() -> None:
    """Add the column, then move each chat's settings into it."""
    op.add_column(
        "chats", sa.Column("settings", sa.JSON(), nullable=False, server_default="{}")
    )
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, metadata FROM chats")).fetchall()
    for chat_id, raw in rows:
        metadata = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        settings = _settings_of(metadata)
        if not settings:
            continue
        kept = {k: v for k, v in metadata.items() if k not in _PARLOR_KEYS}
        connection.execute(
            sa.text("UPDATE chats SET settings = :settings, metadata = :meta WHERE id = :id"),
            {"settings": json.dumps(settings), "meta": json.dumps(kept), "id": chat_id},
        )


def _settings_of(metadata: dict[str, Any]) -> dict[str, Any]:
    st = metadata.get("chat_metadata")
    settings = _note_from_st(st) if isinstance(st, dict) else {}
    note = metadata.get("author_note")
    if isinstance(note, dict) and note.get("text"):
        settings["author_note"] = {
            k: note[k] for k in ("text", "depth", "interval") if k in note
        }
    for old, new in (("preset", "preset"), ("template", "format")):
        if isinstance(metadata.get(old), str) and metadata[old]:
            settings[new] = metadata[old]
    return settings


def _note_from_st(st: dict[str, Any]) -> dict[str, Any]:
    """``{"author_note": …}`` from SillyTavern's ``note_*`` keys (empty without a note)."""
    text = st.get("note_prompt")
    if not isinstance(text, str) or not text:
        return {}
    note = {
        "text": text,
        "depth": _whole(st.get("note_depth"), 4),
        "interval": _whole(st.get("note_interval"), 1),
        "position": _pick(_POSITIONS, st.get("note_position"), "in_chat"),
        "role": _pick(_ROLES, st.get("note_role"), "system"),
    }
    return {"author_note": {k: v for k, v in note.items() if _NOTE_DEFAULTS.get(k) != v}}


def _whole(value: object, default: int) -> int:
    """A count (``"4"``, ``4.0`` or ``4``) as a non-negative int; else ``default``."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return max(0, int(value))


def _pick(options: tuple[str, ...], index: object, default: str) -> str:
    """``options[index]`` for a valid index (a number or a digit string); else ``default``."""
    if isinstance(index, str) and index.strip().isdigit():
        index = int(index)
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(options):
        return options[index]
    return default


def downgrade() -> None:
    """Put the Parlor keys back into ``metadata`` and drop the column."""
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, metadata, settings FROM chats")).fetchall()
    for chat_id, raw_meta, raw_settings in rows:
        metadata = json.loads(raw_meta) if isinstance(raw_meta, str) else dict(raw_meta or {})
        settings = json.loads(raw_settings) if isinstance(raw_settings, str) else {}
        if "author_note" in settings:
            metadata["author_note"] = settings["author_note"]
        for old, new in (("preset", "preset"), ("template", "format")):
            if new in settings:
                metadata[old] = settings[new]
        connection.execute(
            sa.text("UPDATE chats SET metadata = :meta WHERE id = :id"),
            {"meta": json.dumps(metadata), "id": chat_id},
        )
    op.execute("ALTER TABLE chats DROP COLUMN settings")
