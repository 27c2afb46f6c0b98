"""GroupRepository: groups, their members and which chats belong to a group."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.errors import InputError, NotFound
from app.storage.db import Database
from app.storage.group_types import Group, GroupMember, GroupSettings
from app.storage.models import CharacterRow, GroupChatRow, GroupMemberRow, GroupRow, utcnow


class GroupRepository:
    """The ``groups``, ``group_members`` and ``group_chats`` tables of one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        name: str,
        members: Sequence[GroupMember],
        settings: GroupSettings | None = None,
        *,
        session: Session | None = None,
    ) -> Group:
        """A new group with ``members`` in order."""
        now = utcnow()
        with self._db.write(session) as s:
            row = GroupRow(
                name=name,
                settings=(settings or GroupSettings()).to_json(),
                created_at=now,
                modified_at=now,
            )
            s.add(row)
            s.flush()
            self._write_members(s, row.id, members)
            return self._group(s, row.id)

    def get(self, group_id: int, *, session: Session | None = None) -> Group:
        """One group, or ``NotFound``."""
        with self._db.read(session) as s:
            return self._group(s, group_id)

    def list_groups(self, *, session: Session | None = None) -> list[Group]:
        """Every group, by name."""
        with self._db.read(session) as s:
            ids = s.scalars(select(GroupRow.id).order_by(GroupRow.name, GroupRow.id))
            return [self._group(s, group_id) for group_id in ids]

    def update(
        self,
        group_id: int,
        *,
        name: str | None = None,
        members: Sequence[GroupMember] | None = None,
        settings: GroupSettings | None = None,
        session: Session | None = None,
    ) -> Group:
        """Change a group's name, members (the whole ordered list) or settings."""
        with self._db.write(session) as s:
            row = s.get(GroupRow, group_id)
            if row is None:
                raise NotFound("group", group_id)
            if name is not None:
                row.name = name
            if settings is not None:
                row.settings = settings.to_json()
            if members is not None:
                s.execute(delete(GroupMemberRow).where(GroupMemberRow.group_id == group_id))
                s.flush()
                self._write_members(s, group_id, members)
            row.modified_at = utcnow()
            s.flush()
            return self._group(s, group_id)

    def delete(self, group_id: int, *, session: Session | None = None) -> None:
        """Delete a group (its chats stay, as chats of its former members)."""
        with self._db.write(session) as s:
            row = s.get(GroupRow, group_id)
            if row is None:
                raise NotFound("group", group_id)
            s.delete(row)

    def attach_chat(self, chat_id: int, group_id: int, *, session: Session | None = None) -> None:
        """Make ``chat_id`` one of the group's chats."""
        with self._db.write(session) as s:
            s.merge(GroupChatRow(chat_id=chat_id, group_id=group_id))

    def of_chat(self, chat_id: int, *, session: Session | None = None) -> Group | None:
        """The group a chat belongs to (None: a one-to-one chat)."""
        with self._db.read(session) as s:
            link = s.get(GroupChatRow, chat_id)
            return None if link is None else self._group(s, link.group_id)

    def chat_ids(self, group_id: int, *, session: Session | None = None) -> list[int]:
        """The ids of the group's chats."""
        with self._db.read(session) as s:
            query = select(GroupChatRow.chat_id).where(GroupChatRow.group_id == group_id)
            return list(s.scalars(query.order_by(GroupChatRow.chat_id)))

    def names_by_chat(self, *, session: Session | None = None) -> dict[int, str]:
        """Chat id → group name, for every group chat."""
        with self._db.read(session) as s:
            rows = s.execute(
                select(GroupChatRow.chat_id, GroupRow.name).join(
                    GroupRow, GroupRow.id == GroupChatRow.group_id
                )
            )
            return {int(chat_id): str(name) for chat_id, name in rows}

    def _write_members(self, s: Session, group_id: int, members: Sequence[GroupMember]) -> None:
        ids = [m.character_id for m in members]
        if len(set(ids)) != len(ids):
            raise InputError("members", "a character can be in a group only once")
        known = set(s.scalars(select(CharacterRow.id).where(CharacterRow.id.in_(ids))))
        missing = [i for i in ids if i not in known]
        if missing:
            raise NotFound("character", missing[0])
        for position, member in enumerate(members):
            s.add(
                GroupMemberRow(
                    group_id=group_id,
                    character_id=member.character_id,
                    position=position,
                    muted=member.muted,
                )
            )
        s.flush()

    def _group(self, s: Session, group_id: int) -> Group:
        row = s.get(GroupRow, group_id, populate_existing=True)
        if row is None:
            raise NotFound("group", group_id)
        members = s.scalars(
            select(GroupMemberRow)
            .where(GroupMemberRow.group_id == group_id)
            .order_by(GroupMemberRow.position)
        )
        return Group(
            id=row.id,
            name=row.name,
            members=tuple(GroupMember(m.character_id, m.muted) for m in members),
            settings=GroupSettings.from_json(row.settings),
            created_at=row.created_at,
            modified_at=row.modified_at,
        )
