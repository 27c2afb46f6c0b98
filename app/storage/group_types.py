"""Frozen value types of group chats (what :class:`GroupRepository` hands out)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum
from typing import Any

from app.storage.types import JSONDict


class ReplyStrategy(IntEnum):
    """Who answers a message (SillyTavern's ``activation_strategy`` numbers)."""

    NATURAL = 0
    LIST = 1
    MANUAL = 2
    POOLED = 3


class PromptMode(IntEnum):
    """How the members' cards go into the prompt (SillyTavern's ``generation_mode``)."""

    SWAP = 0
    JOIN = 1
    JOIN_WITH_MUTED = 2


#: SillyTavern's default join prefix and suffix (empty: the field text alone).
DEFAULT_JOIN_PREFIX = ""
DEFAULT_JOIN_SUFFIX = ""
DEFAULT_AUTO_MODE_DELAY = 5


@dataclass(frozen=True)
class GroupSettings:
    """A group's reply strategy, prompt mode and the keys Parlor keeps for SillyTavern."""

    strategy: ReplyStrategy = ReplyStrategy.NATURAL
    mode: PromptMode = PromptMode.SWAP
    allow_self_responses: bool = False
    auto_mode_delay: int = DEFAULT_AUTO_MODE_DELAY
    join_prefix: str = DEFAULT_JOIN_PREFIX
    join_suffix: str = DEFAULT_JOIN_SUFFIX
    #: The group's own lorebooks: their entries activate for every member's turn.
    lorebook_ids: tuple[int, ...] = ()
    #: The rest of an imported SillyTavern group file (``fav``, ``avatar_url`` …).
    st: JSONDict = field(default_factory=dict)

    def to_json(self) -> JSONDict:
        """The settings as the ``groups.settings`` column stores them."""
        return {
            "strategy": int(self.strategy),
            "mode": int(self.mode),
            "allow_self_responses": self.allow_self_responses,
            "auto_mode_delay": self.auto_mode_delay,
            "join_prefix": self.join_prefix,
            "join_suffix": self.join_suffix,
            "lorebook_ids": list(self.lorebook_ids),
            "st": dict(self.st),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupSettings:
        """Settings read back from the column (missing keys take their defaults)."""
        base = cls()
        return replace(
            base,
            strategy=ReplyStrategy(int(data.get("strategy", base.strategy))),
            mode=PromptMode(int(data.get("mode", base.mode))),
            allow_self_responses=bool(data.get("allow_self_responses", False)),
            auto_mode_delay=int(data.get("auto_mode_delay", base.auto_mode_delay)),
            join_prefix=str(data.get("join_prefix", "")),
            join_suffix=str(data.get("join_suffix", "")),
            lorebook_ids=tuple(int(i) for i in data.get("lorebook_ids") or ()),
            st=dict(data.get("st") or {}),
        )


@dataclass(frozen=True)
class GroupMember:
    """One character of a group."""

    character_id: int
    muted: bool = False


@dataclass(frozen=True)
class Group:
    """A group: its name, members in order and settings."""

    id: int
    name: str
    members: tuple[GroupMember, ...]
    settings: GroupSettings
    created_at: datetime
    modified_at: datetime

    @property
    def member_ids(self) -> tuple[int, ...]:
        """Every member's character id, in order."""
        return tuple(m.character_id for m in self.members)

    @property
    def unmuted_ids(self) -> tuple[int, ...]:
        """The members who reply on their own, in order."""
        return tuple(m.character_id for m in self.members if not m.muted)
