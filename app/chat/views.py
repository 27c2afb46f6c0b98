"""What the chat service hands out: chats as shown, who is in them, swipe outcomes.

Plain frozen values; the UI renders them and the CLI prints them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from app.chat.reasoning_extra import stored_thought
from app.chat.thinking import Thought
from app.chat.turns import ModelReasoning, Progress
from app.storage.types import Chat, Message

#: The user's name in a chat with no persona at all.
DEFAULT_USER_NAME = "User"


@dataclass(frozen=True)
class ShownMessage:
    """A message on the active path, with its swipe position among its siblings."""

    message: Message
    swipe_index: int
    swipe_count: int

    @property
    def thought(self) -> Thought:
        """The message's reasoning block (SillyTavern's ``extra.reasoning``)."""
        return stored_thought(self.message.extra)


@dataclass(frozen=True)
class Participant:
    """Someone in a chat: a character or the user's persona, and their avatar's stamp.

    ``avatar_stamp`` changes whenever the avatar does (None: no avatar), so a UI can
    cache thumbnails and fetch the image (:meth:`ChatService.avatar`) only when needed.
    """

    kind: Literal["character", "persona"]
    id: int | None
    name: str
    avatar_stamp: datetime | None = None


@dataclass(frozen=True)
class ChatView:
    """A chat as the UI shows it: the active path from the first message down."""

    chat: Chat
    character_name: str
    messages: list[ShownMessage]
    character: Participant | None = None
    user: Participant | None = None
    #: Chat settings that no longer resolve and fall back to defaults (shown to the user).
    warnings: tuple[str, ...] = ()
    #: The group's name in a group chat (None: a one-to-one chat).
    group_name: str | None = None


@dataclass(frozen=True)
class SettingChoices:
    """What a chat's settings can be set to: preset, format, persona and reasoning."""

    presets: list[str]
    formats: list[str]
    #: ``(name, id)`` of every persona.
    personas: list[tuple[str, int]]
    reasoning_templates: list[str] = field(default_factory=list)
    #: The loaded model's reasoning template (None: no model is loaded).
    model_reasoning: ModelReasoning | None = None


@dataclass(frozen=True)
class ContextUse:
    """How much of the model's context the next reply's prompt takes."""

    prompt_tokens: int
    n_ctx: int


@dataclass(frozen=True)
class SwipeResult:
    """What a swipe did: showed a stored alternative, started a new one, or nothing.

    ``replies`` streams the new alternative (the service stores it when it is done).
    """

    shown: Message | None = None
    replies: Iterator[Progress] | None = None


_MACRO = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(BOT|USER)>", re.IGNORECASE)


def display_text(text: str, *, char: str, user: str) -> str:
    """``{{char}}``/``{{user}}`` (and legacy ``<BOT>``/``<USER>``) filled in for display."""

    def fill(match: re.Match[str]) -> str:
        word = (match.group(1) or match.group(2)).lower()
        return char if word in ("char", "bot") else user

    return _MACRO.sub(fill, text)
