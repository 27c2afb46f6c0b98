"""Message-tree operations on an open session: insert, walk, delete, copy.

A chat is a forest of message rows.  Rows with the same ``(chat_id, parent_id)`` are
siblings (swipes, branches), ordered by ``sibling_index``.  ``chats.active_root_id`` and
each row's ``active_child_id`` say which sibling is shown, so the active path is found by
following those pointers down from the chat.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.storage.models import ChatRow, MessageRow, table_of, utcnow
from app.storage.repositories._convert import (
    MESSAGE_COLUMNS,
    messages_from_sqlite,
    to_message,
)
from app.storage.types import GenInfo, JSONDict, Message, Role

_T = table_of(MessageRow)
_M = _T.c
_C = table_of(ChatRow).c


class Prepared:
    """The SQL of the hot paths (append, stream), built once so a call only binds values."""

    def __init__(self) -> None:
        chats = table_of(ChatRow)
        self.touch = (
            update(chats).where(_C.id == bindparam("p_chat")).values(updated_at=bindparam("p_now"))
        )
        self.parent_chat = select(_M.chat_id).where(_M.id == bindparam("p_parent"))
        next_index = (
            select(func.coalesce(func.max(_M.sibling_index) + 1, 0))
            .where(
                _M.chat_id == bindparam("p_chat"),
                _M.parent_id.is_not_distinct_from(bindparam("p_parent", type_=Integer)),
            )
            .scalar_subquery()
        )
        self.insert = (
            insert(_T)
            .values(
                chat_id=bindparam("p_chat"),
                parent_id=bindparam("p_parent"),
                role=bindparam("p_role"),
                speaker=bindparam("p_speaker"),
                content=bindparam("p_content"),
                created_at=bindparam("p_created"),
                gen_info=bindparam("p_gen_info"),
                extra=bindparam("p_extra"),
                sibling_index=next_index,
            )
            .returning(*MESSAGE_COLUMNS)
        )
        self.point_root = (
            update(chats)
            .where(_C.id == bindparam("p_chat"))
            .values(active_root_id=bindparam("p_child"))
        )
        self.point_child = (
            update(_T)
            .where(_M.id == bindparam("p_parent"), _M.chat_id == bindparam("p_chat"))
            .values(active_child_id=bindparam("p_child"))
        )
        self.set_extra = (
            update(_T).where(_M.id == bindparam("p_id")).values(extra=bindparam("p_extra"))
        )
        self.set_content = (
            update(_T)
            .where(_M.id == bindparam("p_id"))
            .values(content=bindparam("p_content"), token_count=None)
        )


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))


def touch_chat(session: Session, sql: Prepared, chat_id: int, now: datetime) -> None:
    """Set the chat's ``updated_at``; raise :class:`NotFound` if there is no such chat."""
    if _rowcount(session.execute(sql.touch, {"p_chat": chat_id, "p_now": now})) == 0:
        raise NotFound("chat", chat_id)


def insert_message(
    session: Session,
    sql: Prepared,
    chat_id: int,
    parent_id: int | None,
    *,
    role: Role,
    speaker: str,
    content: str,
    gen_info: GenInfo | None = None,
    extra: JSONDict | None = None,
    created_at: datetime | None = None,
    activate: bool = True,
) -> Message:
    """Insert one message as the last child of ``parent_id`` (``None``: a root).

    Four statements: touch the chat, insert the row, point the parent at it (which also
    checks that the parent belongs to the chat) and, when not activating, that check alone.
    """
    now = utcnow()
    touch_chat(session, sql, chat_id, now)
    params = {
        "p_chat": chat_id,
        "p_parent": parent_id,
        "p_role": Role(role).value,
        "p_speaker": speaker,
        "p_content": content,
        "p_created": created_at or now,
        "p_gen_info": (gen_info or GenInfo()).to_json(),
        "p_extra": extra or {},
    }
    if (
        parent_id is not None
        and not activate
        and session.scalar(sql.parent_chat, {"p_parent": parent_id}) != chat_id
    ):
        raise NotFound("message", parent_id)
    try:
        message = to_message(session.execute(sql.insert, params).one())
    except IntegrityError as exc:  # the parent_id foreign key: no such message
        raise NotFound("message", parent_id or 0) from exc
    if activate and not point_at(session, sql, chat_id, parent_id, message.id):
        raise NotFound("message", parent_id or 0)
    return message


def point_at(
    session: Session, sql: Prepared, chat_id: int, parent_id: int | None, child_id: int | None
) -> bool:
    """Make ``child_id`` the shown child of ``parent_id`` (of the chat when ``None``).

    Returns False when ``parent_id`` is not a message of the chat.
    """
    if parent_id is None:
        result = session.execute(sql.point_root, {"p_chat": chat_id, "p_child": child_id})
    else:
        params = {"p_chat": chat_id, "p_parent": parent_id, "p_child": child_id}
        result = session.execute(sql.point_child, params)
    return _rowcount(result) > 0


def get_message(session: Session, message_id: int) -> Message:
    """Load one message or raise :class:`NotFound`."""
    row = session.execute(select(*MESSAGE_COLUMNS).where(_M.id == message_id)).one_or_none()
    if row is None:
        raise NotFound("message", message_id)
    return to_message(row)


def sibling_ids(session: Session, message: Message) -> list[int]:
    """Return the ids of ``message`` and its siblings, in sibling order."""
    query = (
        select(_M.id)
        .where(_M.chat_id == message.chat_id, _M.parent_id.is_not_distinct_from(message.parent_id))
        .order_by(_M.sibling_index, _M.id)
    )
    return list(session.scalars(query))


#: The active path in one recursive query, as plain SQL for the raw ``sqlite3`` cursor.
ACTIVE_PATH_SQL = (
    "WITH RECURSIVE active_path(id, depth) AS ("
    " SELECT active_root_id, 0 FROM chats WHERE id = ? AND active_root_id IS NOT NULL"
    " UNION ALL"
    " SELECT m.active_child_id, p.depth + 1 FROM messages AS m"
    " JOIN active_path AS p ON m.id = p.id WHERE m.active_child_id IS NOT NULL)"
    " SELECT "
    + ", ".join(f"m.{column.name}" for column in MESSAGE_COLUMNS)
    + ", p.depth FROM active_path AS p JOIN messages AS m ON m.id = p.id"
)


def active_path(session: Session, chat_id: int, empty_gen_info: GenInfo) -> list[Message]:
    """The chat's shown messages from the root down, in one query on the raw cursor."""
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    rows = raw.execute(ACTIVE_PATH_SQL, (chat_id,)).fetchall()
    # Sorted here, not with ORDER BY: the rows come out (nearly) in order, so this costs
    # next to nothing, where SQLite would copy every row into a temporary b-tree.
    rows.sort(key=itemgetter(-1))
    return messages_from_sqlite(rows, empty_gen_info)


def subtree_ids(session: Session, message: Message) -> list[int]:
    """Return ``message``'s id and the ids of all its descendants."""
    start = select(_M.id).where(_M.id == message.id)
    tree = start.cte("subtree", recursive=True)
    step = select(_M.id).join(tree, _M.parent_id == tree.c.id).where(_M.chat_id == message.chat_id)
    tree = tree.union_all(step)
    return list(session.scalars(select(tree.c.id)))


def replacement_sibling(siblings: Sequence[int], removed: int) -> int | None:
    """The sibling to show after ``removed`` goes: the previous one, else the next."""
    index = siblings.index(removed)
    if index > 0:
        return siblings[index - 1]
    return siblings[1] if len(siblings) > 1 else None


def shown_child(session: Session, message: Message) -> int | None:
    """Return the id of the sibling currently shown in ``message``'s sibling group."""
    if message.parent_id is None:
        return session.scalar(select(_C.active_root_id).where(_C.id == message.chat_id))
    return session.scalar(select(_M.active_child_id).where(_M.id == message.parent_id))


def delete_subtree(session: Session, sql: Prepared, message: Message) -> int:
    """Delete ``message`` and its descendants; return how many rows went."""
    if shown_child(session, message) == message.id:
        siblings = sibling_ids(session, message)
        replacement = replacement_sibling(siblings, message.id)
        point_at(session, sql, message.chat_id, message.parent_id, replacement)
    ids = subtree_ids(session, message)
    # One statement: the parent_id foreign key is checked when it ends, so order is moot.
    session.execute(
        text("DELETE FROM messages WHERE id IN (SELECT value FROM json_each(:ids))"),
        {"ids": json.dumps(ids)},
    )
    touch_chat(session, sql, message.chat_id, utcnow())
    return len(ids)


def next_message_id(session: Session) -> int:
    """The smallest id above every message id ever used (AUTOINCREMENT's next value)."""
    used = session.scalar(select(func.max(_M.id))) or 0
    seq = session.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'messages'")) or 0
    return max(int(used), int(seq)) + 1


def _copy_columns(offset: int, chat_id: int) -> list[Any]:
    return [
        (_M.id + offset).label("id"),
        literal(chat_id).label("chat_id"),
        (_M.parent_id + offset).label("parent_id"),
        _M.role,
        _M.speaker,
        _M.content,
        _M.created_at,
        _M.gen_info,
        _M.extra,
    ]


_COPY_TARGET = (
    "id",
    "chat_id",
    "parent_id",
    "role",
    "speaker",
    "content",
    "created_at",
    "gen_info",
    "extra",
    "active_child_id",
    "sibling_index",
    "token_count",
    "st",
)


def copy_all_messages(session: Session, source_chat_id: int, target_chat_id: int) -> int:
    """Copy every message of a chat (all branches) into another; return the id offset.

    New ids are old ids plus one offset, so parent and active-child links stay valid and
    one ``INSERT ... SELECT`` copies the whole tree.
    """
    lowest = session.scalar(select(func.min(_M.id)).where(_M.chat_id == source_chat_id))
    if lowest is None:
        return 0
    offset = next_message_id(session) - int(lowest)
    source = select(
        *_copy_columns(offset, target_chat_id),
        (_M.active_child_id + offset).label("active_child_id"),
        _M.sibling_index,
        _M.token_count,
        _M.st,
    ).where(_M.chat_id == source_chat_id)
    session.execute(insert(_T).from_select(list(_COPY_TARGET), source))
    return offset


def copy_ancestry(session: Session, message: Message, target_chat_id: int) -> int:
    """Copy ``message``, its ancestors and all their swipes into another chat.

    Each message on the path from the root down to ``message`` keeps its alternatives
    (siblings), as SillyTavern's branch keeps each message's swipes; the alternatives
    come without their own continuations.  Returns the new root.
    """
    child = cast(null(), Integer).label("child")
    start = select(_M.id, _M.parent_id, child).where(_M.id == message.id)
    chain = start.cte("chain", recursive=True)
    step = select(_M.id, _M.parent_id, chain.c.id).join(chain, _M.id == chain.c.parent_id)
    chain = chain.union_all(step)
    on_path_level = or_(
        _M.parent_id.in_(select(chain.c.parent_id).where(chain.c.parent_id.is_not(None))),
        _M.parent_id.is_(None),
    )
    copied = and_(_M.chat_id == message.chat_id, on_path_level)
    root = session.scalar(select(chain.c.id).where(chain.c.parent_id.is_(None)))
    lowest = session.scalar(select(func.min(_M.id)).where(copied))
    if root is None or lowest is None:
        raise NotFound("message", message.id)
    offset = next_message_id(session) - int(lowest)
    source = (
        select(
            *_copy_columns(offset, target_chat_id),
            (chain.c.child + offset).label("active_child_id"),
            _M.sibling_index,
            _M.token_count,
            _M.st,
        )
        .outerjoin(chain, _M.id == chain.c.id)
        .where(copied)
    )
    session.execute(insert(_T).from_select(list(_COPY_TARGET), source))
    return int(root) + offset
