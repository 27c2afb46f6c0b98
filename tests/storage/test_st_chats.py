"""SillyTavern chats into the message tree and back, byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import StatementError

from app.chatfile import STChat, STMessage, dump_chat, js_stringify, parse_chat
from app.errors import NotFound
from app.storage import Database
from app.storage.repositories import ChatRepository
from app.storage.st_chats import export_st_chat, import_st_chat
from app.storage.types import Role


def line(obj: dict[str, Any]) -> str:
    """One line as SillyTavern's JSON.stringify writes it."""
    return js_stringify(obj)


def info(when: str, **extra: Any) -> dict[str, Any]:
    return {"send_date": when, "gen_started": when, "gen_finished": when, "extra": extra}


MODERN = "\n".join(
    [
        line(
            {
                "chat_metadata": {
                    "integrity": "0f1c7a7e-3c7b-4b8e-9a5e-6c1d2b3a4f50",
                    "tainted": True,
                    "note_prompt": "Keep it short.",
                    "note_interval": 1,
                    "note_position": 1,
                    "note_depth": 4,
                    "note_role": 0,
                    "x_extension": {"enabled": [1, 2]},
                },
                "user_name": "unused",
                "character_name": "unused",
            }
        ),
        line(
            {
                "name": "Seraphina",
                "is_user": False,
                "is_system": False,
                "send_date": "2025-12-01T10:00:00.000Z",
                "mes": "Second greeting ✨",
                "extra": {},
                "swipe_id": 1,
                "swipes": ["First greeting", "Second greeting ✨", "Third\ngreeting"],
                "swipe_info": [
                    info("2025-12-01T09:00:00.000Z"),
                    info("2025-12-01T10:00:00.000Z"),
                    info("2025-12-01T11:00:00.000Z", note="third"),
                ],
            }
        ),
        line(
            {
                "name": "User",
                "is_user": True,
                "is_system": False,
                "send_date": "2025-12-01T10:00:12.345Z",
                "mes": "Where am I? 🌲",
                "extra": {"isSmallSys": False, "bias": "{{bias}}"},
                "force_avatar": "User.png",
            }
        ),
        line(
            {
                "extra": {
                    "api": "textgenerationwebui",
                    "model": "L3-70B-Euryale-v2.1",
                    "reasoning": "",
                    "reasoning_duration": 1.5,
                    "token_count": 42.0,
                    "tiny": 1e-7,
                    "1": "index key",
                    "0": "zero",
                },
                "name": "Seraphina",
                "is_user": False,
                "send_date": "2025-12-01T10:00:20.000Z",
                "mes": '"You\'re in my glade."',
                "title": "",
                "gen_started": "2025-12-01T10:00:14.000Z",
                "gen_finished": "2025-12-01T10:00:20.000Z",
                "swipe_id": 0,
                "swipes": ['"You\'re in my glade."', '"Rest now."'],
                "swipe_info": [
                    {
                        "send_date": "2025-12-01T10:00:20.000Z",
                        "gen_started": "2025-12-01T10:00:14.000Z",
                        "gen_finished": "2025-12-01T10:00:20.000Z",
                        "extra": {"api": "textgenerationwebui", "model": "L3-70B-Euryale-v2.1"},
                        "x_swipe_key": 7,
                    },
                    None,
                ],
                "x_unknown_top": {"kept": True},
            }
        ),
        line(
            {
                "name": "Narrator",
                "is_user": False,
                "is_system": True,
                "send_date": "2025-12-01T10:01:00.000Z",
                "mes": "The wind rises.",
                "extra": {"type": "narrator", "isSmallSys": True},
            }
        ),
        line(
            {
                "name": "User",
                "is_user": True,
                "is_system": True,
                "send_date": "2025-12-01T10:02:00.000Z",
                "mes": "(hidden aside)",
                "extra": {},
            }
        ),
    ]
)

LEGACY = "\n".join(
    [
        line(
            {
                "user_name": "You",
                "character_name": "Seraphina",
                "create_date": "2024-10-18@21h03m11s",
                "chat_metadata": {"note_prompt": ""},
            }
        ),
        line(
            {
                "name": "Seraphina",
                "is_user": False,
                "is_name": True,
                "send_date": "June 19, 2023 2:20pm",
                "mes": "Old greeting",
                "swipes": ["Old greeting", "Other"],
                "swipe_id": 0,
            }
        ),
        line(
            {
                "name": "You",
                "is_user": True,
                "is_name": True,
                "send_date": 1687184460000,
                "mes": "typed",
            }
        ),
        line(
            {
                "name": "Seraphina",
                "is_user": False,
                "send_date": "2024-6-5 @14h 56m 50s 682ms",
                "mes": "out of range",
                "swipes": ["a", "out of range"],
                "swipe_id": 9,
                "swipe_info": [{"send_date": "x"}],
            }
        ),
        line(
            {
                "name": "Seraphina",
                "is_user": False,
                "send_date": "2024-07-12@01h31m37s123ms",
                "mes": "edited text",
                "swipes": ["original text"],
                "swipe_id": 0,
                "swipe_info": [],
            }
        ),
        line(
            {
                "name": "Seraphina",
                "is_user": False,
                "send_date": "2024-7-12@01h31m37s",
                "mes": "no swipes",
                "swipes": [],
                "swipe_id": 0,
                "swipe_info": [],
            }
        ),
        line({"name": "Seraphina", "is_user": False, "send_date": "garbage date"}),
    ]
)


@pytest.mark.parametrize("text", [MODERN, LEGACY], ids=["st-1.18", "legacy"])
def test_import_then_export_is_byte_for_byte(db: Database, character_id: int, text: str) -> None:
    chat = import_st_chat(db, parse_chat(text, "t.jsonl"), character_id)
    assert chat.title == "Seraphina (imported)"
    assert dump_chat(export_st_chat(db, chat.id)) == text


def test_import_builds_the_tree(db: Database, chats: ChatRepository, character_id: int) -> None:
    parsed = parse_chat(MODERN, "Seraphina - 2025-12-01@10h00m00s.jsonl")
    chat = import_st_chat(db, parsed, character_id, title="Glade")
    assert chat.title == "Glade" and chat.character_ids == (character_id,)
    assert chat.metadata["chat_metadata"]["integrity"] == "0f1c7a7e-3c7b-4b8e-9a5e-6c1d2b3a4f50"
    assert chat.created_at == datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
    path = chats.active_path(chat.id)
    assert [m.content for m in path] == [
        "Second greeting ✨",
        "Where am I? 🌲",
        '"You\'re in my glade."',
        "The wind rises.",
        "(hidden aside)",
    ]
    assert [m.role for m in path] == [
        Role.ASSISTANT,
        Role.USER,
        Role.ASSISTANT,
        Role.NARRATOR,
        Role.USER,
    ]
    assert chats.siblings(path[0].id) == (1, 3)
    assert chats.siblings(path[2].id) == (0, 2)
    assert path[1].extra == {"isSmallSys": False, "bias": "{{bias}}"}
    assert path[2].gen_info.model == "L3-70B-Euryale-v2.1"
    assert path[1].created_at == datetime(2025, 12, 1, 10, 0, 12, 345000, tzinfo=UTC)
    third = chats.select_sibling(path[0].id, 2)
    assert third.content == "Third\ngreeting" and third.extra == {"note": "third"}
    assert third.created_at == datetime(2025, 12, 1, 11, 0, tzinfo=UTC)
    assert [h.message_id for h in chats.search("glade")] == [path[2].id]


def test_changes_made_in_parlor_export_as_sillytavern_would(
    db: Database, chats: ChatRepository, character_id: int
) -> None:
    chat = import_st_chat(db, parse_chat(MODERN), character_id)
    path = chats.active_path(chat.id)
    chats.select_sibling(path[0].id, 0)  # show the first greeting: its branch is empty
    chats.select_sibling(path[0].id, 1)  # and back: the imported path returns
    chats.update_message_content(path[1].id, "Where am I, really?")
    chats.add_swipe(chat.id, path[1].id, speaker="Seraphina", content="A new swipe")
    exported = export_st_chat(db, chat.id)
    reparsed = parse_chat(dump_chat(exported))
    greeting, user, reply = reparsed.messages[:3]
    assert greeting.raw == json.loads(MODERN.split("\n")[1])
    assert user.mes == "Where am I, really?"
    assert reply.swipes == ['"You\'re in my glade."', '"Rest now."', "A new swipe"]
    assert reply.swipe_id == 2 and reply.mes == "A new swipe"
    assert reply.swipe_info is not None and len(reply.swipe_info) == 3
    assert reply.swipe_info[1] is None and reply.swipe_info[2]["extra"] == {}
    assert reply.raw["x_unknown_top"] == {"kept": True}
    assert len(reparsed.messages) == 3  # the new swipe has no continuation yet
    # Showing another greeting exports that swipe's own date and extra.
    chats.select_sibling(path[0].id, 2)
    first = export_st_chat(db, chat.id).messages[0]
    assert first.swipe_id == 2 and first.mes == "Third\ngreeting"
    assert first.raw["send_date"] == "2025-12-01T11:00:00.000Z"
    assert first.extra == {"note": "third"}
    assert len(export_st_chat(db, chat.id).messages) == 1


def test_a_parlor_chat_exports_as_a_valid_sillytavern_file(
    db: Database, chats: ChatRepository, character_id: int
) -> None:
    chat = chats.create_chat(
        [character_id],
        greetings=["Hello", "Hi"],
        greeting_speaker="Seraphina",
        metadata={"chat_metadata": {"integrity": "abc"}, "preset": "parlor-only"},
    )
    user = chats.add_message(
        chat.id,
        chat.active_root_id,
        role=Role.USER,
        speaker="Me",
        content="Hey",
        extra={"isSmallSys": False},
    )
    chats.add_message(chat.id, user.id, role=Role.NARRATOR, speaker="", content="Night falls.")
    text = dump_chat(export_st_chat(db, chat.id))
    parsed = parse_chat(text)
    assert parsed.header == {
        "chat_metadata": {"integrity": "abc"},
        "user_name": "unused",
        "character_name": "unused",
    }
    greeting, said, narration = parsed.messages
    assert greeting.swipes == ["Hello", "Hi"] and greeting.swipe_id == 0
    assert greeting.is_user is False and greeting.name == "Seraphina"
    assert said.is_user and said.swipes is None and said.extra == {"isSmallSys": False}
    assert narration.is_system and narration.extra == {"type": "narrator"}
    assert said.raw["send_date"].endswith("Z")
    # Importing Parlor's own export and exporting again is stable.
    again = import_st_chat(db, parsed, character_id)
    assert dump_chat(export_st_chat(db, again.id)) == text


def test_nothing_is_stored_when_import_fails(
    db: Database, chats: ChatRepository, character_id: int
) -> None:
    good = parse_chat(MODERN)
    broken = STChat(
        header=good.header,
        messages=(*good.messages, STMessage({"mes": "x", "extra": {"bad": {1, 2}}})),
    )
    with pytest.raises(StatementError, match="not JSON serializable"):
        import_st_chat(db, broken, character_id)  # fails on the last row, after the chat row
    with pytest.raises(NotFound, match="no character"):
        import_st_chat(db, good, character_id + 100)
    with pytest.raises(NotFound, match="no persona"):
        import_st_chat(db, good, character_id, persona_id=7)
    assert chats.list_chats() == []
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM messages").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM chats").scalar() == 0


def test_a_long_chat_imports_in_one_statement(
    db: Database, chats: ChatRepository, character_id: int
) -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    messages = tuple(
        STMessage.create(
            name="A" if i % 2 else "U",
            mes=f"message {i}",
            is_user=i % 2 == 0,
            send_date=when,
            swipes=[f"message {i}", "alt"] if i % 2 else None,
            swipe_id=0 if i % 2 else None,
        )
        for i in range(3000)
    )
    parsed = STChat(header=STChat.new_header({"integrity": "z"}), messages=messages)
    chat = import_st_chat(db, parsed, character_id)
    assert len(chats.active_path(chat.id)) == 3000
    assert chats.count_messages(chat.id) == 4500
    assert dump_chat(export_st_chat(db, chat.id)) == dump_chat(parsed)
