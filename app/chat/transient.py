"""Unsaved chats for one-off prompts (``parlor prompt`` and the API's ``character``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from app.storage.types import Chat, ChatSettings, GenInfo, Message, Role


def transient_chat(character_id: int, settings: ChatSettings | None = None) -> Chat:
    """A chat that is never stored, for building a prompt."""
    now = datetime.now(UTC)
    return Chat(
        id=0,
        title="(unsaved)",
        character_ids=(character_id,),
        persona_id=None,
        metadata={},
        active_root_id=None,
        created_at=now,
        updated_at=now,
        settings=settings or ChatSettings(),
    )


def transient_history(turns: Sequence[tuple[Role, str, str]]) -> list[Message]:
    """``(role, speaker, text)`` turns as an unsaved chain of messages."""
    now = datetime.now(UTC)
    return [
        Message(
            id=-(index + 1),
            chat_id=0,
            parent_id=-index if index else None,
            role=role,
            speaker=speaker,
            content=text,
            created_at=now,
            gen_info=GenInfo(),
            extra={},
            active_child_id=None,
            sibling_index=0,
        )
        for index, (role, speaker, text) in enumerate(turns)
    ]
