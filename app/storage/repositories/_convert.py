"""Row-to-domain conversion shared by the repositories (the repository boundary)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InputError
from app.storage.models import ChatCharacterRow, ChatRow, MessageRow, table_of
from app.storage.types import Chat, ChatSettings, GenInfo, JSONDict, Message, Role, trusted_build

_M = table_of(MessageRow).c

#: The message columns every message query selects, in :func:`to_message` order.
MESSAGE_COLUMNS = (
    _M.id,
    _M.chat_id,
    _M.parent_id,
    _M.role,
    _M.speaker,
    _M.content,
    _M.created_at,
    _M.gen_info,
    _M.extra,
    _M.active_child_id,
    _M.sibling_index,
    _M.token_count,
)


class TreeError(InputError):
    """A message operation that does not fit the chat's tree (wrong parent, bad index)."""


def to_message(row: Sequence[Any]) -> Message:
    """Convert a row of :data:`MESSAGE_COLUMNS` into a :class:`Message`."""
    return Message(
        id=row[0],
        chat_id=row[1],
        parent_id=row[2],
        role=Role(row[3]),
        speaker=row[4],
        content=row[5],
        created_at=row[6],
        gen_info=GenInfo.from_json(row[7]),
        extra=row[8],
        active_child_id=row[9],
        sibling_index=row[10],
        token_count=row[11],
    )


_ROLES = {role.value: role for role in Role}
_EMPTY_OBJECT = "{}"


def messages_from_sqlite(rows: Sequence[Sequence[Any]], empty_gen_info: GenInfo) -> list[Message]:
    """Convert raw ``sqlite3`` rows of :data:`MESSAGE_COLUMNS` (text dates and JSON).

    The fast path for long chats: no SQLAlchemy result processing, each JSON column
    decoded in one ``json.loads`` call for all rows (the common empty objects skipped),
    and identical generation-info texts turned into one shared frozen ``GenInfo``.
    """
    extras = _decode_column([row[8] for row in rows])
    infos: dict[str, GenInfo] = {_EMPTY_OBJECT: empty_gen_info}
    for text, value in zip(
        (row[7] for row in rows), _decode_column([row[7] for row in rows]), strict=True
    ):
        if text not in infos:
            infos[text] = GenInfo.from_json(value)
    utc = UTC
    return [
        trusted_build(
            Message,
            {
                "id": row[0],
                "chat_id": row[1],
                "parent_id": row[2],
                "role": _ROLES[row[3]],
                "speaker": row[4],
                "content": row[5],
                "created_at": datetime.fromisoformat(row[6]).replace(tzinfo=utc),
                "gen_info": infos[row[7]],
                "extra": extra,
                "active_child_id": row[9],
                "sibling_index": row[10],
                "token_count": row[11],
            },
        )
        for row, extra in zip(rows, extras, strict=True)
    ]


def _decode_column(texts: list[str]) -> list[JSONDict]:
    """Decode many JSON object texts at once; ``{}`` is not parsed at all."""
    wanted = [i for i, text in enumerate(texts) if text != _EMPTY_OBJECT]
    decoded: list[JSONDict] = [{} for _ in texts]
    if wanted:
        values = json.loads("[" + ",".join(texts[i] for i in wanted) + "]")
        for i, value in zip(wanted, values, strict=True):
            decoded[i] = value
    return decoded


def character_ids(session: Session, chat_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """Return each chat's character ids in position order."""
    result: dict[int, list[int]] = {chat_id: [] for chat_id in chat_ids}
    if not chat_ids:
        return {}
    query = (
        select(ChatCharacterRow.chat_id, ChatCharacterRow.character_id)
        .where(ChatCharacterRow.chat_id.in_(chat_ids))
        .order_by(ChatCharacterRow.chat_id, ChatCharacterRow.position)
    )
    for chat_id, character_id in session.execute(query):
        result[chat_id].append(character_id)
    return {chat_id: tuple(ids) for chat_id, ids in result.items()}


def to_chat(row: ChatRow, characters: tuple[int, ...]) -> Chat:
    """Convert a chat row and its character ids into a :class:`Chat`."""
    return Chat(
        id=row.id,
        title=row.title,
        character_ids=characters,
        persona_id=row.persona_id,
        metadata=dict(row.meta),
        active_root_id=row.active_root_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        settings=ChatSettings.from_json(row.settings),
    )
