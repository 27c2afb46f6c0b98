"""SillyTavern's Summarize data (``extra.memory`` on messages), in and out.

SillyTavern keeps its one rolling summary on the message that was last when it was
written: a summary of the chat up to that message.  An imported chat's newest such
summary becomes a Parlor summary of those messages; an exported chat carries Parlor's
story so far on the last message its newest current summary covers.
"""

from __future__ import annotations

from dataclasses import replace

from app.chat.memory.summaries import block_digest, coverage
from app.chatfile.model import STChat, STMessage
from app.storage.repositories import ChatRepository
from app.storage.repositories.memory import MemoryRepository

#: The key SillyTavern's Summarize extension writes into a message's ``extra``.
ST_MEMORY = "memory"


class SillyTavernSummaries:
    """Moves summaries between Parlor and SillyTavern's ``extra.memory``."""

    def __init__(self, repository: MemoryRepository, chats: ChatRepository) -> None:
        self._repository = repository
        self._chats = chats

    def imported(self, chat_id: int) -> bool:
        """Store the newest ``extra.memory`` of the chat's shown path as a summary of the
        messages up to it; False if there is none."""
        path = self._chats.active_path(chat_id)
        for index in range(len(path) - 1, -1, -1):
            text = path[index].extra.get(ST_MEMORY)
            if isinstance(text, str) and text.strip():
                run = path[: index + 1]
                self._repository.add_summary(
                    chat_id, "summary", text.strip(), message_ids=[m.id for m in run],
                    digest=block_digest(run),
                )  # fmt: skip
                return True
        return False

    def exported(self, chat_id: int, chat: STChat) -> STChat:
        """``chat`` (the chat's shown path) with the story so far as ``extra.memory`` of
        the last message the summaries cover (unchanged without a current summary)."""
        path = self._chats.active_path(chat_id)
        block = self._repository.settings(chat_id).summary_block
        valid = coverage(path, len(path), block, self._repository.summaries(chat_id)).valid
        if not valid or len(chat.messages) != len(path):
            return chat
        last_id = valid[-1].message_ids[-1]
        at = next(i for i, m in enumerate(path) if m.id == last_id)
        story = "\n".join(s.text for s in valid)
        message = chat.messages[at]
        extra = message.raw.get("extra")
        raw = {
            **message.raw,
            "extra": {**(extra if isinstance(extra, dict) else {}), ST_MEMORY: story},
        }
        messages = (*chat.messages[:at], STMessage(raw), *chat.messages[at + 1 :])
        return replace(chat, messages=messages)
