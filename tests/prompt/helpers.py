"""Shared request builders for the assembly tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.prompt.formats import PromptFormat, SystemPrompt
from app.prompt.types import CharacterInfo, ChatMessage, PromptRequest, PromptSettings

SERAPHINA = CharacterInfo("Seraphina", description="DESC", personality="PERS", scenario="SCEN")
BASIC_CHAT = (ChatMessage("Seraphina", "GREETING", False), ChatMessage("User", "Hi", True))
LLAMA3_STORY = "<|start_header_id|>system<|end_header_id|>\n\nSYS\nDESC\nPERS\nSCEN<|eot_id|>"


def request(
    fmt: PromptFormat,
    history: Sequence[ChatMessage] = BASIC_CHAT,
    *,
    character: CharacterInfo = SERAPHINA,
    settings: PromptSettings | None = None,
    system: str = "SYS",
    post_history: str = "",
    **kwargs: Any,
) -> PromptRequest:
    """A §2.7-style request; keyword arguments go to :class:`PromptRequest`."""
    settings = settings or PromptSettings(
        system_prompt=SystemPrompt(content=system, post_history=post_history)
    )
    fields: dict[str, Any] = {"n_ctx": 8192, "max_new_tokens": 350, **kwargs}
    return PromptRequest(
        format=fmt, character=character, history=list(history), settings=settings, **fields
    )


def with_instruct(fmt: PromptFormat, **changes: Any) -> PromptFormat:
    """``fmt`` with some instruct fields changed."""
    assert fmt.instruct is not None
    return fmt.model_copy(update={"instruct": fmt.instruct.model_copy(update=changes)})


def with_context(fmt: PromptFormat, **changes: Any) -> PromptFormat:
    """``fmt`` with some context fields changed."""
    return fmt.model_copy(update={"context": fmt.context.model_copy(update=changes)})
