"""The chat layer's side of the API's ``character`` extension."""

from __future__ import annotations

from collections.abc import Sequence

from app.api.characters import ApiMessage, RenderedPrompt
from app.chat.library import CharacterLibrary
from app.chat.transient import transient_chat, transient_history
from app.chat.turns import TurnRunner
from app.storage.types import Role

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
