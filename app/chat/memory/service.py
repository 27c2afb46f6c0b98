"""MemoryService: what the Memory panel and ``parlor memory`` read and change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.chat.memory.index import Hit, ProgressCallback
from app.chat.memory.recall import MemoryRecall
from app.storage.memory_types import MemorySettings
from app.storage.repositories import ChatRepository
from app.storage.repositories.memory import MemoryRepository
from app.storage.types import Message


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


class MemoryService:
    """Reads and changes chats' long-term memory (one transaction per action)."""

    def __init__(
        self, recall: MemoryRecall, repository: MemoryRepository, chats: ChatRepository
    ) -> None:
        self._recall = recall
        self._repository = repository
        self._chats = chats

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
        )

    def settings(self, chat_id: int) -> MemorySettings:
        """The chat's memory settings."""
        self._chats.get_chat(chat_id)
        return self._repository.settings(chat_id)

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

    def rebuild(self, chat_id: int, progress: ProgressCallback | None = None) -> int:
        """Forget the chat's index and embed its active path again; returns how many."""
        path = self._path(chat_id)
        self._recall.index.clear(chat_id)
        return self._recall.index.update(chat_id, path, progress)

    def _path(self, chat_id: int) -> Sequence[Message]:
        self._chats.get_chat(chat_id)
        return self._chats.active_path(chat_id)
