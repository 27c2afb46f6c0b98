"""The ``character`` extension: what the API needs from the chat layer to play a character.

The API does not build roleplay prompts itself.  A :class:`CharacterPrompts` (the chat
service provides one) turns a stored character, an optional preset and the request's
messages into the prompt text, stop strings and sampler settings that Parlor's own UI
would use for the same conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from app.engine.sampling import SamplerSettings


@dataclass(frozen=True)
class ApiMessage:
    """One message of an API request, as the chat layer sees it."""

    role: str  # "system", "user" or "assistant"
    content: str
    name: str | None = None


@dataclass(frozen=True)
class RenderedPrompt:
    """A character's prompt for one API request, ready for the engine."""

    prompt_text: str
    stop: tuple[str, ...] = ()
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    #: The preset's reply length, or None for "the rest of the context".
    max_new_tokens: int | None = None
    #: The conversation as ``(role, content)`` pairs for remote chat-completions servers;
    #: None sends the request's own messages.
    messages: tuple[tuple[str, str], ...] | None = None


@runtime_checkable
class CharacterPrompts(Protocol):
    """Renders a stored character's prompt for an API request."""

    def render_for_api(
        self, character: str, preset: str | None, messages: Sequence[ApiMessage]
    ) -> RenderedPrompt:
        """The prompt for ``messages`` played by ``character`` (a name or an id).

        ``preset`` names a stored sampler preset (None: the character's or the default
        one).  Raises ``app.errors.NotFound`` for an unknown character or preset.
        """
        ...
