"""ChatRepository: chats, their message trees, swipes, branches, trash and search.

Every write is a short transaction of its own unless the caller passes a ``session``
(from :meth:`Database.transaction`), in which case the caller commits.  Adding a message
inserts one row and moves one pointer: a chat is never rewritten as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.errors import InputError, NotFound
from app.storage.db import Database
from app.storage.models import (
    CharacterRow,
    ChatCharacterRow,
    ChatRow,
    GroupChatRow,
    MessageRow,
    PersonaRow,
    table_of,
    utcnow,
)
from app.storage.repositories import _tree
from app.storage.repositories._convert import (
    MESSAGE_COLUMNS,
    TreeError,
    character_ids,
    to_chat,
    to_message,
)
from app.storage.repositories._search import SearchOrder, search_messages
from app.storage.st_keys import SWIPE_INFO
from app.storage.types import Chat, ChatSettings, GenInfo, JSONDict, Message, Role, SearchHit

_M = table_of(MessageRow).c


def _check_references(s: Session, character_ids: Sequence[int], persona_id: int | None) -> None:
    """Raise :class:`NotFound` for a character or persona id that does not exist."""
    if character_ids:
        found = set(s.scalars(select(CharacterRow.id).where(CharacterRow.id.in_(character_ids))))
        for character_id in character_ids:
            if character_id not in found:
                raise NotFound("character", character_id)
    if persona_id is not None and s.get(PersonaRow, persona_id) is None:
        raise NotFound("persona", persona_id)


def _sync_swipe_info(s: Session, message_id: int, extra: JSONDict) -> None:
    """Copy ``extra`` into the row's imported ``swipe_info`` item, as SillyTavern does."""
    st = s.scalar(select(_M.st).where(_M.id == message_id))
    item = st.get(SWIPE_INFO) if isinstance(st, dict) else None
    if not (isinstance(st, dict) and isinstance(item, dict) and "extra" in item):
        return
    synced = {**st, SWIPE_INFO: {**item, "extra": dict(extra)}}
    s.execute(update(table_of(MessageRow)).where(_M.id == message_id).values(st=synced))


class ChatRepository:
    """Chats and their message trees in one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._sql = _tree.Prepared()
        self._empty_gen_info = GenInfo()

    # ----------------------------------------------------------------- chats

    def create_chat(
        self,
        character_ids: Sequence[int],
        *,
        persona_id: int | None = None,
        title: str = "",
        metadata: JSONDict | None = None,
        settings: ChatSettings | None = None,
        greetings: Sequence[str] = (),
        greeting_speaker: str = "",
        session: Session | None = None,
    ) -> Chat:
        """Create a chat; ``greetings[0]`` is the first message, the rest its swipes."""
        now = utcnow()
        with self._db.write(session) as s:
            _check_references(s, character_ids, persona_id)
            row = ChatRow(
                title=title or "New chat",
                persona_id=persona_id,
                meta=dict(metadata or {}),
                settings=(settings or ChatSettings()).to_json(),
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            for position, character_id in enumerate(character_ids):
                s.add(
                    ChatCharacterRow(chat_id=row.id, character_id=character_id, position=position)
                )
            s.flush()
            for index, text in enumerate(greetings):
                _tree.insert_message(
                    s,
                    self._sql,
                    row.id,
                    None,
                    role=Role.ASSISTANT,
                    speaker=greeting_speaker,
                    content=text,
                    created_at=now,
                    activate=index == 0,
                )
            return self._chat(s, row.id)

    def get_chat(self, chat_id: int, *, session: Session | None = None) -> Chat:
        """Load a chat (trashed ones too) or raise :class:`NotFound`."""
        with self._db.read(session) as s:
            return self._chat(s, chat_id)

    def list_chats(
        self, character_id: int | None = None, *, session: Session | None = None
    ) -> list[Chat]:
        """Chats not in the trash, most recently updated first; optionally one character's."""
        query = select(ChatRow).where(ChatRow.deleted_at.is_(None))
        if character_id is not None:
            query = query.join(ChatCharacterRow).where(
                ChatCharacterRow.character_id == character_id
            )
        return self._chats(query.order_by(ChatRow.updated_at.desc(), ChatRow.id.desc()), session)

    def set_characters(
        self, chat_id: int, character_ids: Sequence[int], *, session: Session | None = None
    ) -> Chat:
        """Replace a chat's characters (a group chat's members, in order)."""
        with self._db.write(session) as s:
            _check_references(s, character_ids, None)
            s.execute(delete(ChatCharacterRow).where(ChatCharacterRow.chat_id == chat_id))
            for position, character_id in enumerate(character_ids):
                s.add(
                    ChatCharacterRow(chat_id=chat_id, character_id=character_id, position=position)
                )
            s.flush()
            return self._chat(s, chat_id)

    def list_trash(self, *, session: Session | None = None) -> list[Chat]:
        """Chats in the trash, most recently trashed first."""
        query = select(ChatRow).where(ChatRow.deleted_at.is_not(None))
        return self._chats(query.order_by(ChatRow.deleted_at.desc()), session)

    def rename(self, chat_id: int, title: str, *, session: Session | None = None) -> Chat:
        """Change a chat's title."""
        if not title.strip():
            raise InputError("title", "a chat title cannot be empty")
        return self._update_chat(chat_id, session, title=title)

    def update_metadata(
        self, chat_id: int, metadata: JSONDict, *, session: Session | None = None
    ) -> Chat:
        """Replace the chat's metadata object (the SillyTavern keys kept for export)."""
        return self._update_chat(chat_id, session, meta=dict(metadata))

    def update_settings(
        self, chat_id: int, settings: ChatSettings, *, session: Session | None = None
    ) -> Chat:
        """Replace the chat's settings (author's note, preset and format overrides)."""
        return self._update_chat(chat_id, session, settings=settings.to_json())

    def set_persona(
        self, chat_id: int, persona_id: int | None, *, session: Session | None = None
    ) -> Chat:
        """Lock the chat to a persona (``None``: use the default persona)."""
        with self._db.write(session) as s:
            _check_references(s, (), persona_id)
            return self._update_chat(chat_id, s, persona_id=persona_id)

    def trash(self, chat_id: int, *, session: Session | None = None) -> Chat:
        """Move a chat to the trash (nothing is deleted)."""
        return self._update_chat(chat_id, session, deleted_at=utcnow())

    def restore(self, chat_id: int, *, session: Session | None = None) -> Chat:
        """Bring a chat back from the trash."""
        return self._update_chat(chat_id, session, deleted_at=None)

    def purge(self, chat_id: int, *, session: Session | None = None) -> None:
        """Delete a trashed chat and all its messages for good."""
        with self._db.write(session) as s:
            chat = self._chat(s, chat_id)
            if chat.deleted_at is None:
                raise InputError(f"chat {chat_id}", "only a chat in the trash can be purged")
            s.execute(table_of(MessageRow).delete().where(_M.chat_id == chat_id))
            s.execute(table_of(ChatRow).delete().where(ChatRow.id == chat_id))

    def duplicate(
        self, chat_id: int, *, title: str | None = None, session: Session | None = None
    ) -> Chat:
        """Copy a chat with every branch and swipe."""
        with self._db.write(session) as s:
            source = self._chat(s, chat_id)
            new = self._new_chat_like(s, source, title or f"{source.title} (copy)")
            offset = _tree.copy_all_messages(s, chat_id, new.id)
            root = source.active_root_id + offset if source.active_root_id is not None else None
            _tree.point_at(s, self._sql, new.id, None, root)
            return self._chat(s, new.id)

    def branch(
        self,
        chat_id: int,
        message_id: int,
        *,
        title: str | None = None,
        session: Session | None = None,
    ) -> Chat:
        """Start a new chat holding the path from the root down to ``message_id``."""
        with self._db.write(session) as s:
            source = self._chat(s, chat_id)
            message = _tree.get_message(s, message_id)
            if message.chat_id != chat_id:
                raise NotFound("message", message_id)
            new = self._new_chat_like(s, source, title or f"{source.title} (branch)")
            root = _tree.copy_ancestry(s, message, new.id)
            _tree.point_at(s, self._sql, new.id, None, root)
            return self._chat(s, new.id)

    def search(
        self,
        query: str,
        *,
        character_id: int | None = None,
        chat_id: int | None = None,
        limit: int = 50,
        order: SearchOrder = "recent",
        session: Session | None = None,
    ) -> list[SearchHit]:
        """Full-text search over messages (FTS5) with snippets.

        Every word must match; the last one also matches as a prefix.  ``order`` is
        ``"recent"`` (newest first, fast for any word) or ``"relevance"`` (BM25).
        """
        with self._db.read(session) as s:
            return search_messages(
                s, query, character_id=character_id, chat_id=chat_id, limit=limit, order=order
            )

    # -------------------------------------------------------------- messages

    def add_message(
        self,
        chat_id: int,
        parent_id: int | None,
        *,
        role: Role,
        speaker: str,
        content: str = "",
        gen_info: GenInfo | None = None,
        extra: JSONDict | None = None,
        activate: bool = True,
        session: Session | None = None,
    ) -> Message:
        """Append a message under ``parent_id`` (``None``: a root) and make it shown.

        If ``parent_id`` already has children the new message becomes their last sibling,
        which is exactly a new swipe or a new branch.  Commits at once.
        """
        with self._db.write(session) as s:
            return _tree.insert_message(
                s,
                self._sql,
                chat_id,
                parent_id,
                role=role,
                speaker=speaker,
                content=content,
                gen_info=gen_info,
                extra=extra,
                activate=activate,
            )

    def add_swipe(
        self,
        chat_id: int,
        parent_id: int | None,
        *,
        role: Role = Role.ASSISTANT,
        speaker: str,
        content: str = "",
        gen_info: GenInfo | None = None,
        extra: JSONDict | None = None,
        session: Session | None = None,
    ) -> Message:
        """Add a new alternative under ``parent_id`` and show it (regenerate / swipe right)."""
        return self.add_message(
            chat_id,
            parent_id,
            role=role,
            speaker=speaker,
            content=content,
            gen_info=gen_info,
            extra=extra,
            session=session,
        )

    def get_message(self, message_id: int, *, session: Session | None = None) -> Message:
        """Load one message or raise :class:`NotFound`."""
        with self._db.read(session) as s:
            return _tree.get_message(s, message_id)

    def update_message_content(
        self, message_id: int, content: str, *, session: Session | None = None
    ) -> None:
        """Replace a message's text (an edit, or a streamed partial reply)."""
        with self._db.write(session) as s:
            result = s.execute(self._sql.set_content, {"p_id": message_id, "p_content": content})
            if getattr(result, "rowcount", 0) == 0:
                raise NotFound("message", message_id)

    def update_message_extra(
        self, message_id: int, extra: JSONDict, *, session: Session | None = None
    ) -> None:
        """Replace a message's SillyTavern ``extra`` object (its ``swipe_info`` copy too)."""
        with self._db.write(session) as s:
            params = {"p_id": message_id, "p_extra": dict(extra)}
            if getattr(s.execute(self._sql.set_extra, params), "rowcount", 0) == 0:
                raise NotFound("message", message_id)
            _sync_swipe_info(s, message_id, extra)

    def set_token_count(
        self, message_id: int, token_count: int | None, *, session: Session | None = None
    ) -> None:
        """Cache the token count of a message's content (``None`` forgets it)."""
        self._update_message(message_id, session, token_count=token_count)

    def finish_message(
        self,
        message_id: int,
        content: str,
        gen_info: GenInfo,
        *,
        stopped: bool = False,
        extra: JSONDict | None = None,
        session: Session | None = None,
    ) -> Message:
        """Store the final text and generation info of a streamed reply (and its ``extra``)."""
        info = gen_info.to_json()
        if stopped:
            info["stopped"] = True
        values: JSONDict = {"content": content, "gen_info": info, "token_count": None}
        if extra is not None:
            values["extra"] = dict(extra)
        with self._db.write(session) as s:
            row = s.execute(
                update(table_of(MessageRow))
                .where(_M.id == message_id)
                .values(**values)
                .returning(*MESSAGE_COLUMNS)
            ).one_or_none()
            if row is None:
                raise NotFound("message", message_id)
            if extra is not None:
                _sync_swipe_info(s, message_id, extra)
            return to_message(row)

    def set_active_child(
        self, parent_id: int | None, child_id: int, *, session: Session | None = None
    ) -> Message:
        """Show ``child_id`` among its siblings (swipe navigation, on any message).

        Each sibling keeps its own continuation: switching back restores the path below it.
        """
        with self._db.write(session) as s:
            child = _tree.get_message(s, child_id)
            if child.parent_id != parent_id:
                raise TreeError(f"message {child_id}", f"is not a child of message {parent_id}")
            _tree.point_at(s, self._sql, child.chat_id, parent_id, child_id)
            _tree.touch_chat(s, self._sql, child.chat_id, utcnow())
            return child

    def show_path_to(self, message_id: int, *, session: Session | None = None) -> Message:
        """Make every message from the root down to ``message_id`` the shown one."""
        with self._db.write(session) as s:
            message = _tree.get_message(s, message_id)
            current: Message | None = message
            while current is not None:
                _tree.point_at(s, self._sql, message.chat_id, current.parent_id, current.id)
                parent = current.parent_id
                current = _tree.get_message(s, parent) if parent is not None else None
            return message

    def select_sibling(
        self, message_id: int, index: int, *, session: Session | None = None
    ) -> Message:
        """Show the sibling at ``index`` (0-based) of ``message_id``'s group; return it."""
        with self._db.write(session) as s:
            message = _tree.get_message(s, message_id)
            ids = _tree.sibling_ids(s, message)
            if not 0 <= index < len(ids):
                raise TreeError(f"message {message_id}", f"has no swipe number {index + 1}")
            return self.set_active_child(message.parent_id, ids[index], session=s)

    def siblings(self, message_id: int, *, session: Session | None = None) -> tuple[int, int]:
        """Return ``(index, count)`` of a message among its siblings (swipe "2/5")."""
        with self._db.read(session) as s:
            message = _tree.get_message(s, message_id)
            ids = _tree.sibling_ids(s, message)
            return ids.index(message_id), len(ids)

    def swipe_positions(
        self, chat_id: int, *, session: Session | None = None
    ) -> dict[int, tuple[int, int]]:
        """Every message's (index among its siblings, sibling count), in one query."""
        query = (
            select(_M.id, _M.parent_id)
            .where(_M.chat_id == chat_id)
            .order_by(_M.parent_id, _M.sibling_index, _M.id)
        )
        groups: dict[int | None, list[int]] = {}
        with self._db.read(session) as s:
            for message_id, parent_id in s.execute(query):
                groups.setdefault(parent_id, []).append(message_id)
        return {
            message_id: (index, len(ids))
            for ids in groups.values()
            for index, message_id in enumerate(ids)
        }

    def active_path(self, chat_id: int, *, session: Session | None = None) -> list[Message]:
        """The shown messages from the first to the last, in one recursive query."""
        with self._db.read(session) as s:
            path = _tree.active_path(s, chat_id, self._empty_gen_info)
            if not path:
                self._chat(s, chat_id)
            return path

    def messages(self, chat_id: int, *, session: Session | None = None) -> list[Message]:
        """Every message of a chat, all branches, in creation order."""
        with self._db.read(session) as s:
            query = select(*MESSAGE_COLUMNS).where(_M.chat_id == chat_id).order_by(_M.id)
            return [to_message(row) for row in s.execute(query)]

    def delete_message(self, message_id: int, *, session: Session | None = None) -> int:
        """Delete a message and everything below it; return how many messages went.

        If it was the shown sibling, the previous sibling (else the next) is shown instead.
        """
        with self._db.write(session) as s:
            return _tree.delete_subtree(s, self._sql, _tree.get_message(s, message_id))

    def count_messages(self, chat_id: int, *, session: Session | None = None) -> int:
        """Number of messages in a chat, all branches included."""
        with self._db.read(session) as s:
            count = s.scalar(
                select(func.count()).select_from(MessageRow).where(_M.chat_id == chat_id)
            )
            return int(count or 0)

    # --------------------------------------------------------------- helpers

    def _chat(self, s: Session, chat_id: int) -> Chat:
        row = s.get(ChatRow, chat_id, populate_existing=True)
        if row is None:
            raise NotFound("chat", chat_id)
        return to_chat(row, character_ids(s, [chat_id]).get(chat_id, ()))

    def _chats(self, query: object, session: Session | None) -> list[Chat]:
        with self._db.read(session) as s:
            rows = list(s.scalars(query))  # type: ignore[call-overload]
            ids = character_ids(s, [row.id for row in rows])
            return [to_chat(row, ids.get(row.id, ())) for row in rows]

    def _update_chat(self, chat_id: int, session: Session | None, **values: object) -> Chat:
        with self._db.write(session) as s:
            result = s.execute(update(ChatRow).where(ChatRow.id == chat_id).values(**values))
            if getattr(result, "rowcount", 0) == 0:
                raise NotFound("chat", chat_id)
            return self._chat(s, chat_id)

    def _update_message(self, message_id: int, session: Session | None, **values: object) -> None:
        with self._db.write(session) as s:
            result = s.execute(
                update(table_of(MessageRow)).where(_M.id == message_id).values(**values)
            )
            if getattr(result, "rowcount", 0) == 0:
                raise NotFound("message", message_id)

    def _new_chat_like(self, s: Session, source: Chat, title: str) -> Chat:
        now = utcnow()
        row = ChatRow(
            title=title,
            persona_id=source.persona_id,
            meta=dict(source.metadata),
            settings=source.settings.to_json(),
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        for position, character_id in enumerate(source.character_ids):
            s.add(ChatCharacterRow(chat_id=row.id, character_id=character_id, position=position))
        link = s.get(GroupChatRow, source.id)
        if link is not None:  # a branch or copy of a group chat is a chat of the group
            s.add(GroupChatRow(chat_id=row.id, group_id=link.group_id))
        s.flush()
        return to_chat(row, source.character_ids)
