"""The chat layer's door for the API: every API generation request is made here.

The API turns its wire models into the plain inputs below (:class:`ChatInput`,
:class:`TextInput`) and asks :class:`ApiRequests` for the engine request.  Without a
``character`` a chat is rendered with the model's own chat template; with one,
:class:`ApiCharacterPrompts` renders the prompt Parlor's UI would build for the same
conversation.  Either way :class:`~app.chat.requests.RequestBuilder` makes the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.chat.library import CharacterLibrary
from app.chat.requests import NO_SAMPLING, ApiMessage, RequestBuilder, Sampling, check_length
from app.chat.transient import transient_chat, transient_history
from app.chat.turns import TurnContext, TurnRunner
from app.engine.base import Backend, GenerationRequest
from app.errors import InputError
from app.prompt.types import BuiltPrompt
from app.storage.types import ChatSettings, Role


@dataclass(frozen=True)
class ChatInput:
    """An API chat completion: the messages, what it sets, and the character to play."""

    messages: tuple[ApiMessage, ...]
    sampling: Sampling = NO_SAMPLING
    #: A stored character's name or id (None: the model's own chat template).
    character: str | None = None


@dataclass(frozen=True)
class TextInput:
    """An API text completion: the prompt as text or token ids, and what it sets."""

    prompt: str | tuple[int, ...]
    sampling: Sampling = NO_SAMPLING


@dataclass(frozen=True)
class CharacterTurn:
    """A stored character's turn for an API request: its context and built prompt."""

    context: TurnContext
    prompt: BuiltPrompt


_ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT, "system": Role.SYSTEM}


class ApiCharacterPrompts:
    """Renders a stored character's prompt for an API request, as the UI would."""

    def __init__(self, library: CharacterLibrary, runner: TurnRunner) -> None:
        self._library = library
        self._runner = runner

    def render_for_api(
        self, character: str, preset: str | None, messages: Sequence[ApiMessage]
    ) -> CharacterTurn:
        """The turn for ``messages`` with ``character`` (a name or id) playing the assistant.

        ``preset`` names a stored sampler preset (None: the character's or the default one).
        Raises ``app.errors.NotFound`` for an unknown preset or character.
        """
        settings = ChatSettings(preset=preset)
        self._runner.check_choices(settings)
        stored = self._library.find(character)
        chat = transient_chat(stored.id, settings)
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
        return CharacterTurn(context, self._runner.build(context))

    def generation_request(
        self, backend: Backend, turn: CharacterTurn, sampling: Sampling
    ) -> GenerationRequest:
        """The engine request for ``turn``, made as the UI's turns are."""
        return self._runner.generation_request(backend, turn.context, turn.prompt, sampling)


class ApiRequests:
    """Makes the engine request for each API chat and text completion (and tokenizes)."""

    def __init__(
        self, builder: RequestBuilder, characters: ApiCharacterPrompts | None = None
    ) -> None:
        self._builder = builder
        self._characters = characters

    def chat(self, backend: Backend, request: ChatInput) -> GenerationRequest:
        """The request for a chat completion on ``backend``."""
        if request.character is None:
            return self._builder.for_messages(backend, request.messages, request.sampling)
        if self._characters is None:
            raise InputError("character", "character prompts are unavailable here")
        for message in request.messages:
            check_length(backend.info, len(message.content))
        turn = self._characters.render_for_api(
            request.character, request.sampling.preset, request.messages
        )
        return self._characters.generation_request(backend, turn, request.sampling)

    def completion(self, backend: Backend, request: TextInput) -> GenerationRequest:
        """The request for a text completion on ``backend``."""
        return self._builder.for_text(backend, request.prompt, request.sampling)

    def tokenize(
        self, backend: Backend, text: str, *, add_special: bool, parse_special: bool
    ) -> list[int]:
        """``text`` as tokens, the way llama.cpp's ``/tokenize`` gives them."""
        return self._builder.tokenize(
            backend, text, add_special=add_special, parse_special=parse_special
        )

    def detokenize(self, backend: Backend, tokens: Sequence[int]) -> str:
        """The text of ``tokens``."""
        return self._builder.detokenize(backend, tokens)
