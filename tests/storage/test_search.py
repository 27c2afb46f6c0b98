"""Full-text search: FTS5 kept in sync by triggers, filters, snippets, odd input."""

from __future__ import annotations

import sqlite3

from app.storage import Database
from app.storage.repositories import CharacterRepository, ChatRepository
from app.storage.repositories._search import fts_query
from app.storage.types import Role


def _fts_ok(db: Database) -> None:
    """FTS5's own check that the index matches the messages table."""
    with sqlite3.connect(db.path) as conn:
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


def test_search_filters_by_chat_and_character(
    chats: ChatRepository, characters: CharacterRepository
) -> None:
    sera = characters.create("Seraphina", {"name": "Seraphina"}).id
    eld = characters.create("Eldoria", {"name": "Eldoria"}).id
    one = chats.create_chat([sera], title="Glade", greetings=["The lantern glows in the glade."])
    two = chats.create_chat([eld], title="Tower", greetings=["A lantern hangs in the tower."])
    group = chats.create_chat([sera, eld], title="Both", greetings=["Two lanterns, two friends."])
    # The last word is a prefix, so "lantern" also finds "lanterns".
    assert {h.chat_id for h in chats.search("lantern")} == {one.id, two.id, group.id}
    assert {h.chat_id for h in chats.search("lantern", character_id=sera)} == {one.id, group.id}
    assert {h.chat_id for h in chats.search("lantern glows")} == {one.id}
    assert {h.chat_id for h in chats.search("lanter")} == {one.id, two.id, group.id}
    assert {h.chat_id for h in chats.search("lanterns", character_id=eld)} == {group.id}
    assert [h.chat_id for h in chats.search("tower", chat_id=two.id)] == [two.id]
    assert chats.search("tower", chat_id=one.id) == []
    hit = chats.search("glade lantern")[0]
    assert hit.snippet == "The [lantern] glows in the [glade]."
    assert hit.chat_title == "Glade" and hit.role is Role.ASSISTANT


def test_index_follows_edits_and_deletes(db: Database, chats: ChatRepository) -> None:
    chat = chats.create_chat([], greetings=["hello"])
    message = chats.add_message(
        chat.id, chat.active_root_id, role=Role.USER, speaker="me", content="a crimson fox"
    )
    assert [h.message_id for h in chats.search("crimson")] == [message.id]
    chats.update_message_content(message.id, "an azure owl")
    assert chats.search("crimson") == []
    assert [h.message_id for h in chats.search("azure owl")] == [message.id]
    chats.delete_message(message.id)
    assert chats.search("azure") == []
    _fts_ok(db)


def test_user_input_cannot_break_the_query(chats: ChatRepository) -> None:
    chat = chats.create_chat([], greetings=['She said "NEAR(x y)" AND OR * ^ col:umn — café'])
    for query in ['"', "AND", "NEAR(", "col:umn", "*", "(", "'; DROP TABLE messages; --"]:
        chats.search(query)  # no FTS5 syntax error
    assert len(chats.search("cafe")) == 1  # diacritics folded
    assert len(chats.search("near")) == 1
    assert chats.search("   ") == []
    assert chats.count_messages(chat.id) == 1


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('fox "AND" owl') == '"fox" "AND" "owl"*'
    assert fts_query("!!!") is None


def test_search_limit_and_ranking(chats: ChatRepository) -> None:
    chat = chats.create_chat([], greetings=["start"])
    parent = chat.active_root_id
    for i in range(30):
        text = "river " * (1 + (i == 17) * 5) + f"number {i}"
        parent = chats.add_message(chat.id, parent, role=Role.USER, speaker="me", content=text).id
    hits = chats.search("river", limit=10, order="relevance")
    assert len(hits) == 10
    assert hits[0].snippet.startswith("[river] [river]")
    recent = chats.search("river", limit=3)
    assert [h.snippet.split()[-1] for h in recent] == ["29", "28", "27"]
    other = chats.create_chat([], greetings=["river in another chat"])
    assert [h.chat_id for h in chats.search("river", limit=1)] == [other.id]
    in_first = chats.search("river", chat_id=chat.id, limit=100)
    assert len(in_first) == 30 and {h.chat_id for h in in_first} == {chat.id}
