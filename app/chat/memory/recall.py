"""Recall at each turn: chunks of messages that left the prompt, as a memories block.

The prompt is built once without memories; the messages it no longer holds are the ones
that can be recalled.  The last few messages form the query; the most similar chunks
above the chat's threshold, oldest first, are rendered through the chat's template and
the prompt is built again with them.  Only messages on the active path are searched, so
other swipes, deleted messages and edited-away text are never recalled.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from app.chat.memory.index import Hit, MemoryIndex
from app.prompt.formats import PromptPosition, Role
from app.prompt.memory import MemoryPrompt, render_memories
from app.prompt.sandbox import TemplateSandbox
from app.prompt.types import BuiltPrompt
from app.storage.memory_types import MemorySettings
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import Message

_POSITIONS = {
    "in_chat": PromptPosition.IN_CHAT,
    "after_story": PromptPosition.IN_PROMPT,
    "before_prompt": PromptPosition.BEFORE_PROMPT,
}
_ROLES = {"system": Role.SYSTEM, "user": Role.USER, "assistant": Role.ASSISTANT}


@dataclass(frozen=True)
class Recalled:
    """What one turn recalled: the chunks (oldest first) and the block they became."""

    hits: tuple[Hit, ...] = ()
    block: str = ""


def first_in_prompt(prompt: BuiltPrompt, n_history: int) -> int:
    """The history index of the oldest message the prompt holds (``n_history``: none)."""
    indexes = [
        s.message_index
        for s in prompt.segments
        if s.kind == "message" and s.message_index is not None
    ]
    return min(indexes, default=n_history)


class MemoryRecall:
    """Recalls memories for a chat's prompts and remembers what each chat last recalled."""

    def __init__(
        self, index: MemoryIndex, repository: MemoryRepository, sandbox: TemplateSandbox
    ) -> None:
        self.index = index
        self._repository = repository
        self._sandbox = sandbox
        self._last: dict[int, Recalled] = {}
        self._lock = threading.Lock()

    def settings(self, chat_id: int) -> MemorySettings:
        """The chat's memory settings (an unsaved chat's: off)."""
        if chat_id <= 0:
            return MemorySettings(enabled=False)
        return self._repository.settings(chat_id)

    def recall(
        self, chat_id: int, history: Sequence[Message], prompt: BuiltPrompt, *, record: bool
    ) -> MemoryPrompt | None:
        """The memories block for a prompt of ``history`` (None: nothing to add).

        Nothing is embedded or loaded while every message is still in the prompt.
        ``record``: remember what was recalled as the chat's last recall (a reply's).
        """
        settings = self.settings(chat_id)
        first = first_in_prompt(prompt, len(history))
        if not settings.enabled or first <= 0:
            return None
        self.index.update(chat_id, history)
        queries = [m.content for m in reversed(history[-settings.query_messages :])]
        eligible = [m.id for m in history[:first]]
        hits = self.index.search(
            chat_id, queries, eligible, limit=settings.max_chunks, threshold=settings.threshold
        )
        order = {message_id: i for i, message_id in enumerate(eligible)}
        hits.sort(key=lambda h: (order[h.message_id], h.chunk_index))
        block = render_memories(self._sandbox, settings.template, [h.text for h in hits])
        if record:
            with self._lock:
                self._last[chat_id] = Recalled(tuple(hits), block)
        if not block:
            return None
        return MemoryPrompt(
            block, _POSITIONS[settings.position], settings.depth, _ROLES[settings.role]
        )

    def last(self, chat_id: int) -> Recalled:
        """What the chat's last reply's prompt recalled."""
        with self._lock:
            return self._last.get(chat_id, Recalled())
