"""Migrations: from a blank file, from revision 0001 holding data, and back down."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from app.storage import open_database
from app.storage.db import _alembic_config
from app.storage.models import Base
from app.storage.repositories import ChatRepository
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import AuthorNoteSettings, ChatSettings, Role

HEAD = "0007"
VERSIONS = Path(__file__).resolve().parents[2] / "app" / "storage" / "migrations" / "versions"


def _ignore_fts(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "table" and name is not None and name.startswith("messages_fts"))


def test_migrate_blank_matches_the_models(tmp_path: Path) -> None:
    db = open_database(tmp_path / "parlor.db")
    assert db.revision() is None
    db.migrate()
    assert db.revision() == HEAD
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": _ignore_fts, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []
    db.migrate()  # a second start-up is a no-op
    assert db.revision() == HEAD
    db.close()


def _fill_revision_1(path: Path) -> None:
    """Data as Parlor at revision 0001 wrote it (plain SQL, no current code)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        stamp = "2025-01-02 03:04:05.000000"
        conn.execute(
            "INSERT INTO characters (id, name, card, tags, created_at, modified_at) "
            "VALUES (1, 'Sera', '{\"spec\":\"chara_card_v2\"}', '[\"fantasy\"]', ?, ?)",
            (stamp, stamp),
        )
        conn.execute(
            "INSERT INTO chats (id, title, metadata, created_at, updated_at) "
            'VALUES (1, \'Old chat\', \'{"chat_metadata":{"integrity":"u-1"}}\', ?, ?)',
            (stamp, stamp),
        )
        conn.execute("INSERT INTO chat_characters VALUES (1, 1, 0)")
        rows = [
            (1, None, "assistant", "Welcome to the old glade.", 0),
            (2, None, "assistant", "An alternative greeting.", 1),
            (3, 1, "user", "Hello from the past.", 0),
        ]
        for mid, parent, role, content, index in rows:
            conn.execute(
                "INSERT INTO messages (id, chat_id, parent_id, role, speaker, content, "
                "created_at, gen_info, extra, sibling_index) "
                "VALUES (?, 1, ?, ?, 'x', ?, ?, '{}', '{}', ?)",
                (mid, parent, role, content, stamp, index),
            )
        conn.execute("UPDATE messages SET active_child_id = 3 WHERE id = 1")
        conn.execute("UPDATE chats SET active_root_id = 1 WHERE id = 1")


def test_migrate_from_revision_1_with_data(tmp_path: Path) -> None:
    path = tmp_path / "parlor.db"
    old = open_database(path)
    old.migrate("0001")
    assert old.revision() == "0001"
    old.close()
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(messages)")]
    assert "token_count" not in columns
    _fill_revision_1(path)

    db = open_database(path)
    db.migrate()
    assert db.revision() == HEAD
    chats = ChatRepository(db)
    chat = chats.get_chat(1)
    assert chat.title == "Old chat" and chat.character_ids == (1,)
    assert chat.metadata == {"chat_metadata": {"integrity": "u-1"}}
    path_now = chats.active_path(1)
    assert [m.content for m in path_now] == ["Welcome to the old glade.", "Hello from the past."]
    assert path_now[0].token_count is None
    assert chats.siblings(1) == (0, 2)
    # The FTS index and its triggers survived the migration.
    assert [h.message_id for h in chats.search("past")] == [3]
    reply = chats.add_message(1, 3, role=Role.ASSISTANT, speaker="Sera", content="Welcome back")
    chats.set_token_count(reply.id, 3)
    assert chats.get_message(reply.id).token_count == 3
    assert [h.message_id for h in chats.search("welcome back")] == [reply.id]
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        indexes = [row[1] for row in conn.exec_driver_sql("PRAGMA index_list(chats)")]
    assert "ix_chats_updated" in indexes
    db.close()


def test_downgrade_to_revision_1_keeps_data(tmp_path: Path) -> None:
    db = open_database(tmp_path / "parlor.db")
    db.migrate()
    chats = ChatRepository(db)
    chat = chats.create_chat([], greetings=["kept through downgrade"])
    with db.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0001")
    assert db.revision() == "0001"
    with db.engine.connect() as conn:
        columns = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(messages)")]
        assert "token_count" not in columns
        count = conn.exec_driver_sql("SELECT count(*) FROM messages").scalar()
    assert count == 1
    db.migrate()
    assert [m.content for m in chats.active_path(chat.id)] == ["kept through downgrade"]
    db.close()


def test_chat_settings_move_out_of_metadata(tmp_path: Path) -> None:
    """0003: Parlor's string keys and SillyTavern's note keys become typed settings."""
    path = tmp_path / "parlor.db"
    old = open_database(path)
    old.migrate("0002")
    old.close()
    stamp = "2025-01-02 03:04:05.000000"
    parlor_meta = (
        '{"author_note": {"text": "[Style: terse]", "depth": 1, "interval": 2},'
        ' "preset": "Stheno", "template": "ChatML", "chat_metadata": {"integrity": "u-2"}}'
    )
    st_meta = (
        '{"chat_metadata": {"integrity": "u-3", "note_prompt": "[Weather: rain]",'
        ' "note_interval": 3, "note_depth": 2, "note_position": 0, "note_role": 1}}'
    )
    with sqlite3.connect(path) as conn:
        for chat_id, meta in ((1, parlor_meta), (2, st_meta), (3, "{}")):
            conn.execute(
                "INSERT INTO chats (id, title, metadata, created_at, updated_at) "
                "VALUES (?, 'c', ?, ?, ?)",
                (chat_id, meta, stamp, stamp),
            )
    db = open_database(path)
    db.migrate()
    chats = ChatRepository(db)
    parlor = chats.get_chat(1)
    assert parlor.settings == ChatSettings(
        AuthorNoteSettings("[Style: terse]", depth=1, interval=2), preset="Stheno", format="ChatML"
    )
    assert parlor.metadata == {"chat_metadata": {"integrity": "u-2"}}
    imported = chats.get_chat(2)
    assert imported.settings.author_note == AuthorNoteSettings(
        "[Weather: rain]", depth=2, interval=3, position="after_story", role="user"
    )
    assert imported.metadata["chat_metadata"]["note_prompt"] == "[Weather: rain]"
    assert chats.get_chat(3).settings == ChatSettings()
    with db.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0002")
    with db.engine.connect() as conn:
        meta = conn.exec_driver_sql("SELECT metadata FROM chats WHERE id = 1").scalar()
    assert '"template": "ChatML"' in meta and '"preset": "Stheno"' in meta
    db.close()


def test_migrations_import_nothing_from_the_app() -> None:
    """A migration is frozen: later edits of the app's code cannot change what it does."""
    allowed = {"__future__", "json", "typing", "datetime", "re", "sqlalchemy", "alembic"}
    files = sorted(VERSIONS.glob("0*.py"))
    assert files
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {sorted(roots - allowed)}"


def test_summary_ids_are_never_given_again(tmp_path: Path) -> None:
    """A summary stored at 0006 is kept; a deleted summary's id is not reused after."""
    path = tmp_path / "parlor.db"
    old = open_database(path)
    old.migrate("0006")
    old.close()
    with sqlite3.connect(path) as conn:
        stamp = "2026-12-07 10:00:00.000000"
        conn.execute(
            "INSERT INTO chats (id, title, metadata, settings, created_at, updated_at) "
            "VALUES (1, 'Kept', '{}', '{}', ?, ?)",
            (stamp, stamp),
        )
        conn.execute(
            "INSERT INTO memory_summaries "
            "(id, chat_id, kind, message_ids, digest, text, pinned, created_at) "
            "VALUES (7, 1, 'fact', '[]', '', 'The lamp is green.', 0, ?)",
            (stamp,),
        )
    db = open_database(path)
    db.migrate()
    memory = MemoryRepository(db)
    (kept,) = memory.summaries(1)
    assert (kept.id, kept.text) == (7, "The lamp is green.")
    newest = memory.add_summary(1, "fact", "The door is red.", message_ids=[], digest="")
    assert newest.id == 8
    memory.delete_summary(newest.id)
    assert memory.add_summary(1, "fact", "The bell is cracked.", message_ids=[], digest="").id == 9
    db.close()
