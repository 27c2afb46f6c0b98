"""SillyTavern's per-chat ``chat_metadata`` note keys ↔ Parlor's :class:`ChatSettings`.

SillyTavern keeps a chat's author's note in ``chat_metadata`` as ``note_prompt``,
``note_interval``, ``note_depth``, ``note_position`` (0 after the story string, 1 in the
chat, 2 before the prompt) and ``note_role`` (0 system, 1 user, 2 assistant).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from app.storage.types import (
    NOTE_POSITIONS,
    NOTE_ROLES,
    AuthorNoteSettings,
    ChatSettings,
    JSONDict,
    whole_number,
)

#: The keys SillyTavern writes for the author's note.
NOTE_KEYS = ("note_prompt", "note_interval", "note_depth", "note_position", "note_role")


def settings_from_st(
    chat_metadata: Mapping[str, Any], base: ChatSettings | None = None
) -> ChatSettings:
    """``base`` (default: empty settings) with the author's note of ``chat_metadata``."""
    base = base or ChatSettings()
    default = AuthorNoteSettings()
    text = chat_metadata.get("note_prompt")
    if not isinstance(text, str) or not text:
        return base
    note = AuthorNoteSettings(
        text=text,
        depth=whole_number(chat_metadata.get("note_depth"), default.depth),
        interval=whole_number(chat_metadata.get("note_interval"), default.interval),
        position=_pick(NOTE_POSITIONS, chat_metadata.get("note_position"), default.position),
        role=_pick(NOTE_ROLES, chat_metadata.get("note_role"), default.role),
    )
    return replace(base, author_note=note)


def settings_to_st(settings: ChatSettings, chat_metadata: Mapping[str, Any]) -> JSONDict:
    """``chat_metadata`` with its note keys set from ``settings`` (other keys kept)."""
    note = settings.author_note
    updated = dict(chat_metadata)
    updated.update(
        note_prompt=note.text,
        note_interval=note.interval,
        note_depth=note.depth,
        note_position=NOTE_POSITIONS.index(note.position),
        note_role=NOTE_ROLES.index(note.role),
    )
    return updated


def _pick(options: tuple[Any, ...], index: object, default: Any) -> Any:
    if isinstance(index, str) and index.strip().isdigit():
        index = int(index)
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(options):
        return options[index]
    return default
