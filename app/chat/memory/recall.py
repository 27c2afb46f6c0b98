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
from dataclasses import dataclass, replace

from app.chat.memory.index import Hit, MemoryIndex
from app.chat.memory.summaries import SummaryWorker, coverage
from app.prompt.formats import PromptPosition, Role
from app.prompt.memory import MemoryPrompt, render_memories, render_story
from app.prompt.sandbox import TemplateSandbox
from app.prompt.types import BuiltPrompt
from app.prompt.worldinfo import WIEntry
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
        self,
        index: MemoryIndex,
        repository: MemoryRepository,
        sandbox: TemplateSandbox,
        summaries: SummaryWorker | None = None,
    ) -> None:
        self.index = index
        #: Writes summaries in the background (None: no summaries).
        self.summaries = summaries
        self._repository = repository
        self._sandbox = sandbox
        self._last: dict[int, Recalled] = {}
        #: Per chat: where its last reply's prompt began, and the context size.
        self._windows: dict[int, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def settings(self, chat_id: int) -> MemorySettings:
        """The chat's memory settings (an unsaved chat's: off)."""
        if chat_id <= 0:
            return MemorySettings(enabled=False)
        return self._repository.settings(chat_id)

    def recall(
        self,
        chat_id: int,
        history: Sequence[Message],
        prompt: BuiltPrompt,
        *,
        n_ctx: int,
        record: bool,
    ) -> MemoryPrompt | None:
        """The story so far and the memories block for a prompt of ``history`` (None:
        nothing to add).

        Nothing is embedded or loaded while every message is still in the prompt.
        ``record``: a reply's prompt; what it recalled is the chat's last recall, and
        the messages before it are summarized after the reply.
        """
        settings = self.settings(chat_id)
        if not settings.enabled:
            return None
        first = first_in_prompt(prompt, len(history))
        if record:
            with self._lock:
                self._windows[chat_id] = (first, n_ctx)
        story = self.story(chat_id, history, first, settings, n_ctx)
        recalled = self._recalled(chat_id, history, first, settings, record=record)
        if not story and not recalled:
            return None
        position, role = _POSITIONS[settings.position], _ROLES[settings.role]
        return MemoryPrompt(recalled, story, position, settings.depth, role)

    def story(
        self,
        chat_id: int,
        history: Sequence[Message],
        first: int,
        settings: MemorySettings,
        n_ctx: int,
    ) -> str:
        """The story so far: valid summaries of what left the prompt (the newest that fit
        the chat's share of the context, and always the newest, even one over it: the
        history then gives way) and the pinned facts."""
        stored = self._repository.summaries(chat_id)
        facts = [s.text for s in stored if s.kind == "fact"]
        plan = coverage(history, first, settings.summary_block, stored)
        budget = int(n_ctx * settings.summary_share * 3) - sum(len(f) for f in facts)
        kept: list[str] = []
        for summary in reversed(plan.valid):
            budget -= len(summary.text)
            if budget < 0 and kept:
                break
            kept.insert(0, summary.text)
        return render_story(self._sandbox, kept, facts)

    def vector_lore(
        self, chat_id: int, history: Sequence[Message], lore: Sequence[WIEntry]
    ) -> list[WIEntry] | None:
        """``lore`` with the vectorized entries most similar to the last messages made
        constant for this prompt (None: no vectorized entry, or memory is off)."""
        settings = self.settings(chat_id)
        candidates = [e for e in lore if e.vectorized and e.enabled and not e.constant]
        if not settings.enabled or not candidates or not history:
            return None
        queries = [m.content for m in reversed(history[-settings.query_messages :])]
        chosen = self.index.similar_texts(
            [e.content for e in candidates], queries,
            limit=settings.max_chunks, threshold=settings.threshold,
        )  # fmt: skip
        active = {id(candidates[i]) for i in chosen}
        return [replace(e, constant=True) if id(e) in active else e for e in lore]

    def after_reply(self, chat_id: int) -> None:
        """Summarize, in the background, what left the chat's last reply's prompt."""
        with self._lock:
            window = self._windows.get(chat_id)
        if self.summaries is not None and window is not None:
            self.summaries.schedule(chat_id, *window)

    def before_reply(self) -> None:
        """A reply is starting: a summary under way gives way."""
        if self.summaries is not None:
            self.summaries.pause()

    def _recalled(
        self,
        chat_id: int,
        history: Sequence[Message],
        first: int,
        settings: MemorySettings,
        *,
        record: bool,
    ) -> str:
        if first <= 0:
            return ""
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
        return block

    def last(self, chat_id: int) -> Recalled:
        """What the chat's last reply's prompt recalled."""
        with self._lock:
            return self._last.get(chat_id, Recalled())
