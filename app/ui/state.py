"""Per-browser UI state, the page queues and the avatar thumbnail cache's name.

The database is the only source of truth: :class:`Selection` (kept per browser tab in a
``gr.State``, mirrored into the URL and the browser's storage) only says *which*
character and chat are on screen; everything shown is read again from the services.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from app.ui.avatar_cache import AvatarCache
from app.ui.render import Shown


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


#: The avatar thumbnails of the chat pages: the one avatar cache, under the name they use.
Thumbnails = AvatarCache


def page_queue(page: str) -> Mapping[str, Any]:
    """Event options that put ``page``'s events and its tab refresh in one queue.

    Events in one queue land in the order sent: a slow tab refresh can no longer
    overwrite what an import or a save just selected.
    """
    return MappingProxyType({"concurrency_id": page, "concurrency_limit": 1})
