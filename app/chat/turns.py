"""Running one generation for a chat: resolve its settings, build the prompt, stream.

``TurnRunner`` is the chat service's engine room; it never writes to storage itself
(the service decides what a finished reply becomes: a new message, a swipe, or more
text on an existing message).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from app.cards.model import CharacterCard
from app.chat.convert import character_info, chat_history, lore_entries, model_info, persona_info
from app.chat.trimming import ChunkedTrim
from app.engine.base import Backend, Finished, FinishReason, GenerationRequest, TextDelta
from app.engine.manager import ModelManager
from app.presets.library import PresetLibrary, default_preset_name
from app.presets.model import Preset
from app.prompt.assemble import PromptBuilder
from app.prompt.registry import FormatRegistry
from app.prompt.types import AuthorNote, BuiltPrompt, GenerationType, PromptRequest
from app.prompt.worldinfo import WIEntry
from app.storage.repositories import (
    CharacterRepository,
    ChatRepository,
    LorebookRepository,
    PersonaRepository,
)
from app.storage.types import Chat, GenInfo, Message

#: Seconds between two streamed updates to the UI at most (10–20 Hz keeps Gradio smooth).
UPDATE_INTERVAL = 0.06
DEFAULT_MAX_NEW_TOKENS = 350


@dataclass(frozen=True)
class Stores:
    """The repositories the chat service works with."""

    characters: CharacterRepository
    personas: PersonaRepository
    lorebooks: LorebookRepository
    chats: ChatRepository


@dataclass(frozen=True)
class TurnContext:
    """Everything one generation for a chat depends on."""

    chat: Chat
    card: CharacterCard
    preset: Preset
    request: PromptRequest


@dataclass(frozen=True)
class Progress:
    """A reply as it streams; the last one has ``done`` set and ``gen_info`` filled."""

    text: str
    done: bool = False
    finish_reason: FinishReason | None = None
    gen_info: GenInfo | None = None
    message: Message | None = None
    prompt_tokens: int = 0


class TurnRunner:
    """Builds prompts and streams replies for chats."""

    def __init__(
        self,
        stores: Stores,
        models: ModelManager,
        builder: PromptBuilder,
        formats: FormatRegistry,
        presets: PresetLibrary,
    ) -> None:
        self.stores = stores
        self._models = models
        self._builder = builder
        self._formats = formats
        self._presets = presets
        #: Stop signals of the generations this runner has under way (chat replies only).
        self._running: set[threading.Event] = set()
        self._running_lock = threading.Lock()
        self._trim = ChunkedTrim()

    def context(
        self,
        chat: Chat,
        history: Sequence[Message],
        generation: GenerationType,
        *,
        user_name: str | None = None,
    ) -> TurnContext:
        """Resolve the chat's character, persona, format, preset and lore."""
        backend = self._models.current()
        info = backend.info
        character = self.stores.characters.get(chat.character_ids[0])
        card = CharacterCard.from_document(character.card, avatar=character.avatar)
        persona = (
            self.stores.personas.get(chat.persona_id)
            if chat.persona_id
            else (self.stores.personas.get_default())
        )
        ext = card.extensions.get("parlor", {}) if isinstance(card.extensions, dict) else {}
        format_name = chat.metadata.get("template") or ext.get("template")
        preset_name = (
            chat.metadata.get("preset")
            or ext.get("preset")
            or default_preset_name(info.architecture, info.name, vocab_size=info.n_vocab)
        )
        preset = self._presets.load(str(preset_name))
        prompt_persona = persona_info(persona)
        if user_name:
            prompt_persona = replace(prompt_persona, name=user_name)
        request = PromptRequest(
            format=self._formats.select(
                str(format_name) if format_name else None, model_info(info)
            ),
            character=character_info(card),
            history=chat_history(history, prompt_persona.name),
            n_ctx=info.n_ctx,
            max_new_tokens=preset.max_new_tokens or DEFAULT_MAX_NEW_TOKENS,
            persona=prompt_persona,
            generation=generation,
            author_note=_author_note(chat),
            lore=self._lore(character.id, card.name),
            model=model_info(info),
            chat_id=str(chat.id),
        )
        return TurnContext(chat, card, preset, request)

    def build(self, context: TurnContext) -> BuiltPrompt:
        """The exact prompt text for ``context``.

        Where the model's cache cannot shift, a stored chat's history is trimmed in
        chunks (:class:`ChunkedTrim`) rather than a message or two every turn.
        """
        backend = self._models.current()
        count = backend.count_tokens
        if backend.info.can_shift or context.chat.id <= 0:
            return self._builder.build(context.request, count)
        return self._trim.build(
            context.chat.id, context.request, lambda r: self._builder.build(r, count), count
        )

    def substitute(self, text: str, context: TurnContext) -> str:
        """Expand macros in user input as SillyTavern does when it is sent."""
        return self._builder.substitute(text, context.request)

    def stream(self, context: TurnContext, prompt: BuiltPrompt) -> Iterator[Progress]:
        """Generate for ``prompt``, yielding throttled progress and one final ``done``."""
        backend = self._models.current()
        tokens = backend.tokenize(prompt.text, add_bos=backend.info.add_bos)
        request = GenerationRequest(
            prompt_tokens=tokens,
            sampler=context.preset.to_sampler_settings(),
            max_new_tokens=context.request.max_new_tokens,
            stop=tuple(prompt.stop) + tuple(context.preset.stop),
            prompt_text=prompt.text,
            messages=_chat_messages(context),
        )
        with self._running_lock:
            self._running.add(request.cancel)
        try:
            yield from self._progress(backend, request, context, prompt, len(tokens))
        finally:
            with self._running_lock:
                self._running.discard(request.cancel)

    def _progress(
        self,
        backend: Backend,
        request: GenerationRequest,
        context: TurnContext,
        prompt: BuiltPrompt,
        n_prompt: int,
    ) -> Iterator[Progress]:
        text, last_push = prompt.reply_prefix, 0.0
        for event in backend.stream(request):
            if isinstance(event, TextDelta):
                text += event.text
                now = time.monotonic()
                if now - last_push >= UPDATE_INTERVAL:
                    last_push = now
                    yield Progress(text, prompt_tokens=n_prompt)
            elif isinstance(event, Finished):
                info = _gen_info(backend, context, event)
                yield Progress(
                    prompt.reply_prefix + event.text,
                    True,
                    event.finish_reason,
                    info,
                    prompt_tokens=n_prompt,
                )

    def abort(self) -> None:
        """Stop this runner's generations (an API request on the same model goes on)."""
        with self._running_lock:
            for cancel in self._running:
                cancel.set()

    def _lore(self, character_id: int, name: str) -> list[WIEntry]:
        book = self.stores.lorebooks.for_character(character_id)
        if book is None:
            return []
        return lore_entries((e.data for e in book.entries), world=book.name or name)


def _chat_messages(context: TurnContext) -> tuple[tuple[str, str], ...]:
    """The conversation for chat-completions servers: the card as system, then the turns."""
    card = context.request.character
    system = "\n\n".join(
        part
        for part in (
            card.system_prompt,
            card.description,
            card.personality,
            card.scenario and f"Scenario: {card.scenario}",
        )
        if part
    )
    turns = [("user" if m.is_user else "assistant", m.text) for m in context.request.history]
    return (("system", system), *turns) if system else tuple(turns)


def _author_note(chat: Chat) -> AuthorNote:
    note = chat.metadata.get("author_note")
    if not isinstance(note, dict) or not note.get("text"):
        return AuthorNote()
    return AuthorNote(
        text=str(note["text"]),
        interval=int(note.get("interval", 1)),
        depth=int(note.get("depth", 4)),
    )


def _gen_info(backend: Backend, context: TurnContext, event: Finished) -> GenInfo:
    stats = event.stats
    return GenInfo(
        model=backend.info.name,
        preset=context.preset.name,
        seed=stats.seed,
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        tokens_reused=stats.tokens_reused,
        tokens_evaluated=stats.tokens_evaluated,
        timings={
            "prompt_s": round(stats.prompt_seconds, 4),
            "decode_s": round(stats.decode_seconds, 4),
            "tokens_per_s": round(stats.decode_tokens_per_second, 2),
        },
        finish_reason=event.finish_reason,
        stopped=event.finish_reason == "aborted",
    )
