"""MemoryService: what the Memory panel and ``parlor memory`` read and change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.chat.memory.index import Hit, MemoryIndex, ProgressCallback
from app.chat.memory.recall import LONG_CHAT, MemoryRecall
from app.chat.memory.summaries import coverage
from app.errors import InputError
from app.storage.memory_types import MemorySettings, Summary
from app.storage.repositories import ChatRepository
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import Message

SummaryState = Literal["current", "stale", "fact"]


@dataclass(frozen=True)
class SummaryView:
    """A summary or pinned fact, and whether it still holds on the chat's shown path."""

    summary: Summary
    state: SummaryState


@dataclass(frozen=True)
class MemoryOverview:
    """A chat's memory at a glance."""

    chat_id: int
    settings: MemorySettings
    #: Chunks in the chat's index, and of how many messages.
    chunks: int
    messages: int
    #: Messages on the chat's active path.
    path_messages: int
    #: What the chat's last reply's prompt recalled (this process only).
    recalled: tuple[Hit, ...]
    #: The memories block of the last prompt ("" if none).
    block: str
    #: The embedding model.
    model: str
    #: Summaries and pinned facts, oldest first.
    summaries: tuple[SummaryView, ...] = ()


class MemoryService:
    """Reads and changes chats' long-term memory (one transaction per action)."""

    def __init__(
        self,
        recall: MemoryRecall,
        repository: MemoryRepository,
        chats: ChatRepository,
        *,
        active: bool = True,
    ) -> None:
        self._recall = recall
        self._repository = repository
        self._chats = chats
        #: False when the process runs with memory off (``--no-memory``).
        self.active = active

    def overview(self, chat_id: int) -> MemoryOverview:
        """The chat's memory settings, index size and last recall."""
        self._chats.get_chat(chat_id)
        chunks, messages = self._recall.index.size(chat_id)
        last = self._recall.last(chat_id)
        return MemoryOverview(
            chat_id=chat_id,
            settings=self._repository.settings(chat_id),
            chunks=chunks,
            messages=messages,
            path_messages=len(self._path(chat_id)),
            recalled=last.hits,
            block=last.block,
            model=self._recall.index.embedder.name,
            summaries=tuple(self.summaries(chat_id)),
        )

    def summaries(self, chat_id: int) -> list[SummaryView]:
        """The chat's summaries and pinned facts; a summary whose messages are no longer
        on the shown path, or were edited since, is stale (it is written again)."""
        path = self._path(chat_id)
        stored = self._repository.summaries(chat_id)
        block = self._repository.settings(chat_id).summary_block
        current = {s.id for s in coverage(path, len(path), block, stored).valid}
        return [
            SummaryView(
                s, "fact" if s.kind == "fact" else "current" if s.id in current else "stale"
            )
            for s in stored
        ]

    def add_fact(self, chat_id: int, text: str) -> Summary:
        """Pin a fact of the user's: always in the chat's prompts, never merged away."""
        self._chats.get_chat(chat_id)
        if not text.strip():
            raise InputError("fact", "is empty")
        return self._repository.add_summary(chat_id, "fact", text.strip(), pinned=True)

    def edit_summary(self, summary_id: int, text: str) -> Summary:
        """Change a summary's or fact's text (kept until its messages change)."""
        if not text.strip():
            raise InputError("summary", "is empty; delete it instead")
        return self._repository.update_summary(summary_id, text=text.strip())

    def pin_summary(self, summary_id: int, pinned: bool) -> Summary:
        """Pin a summary (never merged, kept as it is) or unpin it."""
        return self._repository.update_summary(summary_id, pinned=pinned)

    def delete_summary(self, summary_id: int) -> Summary:
        """Delete a summary (it is written again while its messages are out of the
        context) or a fact."""
        return self._repository.delete_summary(summary_id)

    def wait_for_summaries(self, timeout: float) -> bool:
        """Wait until no summary is being written; False on timeout."""
        worker = self._recall.summaries
        return worker is None or worker.wait_idle(timeout)

    def settings(self, chat_id: int) -> MemorySettings:
        """The chat's memory settings."""
        self._chats.get_chat(chat_id)
        return self._repository.settings(chat_id)

    def load_embedder(self) -> None:
        """Load the embedding model now (it otherwise loads on first use)."""
        self._recall.index.embedder.load()

    def index_of(self) -> MemoryIndex:
        """The vector index (the benchmark times its searches)."""
        return self._recall.index

    def close(self) -> None:
        """Stop writing summaries (the one under way is cancelled)."""
        if self._recall.summaries is not None:
            self._recall.summaries.close()

    def save_settings(self, chat_id: int, settings: MemorySettings) -> MemorySettings:
        """Store the chat's memory settings (the switch among them)."""
        self._chats.get_chat(chat_id)
        self._repository.save_settings(chat_id, settings)
        return settings

    def pending(self, chat_id: int) -> int:
        """How many messages of the chat's active path are not embedded yet."""
        return len(self._recall.index.missing(chat_id, self._path(chat_id)))

    def index(self, chat_id: int, progress: ProgressCallback | None = None) -> int:
        """Embed the messages of the chat's active path that need it; returns how many."""
        return self._recall.index.update(chat_id, self._path(chat_id), progress)

    def index_imported(self, chat_id: int, progress: ProgressCallback | None = None) -> int:
        """Embed an imported chat now, so that its first reply does not wait for it
        (where memory is on for the process and the chat, and the chat is long enough to
        leave the context soon); returns how many were embedded."""
        if not self.active or not self.settings(chat_id).enabled:
            return 0
        path = self._path(chat_id)
        if len(path) < LONG_CHAT:
            return 0  # embedded when its first message leaves the context, as any chat
        return self._recall.index.update(chat_id, path, progress)

    def rebuild(self, chat_id: int, progress: ProgressCallback | None = None) -> int:
        """Forget the chat's index and embed its active path again; returns how many."""
        path = self._path(chat_id)
        self._recall.index.clear(chat_id)
        return self._recall.index.update(chat_id, path, progress)

    def _path(self, chat_id: int) -> Sequence[Message]:
        self._chats.get_chat(chat_id)
        return self._chats.active_path(chat_id)
