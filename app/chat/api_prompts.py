"""The API's ``character`` extension, from the chat layer's side: play a stored character.

The API does not build roleplay prompts itself.  A :class:`CharacterPrompts` (here
:class:`ApiCharacterPrompts`) turns a stored character, an optional preset and the request's
messages into the prompt text, stop strings and sampler settings that Parlor's own UI
would use for the same conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from app.chat.library import CharacterLibrary
from app.chat.transient import transient_chat, transient_history
from app.chat.turns import TurnRunner
from app.engine.sampling import SamplerSettings
from app.storage.types import Role


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


_ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT, "system": Role.SYSTEM}


class ApiCharacterPrompts:
    """Renders a stored character's prompt for an API request, as the UI would."""

    def __init__(self, library: CharacterLibrary, runner: TurnRunner) -> None:
        self._library = library
        self._runner = runner

    def render_for_api(
        self, character: str, preset: str | None, messages: Sequence[ApiMessage]
    ) -> RenderedPrompt:
        """The prompt for ``messages`` with ``character`` playing the assistant."""
        stored = self._library.find(character)
        chat = transient_chat(stored.id, {"preset": preset} if preset else None)
        user_name = next((m.name for m in messages if m.role == "user" and m.name), None)
        turns = [
            (
                _ROLES.get(m.role, Role.USER),
                m.name or (stored.name if m.role == "assistant" else user_name or "User"),
                m.content,
            )
            for m in messages
        ]
        context = self._runner.context(
            chat, transient_history(turns), "normal", user_name=user_name
        )
        prompt = self._runner.build(context)
        return RenderedPrompt(
            prompt_text=prompt.text,
            stop=tuple(prompt.stop) + tuple(context.preset.stop),
            sampler=context.preset.to_sampler_settings(),
            max_new_tokens=context.request.max_new_tokens,
        )
