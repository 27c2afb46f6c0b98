"""ChatRepository: the message tree, swipes, branches, trash and transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from app.errors import InputError, NotFound
from app.storage import Database
from app.storage.repositories import ChatRepository, TreeError, _tree
from app.storage.types import GenInfo, Message, Role

BulkChain = Callable[[int, int, int], int]


def contents(path: list[Message]) -> list[str]:
    return [m.content for m in path]


def say(chats: ChatRepository, chat_id: int, parent: int | None, text: str) -> Message:
    role = Role.USER if text.startswith("u") else Role.ASSISTANT
    return chats.add_message(chat_id, parent, role=role, speaker="x", content=text)


def test_create_chat_with_greeting_swipes(chats: ChatRepository, character_id: int) -> None:
    chat = chats.create_chat(
        [character_id], title="First", greetings=["Hello", "Hi", "Hey"], greeting_speaker="Sera"
    )
    assert chat.character_ids == (character_id,)
    path = chats.active_path(chat.id)
    assert contents(path) == ["Hello"]
    assert path[0].speaker == "Sera" and path[0].role is Role.ASSISTANT
    assert chats.siblings(path[0].id) == (0, 3)
    third = chats.select_sibling(path[0].id, 2)
    assert third.content == "Hey"
    assert contents(chats.active_path(chat.id)) == ["Hey"]
    assert chats.get_chat(chat.id).active_root_id == third.id


def test_create_chat_checks_references(chats: ChatRepository, character_id: int) -> None:
    with pytest.raises(NotFound, match="no character named 999"):
        chats.create_chat([character_id, 999])
    with pytest.raises(NotFound, match="no persona named 5"):
        chats.create_chat([character_id], persona_id=5)
    chat = chats.create_chat([character_id])
    with pytest.raises(NotFound, match="no persona"):
        chats.set_persona(chat.id, 5)
    assert [c.id for c in chats.list_chats()] == [chat.id]


def test_empty_chat_has_empty_path(chats: ChatRepository) -> None:
    chat = chats.create_chat([])
    assert chats.active_path(chat.id) == []
    assert chat.title == "New chat"
    with pytest.raises(NotFound):
        chats.active_path(chat.id + 100)


def test_add_message_appends_and_activates(chats: ChatRepository) -> None:
    chat = chats.create_chat([], greetings=["g"])
    root = chats.active_path(chat.id)[0]
    u1 = say(chats, chat.id, root.id, "u1")
    a1 = say(chats, chat.id, u1.id, "a1")
    assert contents(chats.active_path(chat.id)) == ["g", "u1", "a1"]
    assert a1.parent_id == u1.id and a1.sibling_index == 0
    assert chats.get_message(u1.id).active_child_id == a1.id
    assert chats.count_messages(chat.id) == 3


def test_streamed_reply_is_finished_with_gen_info(chats: ChatRepository) -> None:
    chat = chats.create_chat([], greetings=["g"])
    user = say(chats, chat.id, chat.active_root_id, "u1")
    reply = chats.add_message(chat.id, user.id, role=Role.ASSISTANT, speaker="Sera")
    for partial in ("Once", "Once upon", "Once upon a time"):
        chats.update_message_content(reply.id, partial)
        assert chats.get_message(reply.id).content == partial
    info = GenInfo(
        model="m.gguf",
        seed=7,
        prompt_tokens=120,
        completion_tokens=4,
        tokens_reused=100,
        tokens_evaluated=20,
        timings={"prompt_ms": 3.5},
        finish_reason="stop",
        other={"future": [1]},
    )
    done = chats.finish_message(reply.id, "Once upon a time.", info, stopped=True)
    assert done.content == "Once upon a time."
    assert done.gen_info.stopped is True
    assert done.gen_info.seed == 7 and done.gen_info.timings == {"prompt_ms": 3.5}
    assert done.gen_info.other == {"future": [1]}
    assert chats.get_message(reply.id).gen_info == done.gen_info


def test_swipes_keep_their_own_continuations(chats: ChatRepository) -> None:
    """Swiping any message, not only the last, keeps each alternative's subtree."""
    chat = chats.create_chat([], greetings=["g"])
    u1 = say(chats, chat.id, chat.active_root_id, "u1")
    a1 = say(chats, chat.id, u1.id, "a1")
    u2 = say(chats, chat.id, a1.id, "u2")
    say(chats, chat.id, u2.id, "a2")
    # Regenerate a1 (a middle message): the new swipe starts with no continuation.
    a1b = chats.add_swipe(chat.id, u1.id, speaker="x", content="a1b")
    assert contents(chats.active_path(chat.id)) == ["g", "u1", "a1b"]
    assert chats.siblings(a1b.id) == (1, 2)
    u2b = say(chats, chat.id, a1b.id, "u2b")
    say(chats, chat.id, u2b.id, "a2b")
    chats.set_active_child(u1.id, a1.id)
    assert contents(chats.active_path(chat.id)) == ["g", "u1", "a1", "u2", "a2"]
    chats.set_active_child(u1.id, a1b.id)
    assert contents(chats.active_path(chat.id)) == ["g", "u1", "a1b", "u2b", "a2b"]
    # An edit on a user message as a new branch (sibling of u1).
    u1c = chats.add_swipe(chat.id, chat.active_root_id, role=Role.USER, speaker="x", content="u1c")
    assert contents(chats.active_path(chat.id)) == ["g", "u1c"]
    chats.select_sibling(u1c.id, 0)
    assert contents(chats.active_path(chat.id)) == ["g", "u1", "a1b", "u2b", "a2b"]


def test_set_active_child_rejects_non_children(chats: ChatRepository) -> None:
    chat = chats.create_chat([], greetings=["g"])
    u1 = say(chats, chat.id, chat.active_root_id, "u1")
    a1 = say(chats, chat.id, u1.id, "a1")
    with pytest.raises(TreeError, match=f"message {a1.id}: is not a child"):
        chats.set_active_child(chat.active_root_id, a1.id)
    with pytest.raises(TreeError, match="no swipe number 3"):
        chats.select_sibling(a1.id, 2)


def test_add_message_rejects_foreign_parent_and_chat(chats: ChatRepository) -> None:
    one = chats.create_chat([], greetings=["g1"])
    two = chats.create_chat([], greetings=["g2"])
    with pytest.raises(NotFound, match="no message"):
        say(chats, two.id, one.active_root_id, "u")
    with pytest.raises(NotFound, match="no message"):
        say(chats, two.id, 999_999, "u")
    with pytest.raises(NotFound, match="no chat"):
        say(chats, 999_999, None, "u")
    assert chats.count_messages(two.id) == 1
    with pytest.raises(NotFound):
        chats.update_message_content(999_999, "x")
    with pytest.raises(NotFound):
        chats.finish_message(999_999, "x", GenInfo())


def test_delete_message_removes_subtree_and_shows_neighbour(chats: ChatRepository) -> None:
    chat = chats.create_chat([], greetings=["g"])
    u1 = say(chats, chat.id, chat.active_root_id, "u1")
    a1 = say(chats, chat.id, u1.id, "a1")
    a1b = chats.add_swipe(chat.id, u1.id, speaker="x", content="a1b")
    u2 = say(chats, chat.id, a1b.id, "u2")
    say(chats, chat.id, u2.id, "a2")
    assert chats.delete_message(a1b.id) == 3
    assert contents(chats.active_path(chat.id)) == ["g", "u1", "a1"]
    assert chats.siblings(a1.id) == (0, 1)
    assert chats.count_messages(chat.id) == 3
    assert chats.search("u2") == []
    with pytest.raises(NotFound):
        chats.get_message(u2.id)


def test_delete_root_and_deep_chain(chats: ChatRepository, bulk_chain: BulkChain) -> None:
    """A 3,000-deep chain goes in one statement (no trigger-depth limit)."""
    chat = chats.create_chat([], greetings=["g", "g2"])
    root = chats.active_path(chat.id)[0]
    bulk_chain(chat.id, root.id, 3000)
    assert len(chats.active_path(chat.id)) == 3001
    assert chats.delete_message(root.id) == 3001
    assert contents(chats.active_path(chat.id)) == ["g2"]
    assert chats.count_messages(chat.id) == 1


def vm_steps(db: Database, chats: ChatRepository, chat_id: int) -> int:
    """SQLite virtual-machine steps (in hundreds) that ``active_path`` takes for a chat."""
    ticks = 0

    def tick() -> int:
        nonlocal ticks
        ticks += 1
        return 0  # go on

    with db.read() as session:
        raw = session.connection().connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.set_progress_handler(tick, 100)
        try:
            chats.active_path(chat_id, session=session)
        finally:
            raw.set_progress_handler(None, 100)
    return ticks


def test_active_path_of_10000_messages_is_one_query(
    db: Database, chats: ChatRepository, bulk_chain: BulkChain
) -> None:
    """One SQL statement whose work grows linearly with the path.

    The work is counted in SQLite virtual-machine steps, not seconds; the 200 ms target
    itself is measured by ``bench/storage_bench.py``."""
    short = chats.create_chat([], greetings=["g"])
    bulk_chain(short.id, short.active_root_id or 0, 2_499)
    short_steps = vm_steps(db, chats, short.id)
    assert short_steps > 0
    chat = chats.create_chat([], greetings=["g"])
    bulk_chain(chat.id, chat.active_root_id or 0, 9_999)
    # A side branch near the top must not be walked.
    say(chats, chat.id, chat.active_root_id, "u-side")
    chats.select_sibling(chats.active_path(chat.id)[1].id, 0)
    statements: list[str] = []
    with db.read() as session:
        raw = session.connection().connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.set_trace_callback(statements.append)
        path = chats.active_path(chat.id, session=session)
        raw.set_trace_callback(None)
    queries = [s for s in statements if not s.startswith("BEGIN")]
    assert queries == [_tree.ACTIVE_PATH_SQL.replace("?", str(chat.id))]
    assert len(path) == 10_000
    assert [m.parent_id for m in path[1:]] == [m.id for m in path[:-1]]
    assert path[-1].content == "bulk message number 9998 about lanterns and rivers"
    # Four times the messages cost four times the steps; a walk that scanned a table or
    # an index per message would cost about 20 times as much (the short chat is measured
    # while it is all the database holds).
    long_steps = vm_steps(db, chats, chat.id)
    assert long_steps <= 5 * short_steps, (short_steps, long_steps)


def test_branch_copies_the_path_to_a_message(chats: ChatRepository, character_id: int) -> None:
    chat = chats.create_chat(
        [character_id],
        title="Main",
        greetings=["g", "g2"],
        metadata={"chat_metadata": {"note_prompt": "AN"}},
    )
    u1 = say(chats, chat.id, chat.active_root_id, "u1")
    a1 = say(chats, chat.id, u1.id, "a1")
    a1b = chats.add_swipe(chat.id, u1.id, speaker="x", content="a1b")
    say(chats, chat.id, a1b.id, "u2")
    # Branch from a1, which is not on the shown path.
    branch = chats.branch(chat.id, a1.id)
    assert branch.title == "Main (branch)"
    assert branch.character_ids == (character_id,)
    assert branch.metadata == {"chat_metadata": {"note_prompt": "AN"}}
    path = chats.active_path(branch.id)
    assert contents(path) == ["g", "u1", "a1"]
    # Every message on the path keeps its swipes; the swipes come without continuations.
    assert chats.count_messages(branch.id) == 5
    assert all(m.chat_id == branch.id for m in path)
    assert chats.siblings(path[0].id) == (0, 2)
    assert chats.siblings(path[2].id) == (0, 2)
    chats.select_sibling(path[2].id, 1)
    assert contents(chats.active_path(branch.id)) == ["g", "u1", "a1b"]
    chats.select_sibling(path[0].id, 1)
    assert contents(chats.active_path(branch.id)) == ["g2"]
    chats.select_sibling(chats.active_path(branch.id)[0].id, 0)
    chats.select_sibling(path[2].id, 0)
    # The source is untouched, and both can grow independently.
    assert contents(chats.active_path(chat.id)) == ["g", "u1", "a1b", "u2"]
    say(chats, branch.id, path[-1].id, "u-branch")
    assert contents(chats.active_path(chat.id)) == ["g", "u1", "a1b", "u2"]
    assert [h.chat_id for h in chats.search("branch")] == [branch.id]
    with pytest.raises(NotFound):
        chats.branch(branch.id, a1.id)


def test_duplicate_copies_every_branch(chats: ChatRepository, character_id: int) -> None:
    chat = chats.create_chat([character_id], title="Main", greetings=["g", "g2"])
    u1 = say(chats, chat.id, chat.active_root_id, "u1")
    say(chats, chat.id, u1.id, "a1")
    a1b = chats.add_swipe(chat.id, u1.id, speaker="x", content="a1b")
    chats.update_message_extra(a1b.id, {"reasoning": "hmm"})
    copy = chats.duplicate(chat.id)
    assert copy.title == "Main (copy)"
    assert chats.count_messages(copy.id) == chats.count_messages(chat.id) == 5
    path = chats.active_path(copy.id)
    assert contents(path) == ["g", "u1", "a1b"]
    assert path[-1].extra == {"reasoning": "hmm"}
    assert chats.siblings(path[0].id) == (0, 2)
    assert chats.siblings(path[-1].id) == (1, 2)
    # Swiping in the copy leaves the original alone.
    chats.select_sibling(path[-1].id, 0)
    assert contents(chats.active_path(copy.id))[-1] == "a1"
    assert contents(chats.active_path(chat.id))[-1] == "a1b"


def test_rename_metadata_and_persona(chats: ChatRepository, personas: object) -> None:
    from app.storage.repositories import PersonaRepository

    assert isinstance(personas, PersonaRepository)
    me = personas.create("Me")
    chat = chats.create_chat([])
    assert chats.rename(chat.id, "Renamed").title == "Renamed"
    with pytest.raises(InputError, match="title"):
        chats.rename(chat.id, "  ")
    meta = {"chat_metadata": {"integrity": "abc", "note_prompt": "x"}, "preset": "Mirostat"}
    assert chats.update_metadata(chat.id, meta).metadata == meta
    assert chats.set_persona(chat.id, me.id).persona_id == me.id
    personas.delete(me.id)
    assert chats.get_chat(chat.id).persona_id is None
    with pytest.raises(NotFound):
        chats.rename(999, "x")


def test_trash_restore_purge_and_lists(chats: ChatRepository, character_id: int) -> None:
    first = chats.create_chat([character_id], title="one", greetings=["g"])
    second = chats.create_chat([character_id], title="two", greetings=["g"])
    other = chats.create_chat([], title="none")
    say(chats, first.id, first.active_root_id, "u newest")
    assert [c.id for c in chats.list_chats()] == [first.id, other.id, second.id]
    assert [c.id for c in chats.list_chats(character_id)] == [first.id, second.id]
    chats.trash(first.id)
    assert [c.id for c in chats.list_chats(character_id)] == [second.id]
    assert [c.id for c in chats.list_trash()] == [first.id]
    assert chats.search("newest") == []
    with pytest.raises(InputError, match="trash"):
        chats.purge(second.id)
    chats.restore(first.id)
    assert chats.list_trash() == []
    assert [h.chat_id for h in chats.search("newest")] == [first.id]
    chats.trash(first.id)
    chats.purge(first.id)
    with pytest.raises(NotFound):
        chats.get_chat(first.id)
    assert chats.count_messages(first.id) == 0
    assert chats.search("newest") == []


def test_session_composes_calls_in_one_transaction(db: Database, chats: ChatRepository) -> None:
    chat = chats.create_chat([], greetings=["g"])
    with pytest.raises(NotFound), db.transaction() as session:
        chats.rename(chat.id, "changed", session=session)
        say_in = chats.add_message(
            chat.id, chat.active_root_id, role=Role.USER, speaker="x", content="u", session=session
        )
        assert chats.get_message(say_in.id, session=session).content == "u"
        chats.get_message(999_999, session=session)
    assert chats.get_chat(chat.id).title == "New chat"
    assert chats.count_messages(chat.id) == 1
    with db.transaction() as session:
        chats.rename(chat.id, "kept", session=session)
        chats.add_message(
            chat.id, chat.active_root_id, role=Role.USER, speaker="x", content="u", session=session
        )
    assert chats.get_chat(chat.id).title == "kept"
    assert contents(chats.active_path(chat.id)) == ["g", "u"]


def test_extra_and_token_count(chats: ChatRepository) -> None:
    chat = chats.create_chat([], greetings=["g"])
    message = chats.add_message(
        chat.id,
        chat.active_root_id,
        role=Role.USER,
        speaker="x",
        content="u",
        extra={"bias": "{{bias}}"},
    )
    assert message.extra == {"bias": "{{bias}}"}
    chats.update_message_extra(message.id, {"display_text": "shown", "n": [1, 2]})
    chats.set_token_count(message.id, 12)
    stored = chats.get_message(message.id)
    assert stored.extra == {"display_text": "shown", "n": [1, 2]}
    assert stored.token_count == 12
    chats.update_message_content(message.id, "changed")
    assert chats.get_message(message.id).token_count is None
