"""Long-term memory's stored values: embedded chunks and a chat's memory settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

MemoryPosition = Literal["in_chat", "after_story", "before_prompt"]
MemoryRole = Literal["system", "user", "assistant"]
_POSITIONS = ("in_chat", "after_story", "before_prompt")
_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class StoredChunk:
    """One embedded chunk of a message (``vector``: float32 bytes, normalized)."""

    message_id: int
    chunk_index: int
    digest: str
    text: str
    vector: bytes


SummaryKind = Literal["summary", "fact"]


@dataclass(frozen=True)
class Summary:
    """A summary of a run of messages (oldest first), or a pinned fact of the user's."""

    id: int
    chat_id: int
    kind: SummaryKind
    message_ids: tuple[int, ...]
    digest: str
    text: str
    pinned: bool


@dataclass(frozen=True)
class MemorySettings:
    """A chat's memory switch and how recalled memories are chosen and placed.

    ``template`` is a Jinja2 template of the memories block (empty: the default one).
    """

    enabled: bool = True
    position: MemoryPosition = "in_chat"
    depth: int = 2
    role: MemoryRole = "system"
    template: str = ""
    #: At most this many chunks are recalled per turn …
    max_chunks: int = 5
    #: … each at least this similar (cosine) to the query.
    threshold: float = 0.25
    #: The query is made of this many of the last messages.
    query_messages: int = 2
    #: Summarize messages that left the context, in blocks of this many (0: never).
    summary_block: int = 20
    #: The "story so far" (summaries and pinned facts) takes at most this share of the
    #: context; over it, the oldest summaries are merged.
    summary_share: float = 0.15

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored for a chat (defaults left out)."""
        defaults = MemorySettings()
        return {k: v for k, v in asdict(self).items() if getattr(defaults, k) != v}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> MemorySettings:
        """Read :meth:`to_json`'s object; a value of the wrong type falls back to its default."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = (data or {}).get(f.name)
            if _valid(f.name, value, getattr(cls(), f.name)):
                values[f.name] = value
        return cls(**values)


def _valid(name: str, value: object, default: object) -> bool:
    if value is None or isinstance(value, bool) != isinstance(default, bool):
        return False
    if name == "position":
        return value in _POSITIONS
    if name == "role":
        return value in _ROLES
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))
