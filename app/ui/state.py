"""Per-browser UI state and the UI-side read model of a chat.

The database is the only source of truth: :class:`Selection` (kept per browser tab in a
``gr.State``, mirrored into the URL and the browser's storage) only says *which*
character and chat are on screen; everything shown is read again from the stores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from app.chat.turns import Stores
from app.storage.types import Chat
from app.ui.images import avatar_data_url
from app.ui.render import ChatNames, Shown

DEFAULT_USER_NAME = "User"


@dataclass(frozen=True)
class Selection:
    """Which character and chat one browser tab shows."""

    character_id: int | None = None
    chat_id: int | None = None
    #: What this tab's chat pane holds (so updates can be sent as small patches).
    shown: Shown | None = field(default=None, compare=False)

    def query(self) -> str:
        """The URL query string that brings this selection back after a reload."""
        params = {
            key: str(value)
            for key, value in (("character", self.character_id), ("chat", self.chat_id))
            if value is not None
        }
        return "?" + urlencode(params) if params else "?"

    def to_json(self) -> dict[str, int | None]:
        """Plain data for ``gr.BrowserState``."""
        return {"character_id": self.character_id, "chat_id": self.chat_id}

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> Selection:
        """Read ``?character=..&chat=..`` (anything malformed is ignored)."""
        return cls(_int(params.get("character")), _int(params.get("chat")))

    @classmethod
    def from_json(cls, data: Any) -> Selection:
        """Read what :meth:`to_json` stored (anything malformed gives an empty selection)."""
        if not isinstance(data, dict):
            return cls()
        return cls(_int(data.get("character_id")), _int(data.get("chat_id")))

    @property
    def empty(self) -> bool:
        """Whether nothing is selected."""
        return self.character_id is None and self.chat_id is None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value) or None
    return None


class Thumbnails:
    """Avatar thumbnails as data URLs, kept per owner and modification time.

    Pure presentation: a cache of :func:`avatar_data_url` results, shared by every browser.
    """

    def __init__(self, limit: int = 1024) -> None:
        self._cache: dict[tuple[str, int, datetime], str] = {}
        self._limit = limit

    def get(self, kind: str, key: int, stamp: datetime, load: Callable[[], bytes | None]) -> str:
        """The thumbnail of ``kind`` ``key`` as of ``stamp`` (``load`` reads the image)."""
        cache_key = (kind, key, stamp)
        cached = self._cache.get(cache_key)
        if cached is None:
            cached = avatar_data_url(load())
            if len(self._cache) >= self._limit:
                self._cache.clear()
            self._cache[cache_key] = cached
        return cached


class ChatReader:
    """The names and avatars the chat pane shows beside a chat's messages."""

    def __init__(self, stores: Stores, thumbnails: Thumbnails) -> None:
        self._stores = stores
        self.thumbnails = thumbnails

    def names(self, chat: Chat) -> ChatNames:
        """The character's and the user's names and avatars for ``chat``."""
        character = self._stores.characters.get(chat.character_ids[0])
        personas = self._stores.personas
        persona = personas.get(chat.persona_id) if chat.persona_id else personas.get_default()
        char_avatar = self.thumbnails.get(
            "character", character.id, character.modified_at, lambda: character.avatar
        )
        if persona is None:
            return ChatNames(character.name, DEFAULT_USER_NAME, char_avatar)
        user_avatar = self.thumbnails.get(
            "persona", persona.id, persona.modified_at, lambda: persona.avatar
        )
        return ChatNames(character.name, persona.name, char_avatar, user_avatar)


def page_queue(page: str) -> Mapping[str, Any]:
    """Event options that put ``page``'s events and its tab refresh in one queue.

    Events in one queue land in the order sent: a slow tab refresh can no longer
    overwrite what an import or a save just selected.
    """
    return MappingProxyType({"concurrency_id": page, "concurrency_limit": 1})
