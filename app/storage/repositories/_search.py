"""Full-text search over message contents with the FTS5 index ``messages_fts``."""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy import Integer, String, text
from sqlalchemy.orm import Session

from app.storage.models import UTCDateTime
from app.storage.types import Role, SearchHit

_WORD = re.compile(r"\w+", re.UNICODE)

#: How search results are ordered.
SearchOrder = Literal["recent", "relevance"]

_SQL = """
SELECT m.id, m.chat_id, c.title, m.role, m.speaker,
       snippet(messages_fts, 0, '[', ']', '…', :tokens) AS snippet, m.created_at
FROM messages_fts
JOIN messages AS m ON m.id = messages_fts.rowid
JOIN chats AS c ON c.id = m.chat_id
WHERE messages_fts MATCH :query AND c.deleted_at IS NULL {filters}
ORDER BY {order}
LIMIT :limit
"""
#: Newest first lets FTS5 walk its index backwards and stop after ``limit`` hits, so even
#: a word in every message is fast; best match first must score every hit.
_ORDERS = {"recent": "messages_fts.rowid DESC", "relevance": "messages_fts.rank"}
# The id range narrows FTS5's own scan to the chat; the chat_id test makes it exact.
_CHAT_FILTER = (
    " AND messages_fts.rowid BETWEEN"
    " (SELECT min(id) FROM messages WHERE chat_id = :chat_id)"
    " AND (SELECT max(id) FROM messages WHERE chat_id = :chat_id)"
    " AND m.chat_id = :chat_id"
)
_CHARACTER_FILTER = (
    " AND EXISTS (SELECT 1 FROM chat_characters AS cc"
    " WHERE cc.chat_id = m.chat_id AND cc.character_id = :character_id)"
)


def fts_query(query: str) -> str | None:
    """Turn what a user typed into a safe FTS5 query: all words, the last one as a prefix.

    Every word is quoted, so FTS5 operators and punctuation in the input are plain text.
    Returns ``None`` when the input has no words.
    """
    words = _WORD.findall(query)
    if not words:
        return None
    quoted = [f'"{word}"' for word in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def search_messages(
    session: Session,
    query: str,
    *,
    character_id: int | None,
    chat_id: int | None,
    limit: int,
    order: SearchOrder = "recent",
    snippet_tokens: int = 12,
) -> list[SearchHit]:
    """Run the search (trashed chats left out), newest or best match first."""
    match = fts_query(query)
    if match is None:
        return []
    filters = ""
    params: dict[str, object] = {"query": match, "limit": limit, "tokens": snippet_tokens}
    if chat_id is not None:
        filters += _CHAT_FILTER
        params["chat_id"] = chat_id
    if character_id is not None:
        filters += _CHARACTER_FILTER
        params["character_id"] = character_id
    statement = text(_SQL.format(filters=filters, order=_ORDERS[order])).columns(
        id=Integer,
        chat_id=Integer,
        title=String,
        role=String,
        speaker=String,
        snippet=String,
        created_at=UTCDateTime(),
    )
    return [
        SearchHit(
            message_id=row.id,
            chat_id=row.chat_id,
            chat_title=row.title,
            role=Role(row.role),
            speaker=row.speaker,
            snippet=row.snippet,
            created_at=row.created_at,
        )
        for row in session.execute(statement, params)
    ]
