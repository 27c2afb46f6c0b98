"""Child process of ``test_crash.py``: streams replies into a chat until it is killed.

Usage: ``python crash_child.py DB_PATH CHAT_ID TAG``.  After each commit it prints one line
and flushes: ``U id`` (user message), ``P id k`` (partial reply with ``k`` words committed)
or ``F id k`` (finished reply).  It never stops by itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.storage import open_database
from app.storage.repositories import ChatRepository
from app.storage.types import GenInfo, Role

WORDS_PER_REPLY = 60


def words(count: int) -> str:
    """The deterministic text of a reply after ``count`` streamed words."""
    return " ".join(f"w{i}" for i in range(count))


def main(path: str, chat_id: int, tag: str) -> None:
    """Stream user messages and word-by-word replies forever."""
    db = open_database(Path(path))
    chats = ChatRepository(db)
    leaf = chats.active_path(chat_id)[-1].id
    print("READY", flush=True)
    turn = 0
    while True:
        turn += 1
        user = chats.add_message(
            chat_id, leaf, role=Role.USER, speaker="me", content=f"user {tag} {turn}"
        )
        print(f"U {user.id}", flush=True)
        reply = chats.add_message(chat_id, user.id, role=Role.ASSISTANT, speaker="bot")
        for count in range(1, WORDS_PER_REPLY + 1):
            chats.update_message_content(reply.id, words(count))
            print(f"P {reply.id} {count}", flush=True)
        info = GenInfo(completion_tokens=WORDS_PER_REPLY, finish_reason="stop")
        chats.finish_message(reply.id, words(WORDS_PER_REPLY) + ".", info)
        print(f"F {reply.id} {WORDS_PER_REPLY}", flush=True)
        leaf = reply.id


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
