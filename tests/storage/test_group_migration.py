"""Migration 0006 (group chats) on a database made at 0004: existing chats unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.errors import InputError
from app.storage import open_database
from app.storage.group_types import GroupMember, GroupSettings, PromptMode, ReplyStrategy
from app.storage.repositories import CharacterRepository, ChatRepository, GroupRepository
from app.storage.types import Role


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("characters", "chats", "chat_characters", "messages")
        }


def test_0006_leaves_existing_chats_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "parlor.db"
    db = open_database(path)
    db.migrate("0004")
    characters = CharacterRepository(db)
    sera = characters.create("Sera", {"spec": "chara_card_v2", "data": {"name": "Sera"}})
    chats = ChatRepository(db)
    chat = chats.create_chat([sera.id], title="Old", greetings=["Hi", "Hello"])
    chats.add_message(chat.id, chat.active_root_id, role=Role.USER, speaker="Me", content="yo")
    db.close()
    before = _dump(path)

    db = open_database(path)
    db.migrate("0006")
    assert db.revision() == "0006"
    assert _dump(path) == before
    groups = GroupRepository(db)
    assert groups.of_chat(chat.id) is None
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    db.close()


def test_groups_store_members_settings_and_chats(tmp_path: Path) -> None:
    db = open_database(tmp_path / "parlor.db")
    db.migrate()
    characters = CharacterRepository(db)
    ids = [
        characters.create(n, {"spec": "chara_card_v2", "data": {"name": n}}).id
        for n in ("Ann", "Bob", "Cid")
    ]
    groups = GroupRepository(db)
    settings = GroupSettings(ReplyStrategy.POOLED, PromptMode.JOIN, join_prefix="<FIELDNAME>")
    group = groups.create("Trio", [GroupMember(i) for i in ids], settings)
    assert group.member_ids == tuple(ids) and group.settings == settings
    muted = [GroupMember(ids[2]), GroupMember(ids[0], muted=True)]
    group = groups.update(group.id, name="Duo", members=muted)
    assert group.name == "Duo" and group.member_ids == (ids[2], ids[0])
    assert group.unmuted_ids == (ids[2],)
    with pytest.raises(InputError):
        groups.update(group.id, members=[GroupMember(ids[0]), GroupMember(ids[0])])
    chat = ChatRepository(db).create_chat(list(group.member_ids), title="Group chat")
    groups.attach_chat(chat.id, group.id)
    assert groups.of_chat(chat.id) == groups.get(group.id)
    assert groups.names_by_chat() == {chat.id: "Duo"}
    chats = ChatRepository(db)
    root = chats.add_message(chat.id, None, role=Role.ASSISTANT, speaker="Cid", content="Hi")
    branch = chats.branch(chat.id, root.id)
    copy = chats.duplicate(chat.id)
    assert groups.chat_ids(group.id) == [chat.id, branch.id, copy.id]  # still group chats
    db.close()
