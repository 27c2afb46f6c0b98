"""SillyTavern chat files (JSONL) in and out of storage."""

from __future__ import annotations

from pathlib import Path

from app.chat.file_names import safe_file_name
from app.chat.library import CharacterLibrary
from app.chat.memory.st_interop import SillyTavernSummaries
from app.chatfile import read_chat_file, write_chat_file
from app.errors import ChatFileError, NotFound
from app.storage.db import Database
from app.storage.repositories import ChatRepository
from app.storage.st_chats import export_st_chat, import_st_chat
from app.storage.types import Chat


class ChatFiles:
    """Imports a ``.jsonl`` chat for a character; exports a character's chats."""

    def __init__(
        self,
        db: Database,
        chats: ChatRepository,
        library: CharacterLibrary,
        summaries: SillyTavernSummaries | None = None,
    ) -> None:
        self._db = db
        self._chats = chats
        self._library = library
        #: SillyTavern's Summarize data in and out (None: left as it is).
        self._summaries = summaries

    def import_file(self, path: Path, character: str | None = None) -> str:
        """Store the chat in ``path`` under ``character`` (default: the header's name);
        returns its title."""
        return self.import_chat(path, character).title

    def import_chat(self, path: Path, character: str | None = None) -> Chat:
        """Store the chat in ``path`` under ``character`` (default: the header's name)."""
        parsed = read_chat_file(path)
        name = character or parsed.character_name
        if not name:
            raise ChatFileError(f"{path}:1", "the header names no character; use --character")
        try:
            owner = self._library.find(name)
        except NotFound:
            raise ChatFileError(
                f"{path}:1", f"no character named {name!r} to attach it to"
            ) from None
        chat = import_st_chat(self._db, parsed, owner.id, title=path.stem)
        if self._summaries is not None:
            self._summaries.imported(chat.id)
        return chat

    def export_character(self, character_id: int, folder: Path) -> list[Path]:
        """Every chat of the character as one JSONL file each in ``folder``."""
        return [self.export_chat(chat.id, folder) for chat in self._chats.list_chats(character_id)]

    def export_chat(self, chat_id: int, folder: Path) -> Path:
        """One chat as a SillyTavern JSONL file in ``folder``; returns the file."""
        chat = self._chats.get_chat(chat_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{safe_file_name(chat.title, 'chat')} ({chat.id}).jsonl"
        exported = export_st_chat(self._db, chat.id)
        if self._summaries is not None:
            exported = self._summaries.exported(chat.id, exported)
        write_chat_file(target, exported)
        return target
