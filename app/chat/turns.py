"""Running one generation for a chat: resolve its settings, build the prompt, stream.

``TurnRunner`` is the chat service's engine room; it never writes to storage itself
(the service decides what a finished reply becomes: a new message, a swipe, or more
text on an existing message).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from app.cards.model import CharacterCard
from app.chat.convert import character_info, chat_history, model_info, persona_info
from app.chat.group_context import group_prompt
from app.chat.group_lore import turn_lore
from app.chat.memory.recall import MemoryRecall, first_in_prompt
from app.chat.reasoning_files import ReasoningTemplates
from app.chat.requests import NO_SAMPLING, RequestBuilder, Sampling
from app.chat.thinking import ReplyPlan, ThinkingRun, Thought
from app.chat.trimming import ChunkedTrim
from app.engine.base import (
    Backend,
    Finished,
    FinishReason,
    GenerationRequest,
    ModelInfo,
    TextDelta,
)
from app.engine.manager import ModelManager
from app.errors import NotFound
from app.presets.library import PresetLibrary, default_preset_name
from app.presets.model import Preset
from app.prompt.assemble import PromptBuilder
from app.prompt.formats import PromptPosition
from app.prompt.formats import Role as PromptRole
from app.prompt.memory import MemoryPrompt
from app.prompt.reasoning import ReasoningPrompt
from app.prompt.reasoning_parser import reply_start
from app.prompt.registry import FormatRegistry
from app.prompt.types import AuthorNote, BuiltPrompt, GenerationType, PromptRequest
from app.storage.repositories import (
    CharacterRepository,
    ChatRepository,
    GroupRepository,
    LorebookRepository,
    PersonaRepository,
    PreferencesRepository,
)
from app.storage.types import (
    AuthorNoteSettings,
    Chat,
    ChatSettings,
    GenInfo,
    Message,
    ReasoningSettings,
)

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
    #: The user's default format and preset (where none is set: the model's).
    preferences: PreferencesRepository
    groups: GroupRepository


@dataclass(frozen=True)
class Choices:
    """A chat's preset and format choice (None: the default) and why one was dropped."""

    preset: str | None
    format: str | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelReasoning:
    """The loaded model's reasoning template: the user's choice and what is detected."""

    model: str
    #: The template chosen for this model (None: the detected one is used).
    chosen: str | None
    #: The one its chat template's tags point to, else the user's default.
    detected: str


@dataclass(frozen=True)
class TurnContext:
    """Everything one generation for a chat depends on."""

    chat: Chat
    card: CharacterCard
    preset: Preset
    request: PromptRequest
    #: Settings of the chat that no longer resolve and were replaced by defaults.
    warnings: tuple[str, ...] = ()
    #: The stored messages of ``request.history`` (long-term memory searches them).
    messages: tuple[Message, ...] = ()


@dataclass(frozen=True)
class Progress:
    """A reply as it streams; the last one has ``done`` set and ``gen_info`` filled.

    ``text`` is the answer; the reasoning block (if any) is ``thought``.
    """

    text: str
    done: bool = False
    finish_reason: FinishReason | None = None
    gen_info: GenInfo | None = None
    message: Message | None = None
    prompt_tokens: int = 0
    thought: Thought = field(default_factory=Thought)

    @property
    def written(self) -> bool:
        """Whether the reply holds any text, of answer or reasoning (an empty one is not
        stored)."""
        return bool(self.text.strip() or self.thought.text)


#: What a prompt built with the expected memory gets instead (recalled, or ahead).
#: (memory, context, prompt, again) → the memory the prompt gets; ``again``: asked a
#: second time in one build, with the prompt holding the first answer.
_MemoryFor = Callable[[MemoryRecall, TurnContext, BuiltPrompt, bool], MemoryPrompt | None]


class TurnRunner:
    """Builds prompts and streams replies for chats."""

    def __init__(
        self,
        stores: Stores,
        models: ModelManager,
        builder: PromptBuilder,
        formats: FormatRegistry,
        presets: PresetLibrary,
        requests: RequestBuilder,
        reasoning: ReasoningTemplates,
        memory: MemoryRecall | None = None,
    ) -> None:
        self.stores = stores
        #: Long-term memory (None: no recall at all).
        self.memory = memory
        #: Every reasoning template, the built-in ones and the user's.
        self.reasoning = reasoning
        self._models = models
        self._builder = builder
        self._formats = formats
        self._presets = presets
        self._requests = requests
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
        speaker_id: int | None = None,
    ) -> TurnContext:
        """Resolve the chat's character, persona, format, preset and lore.

        ``speaker_id``: the group member who replies (None: the chat's first character).
        """
        backend = self._models.current()
        info = backend.info
        character = self.stores.characters.get(speaker_id or chat.character_ids[0])
        group = self.stores.groups.of_chat(chat.id) if chat.id > 0 else None
        card = CharacterCard.from_document(character.card, avatar=character.avatar)
        persona = (
            self.stores.personas.get(chat.persona_id)
            if chat.persona_id
            else (self.stores.personas.get_default())
        )
        choice = self.choices(chat, card)
        default_preset = default_preset_name(info.architecture, info.name, vocab_size=info.n_vocab)
        preset = self._presets.load(choice.preset or default_preset)
        prompt_persona = persona_info(persona)
        if user_name:
            prompt_persona = replace(prompt_persona, name=user_name)
        request = PromptRequest(
            format=self._formats.select(choice.format, model_info(info)),
            reasoning=self.reasoning_prompt(chat.settings.reasoning, info),
            character=character_info(card),
            history=chat_history(history, prompt_persona.name),
            n_ctx=info.n_ctx,
            max_new_tokens=preset.max_new_tokens or DEFAULT_MAX_NEW_TOKENS,
            persona=prompt_persona,
            generation=generation,
            author_note=author_note(chat.settings.author_note),
            lore=turn_lore(self.stores.lorebooks, character.id, card.name, group),
            model=model_info(info),
            chat_id=str(chat.id),
            group=group_prompt(self.stores.characters, group) if group else None,
        )
        return TurnContext(chat, card, preset, request, choice.warnings, tuple(history))

    def reasoning_template(self, settings: ReasoningSettings, info: ModelInfo) -> str:
        """The reasoning template's name: the chat's, else the model's, else the one its
        chat template points to, else the user's default."""
        prefs = self.stores.preferences
        chosen = (settings.template, prefs.reasoning_template(info.name))
        return self.reasoning.pick(chosen, info.chat_template, prefs.default_reasoning_template())

    def model_reasoning(self) -> ModelReasoning | None:
        """The loaded model's reasoning template, chosen and detected (None: no model)."""
        if not self._models.loaded:
            return None
        info = self._models.current().info
        prefs = self.stores.preferences
        detected = self.reasoning.pick((), info.chat_template, prefs.default_reasoning_template())
        return ModelReasoning(info.name, prefs.reasoning_template(info.name), detected)

    def reasoning_prompt(self, settings: ReasoningSettings, info: ModelInfo) -> ReasoningPrompt:
        """What prompts of a chat with ``settings`` do with reasoning, on this model."""
        template = self.reasoning.find(self.reasoning_template(settings, info))
        return ReasoningPrompt(template, settings.add_to_prompts, settings.thinking)

    def chat_opened(self, chat_id: int, path: Sequence[Message]) -> None:
        """A chat is shown: long-term memory gets ready for its next turn, in the
        background (see :meth:`MemoryRecall.prepare`)."""
        if self.memory is not None:
            self.memory.prepare(chat_id, path)

    def setting_warnings(self, chat: Chat) -> tuple[str, ...]:
        """What in the chat's own settings no longer exists (and falls back to a default)."""
        warnings = self._missing(chat.settings.preset, chat.settings.format)[2]
        template = chat.settings.reasoning.template
        if template and not self.reasoning.has(template):
            gone = f"Reasoning format “{template}” no longer exists: using the model's."
            warnings += (gone,)
        return warnings

    def check_choices(self, settings: ChatSettings, model_reasoning: str | None = None) -> None:
        """Raise ``NotFound`` unless the preset, format and reasoning templates named by
        ``settings`` (and ``model_reasoning``, a model's template) exist."""
        if settings.preset:
            self._presets.path_of(settings.preset)
        if settings.format:
            self._formats.get(settings.format)
        for name in (settings.reasoning.template, model_reasoning):
            if name and not self.reasoning.has(name):
                raise NotFound("reasoning template", name)

    def choices(self, chat: Chat, card: CharacterCard) -> Choices:
        """The chat's, else the card's, else the user's default preset and format.

        A name that no longer exists (a deleted preset, a format from a file that is
        gone) falls back to the next, with a warning the UI shows; None leaves the choice
        to the model (auto-detect).
        """
        ext = card.extensions.get("parlor", {}) if isinstance(card.extensions, dict) else {}
        preset = chat.settings.preset or _text(ext.get("preset"))
        fmt = chat.settings.format or _text(ext.get("template"))
        preset, fmt, warnings = self._missing(preset, fmt)
        defaults = self.stores.preferences
        if preset is None or fmt is None:
            own_preset, own_fmt, more = self._missing(
                None if preset else defaults.default_preset(),
                None if fmt else defaults.default_format(),
            )
            preset, fmt, warnings = preset or own_preset, fmt or own_fmt, warnings + more
        return Choices(preset, fmt, warnings)

    def _missing(
        self, preset: str | None, fmt: str | None
    ) -> tuple[str | None, str | None, tuple[str, ...]]:
        """``preset`` and ``fmt`` where they exist (else None), and a warning per miss."""
        warnings: list[str] = []
        if preset and not self._presets.exists(preset):
            warnings.append(f"Preset “{preset}” no longer exists: using the default.")
            preset = None
        if fmt and not self._formats.has(fmt):
            warnings.append(f"Prompt format “{fmt}” no longer exists: using the default.")
            fmt = None
        return preset, fmt, tuple(warnings)

    def build(self, context: TurnContext, *, record: bool = False) -> BuiltPrompt:
        """The exact prompt text for ``context``, with the memories long-term memory
        recalls from messages that no longer fit (see :mod:`app.chat.memory.recall`).

        ``record``: the prompt is generated from, so its recall is the chat's last one;
        memory's background work gives way to it from here (its index is needed now).
        """
        if record and self.memory is not None:
            self.memory.before_reply()
        return self._build_with_memory(
            context,
            lambda memory, ctx, prompt, again: memory.recall(
                ctx.chat.id, ctx.messages, prompt,
                n_ctx=ctx.request.n_ctx, record=record, count=self.count_tokens, again=again,
            ),
        )  # fmt: skip

    def build_ahead(self, context: TurnContext) -> BuiltPrompt:
        """The prompt for ``context`` as far as it is known before the turn (a KV slot
        filled ahead of it): the memory the next reply most likely has, nothing recalled
        (see :meth:`MemoryRecall.ahead`)."""
        return self._build_with_memory(
            context,
            lambda memory, ctx, prompt, _again: memory.ahead(
                ctx.chat.id, ctx.messages, prompt,
                n_ctx=ctx.request.n_ctx, count=self.count_tokens,
            ),
        )  # fmt: skip

    def _build_with_memory(self, context: TurnContext, memory_for: _MemoryFor) -> BuiltPrompt:
        """Build with the memory the chat's last reply had, then ask ``memory_for`` what
        this prompt gets; built again only where that differs.

        Where the new memory changes which messages fit (a larger block pushes the oldest
        out, a smaller one lets them back in), ``memory_for`` is asked once more with the
        prompt that has it: the messages it pushed out can be recalled, and none now
        back in the prompt is also recalled.
        """
        if self.memory is None:
            return self._build(context)
        lore = self.memory.vector_lore(context.chat.id, context.messages, context.request.lore)
        if lore is not None:
            context = replace(context, request=replace(context.request, lore=lore))
        expected = self.memory.expected(context.chat.id, context.messages)
        early = None
        if expected is not None:  # memories recalled before: the new message is needed
            early = self.memory.index_early(context.chat.id, context.messages)
        prompt = self._build(_with_memory(context, expected))
        memory = memory_for(self.memory, context, prompt, False)
        if early is not None:
            early.join()  # never left running beside the reply
        if memory == expected:  # most turns: the block stays, the story too
            return prompt
        rebuilt = self._build(_with_memory(context, memory))
        n_history = len(context.messages)
        if first_in_prompt(rebuilt, n_history) == first_in_prompt(prompt, n_history):
            return rebuilt
        again = memory_for(self.memory, context, rebuilt, True)
        return rebuilt if again == memory else self._build(_with_memory(context, again))

    def _build(self, context: TurnContext) -> BuiltPrompt:
        """The prompt for ``context`` as it stands.

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

    def generation_request(
        self,
        backend: Backend,
        context: TurnContext,
        prompt: BuiltPrompt,
        sampling: Sampling = NO_SAMPLING,
    ) -> GenerationRequest:
        """The engine request for ``prompt`` (macros of the card filled in for chat mode)."""
        return self._requests.for_prompt(
            backend, prompt, context.request, context.preset, sampling,
            substitute=lambda text: self.substitute(text, context),
            cache_key=member_slot(context), cache_slots=member_count(context),
        )  # fmt: skip

    def prefill(self, context: TurnContext, cancel: threading.Event) -> int | None:
        """Evaluate ``context``'s prompt into its KV slot and generate nothing, giving way
        to any other request; the tokens evaluated (None: no model, one that keeps no
        slots, or it gave way)."""
        if not self._models.loaded:  # unloaded since the reply this fill follows
            return None
        backend = self._models.current()
        if not backend.info.keeps_slots:
            return None
        request = self.generation_request(backend, context, self.build_ahead(context))
        request = replace(request, max_new_tokens=0, background=True, cancel=cancel)
        for event in backend.stream(request):
            if isinstance(event, Finished) and event.finish_reason != "aborted":
                return event.stats.tokens_evaluated
        return None

    def stream(self, context: TurnContext, prompt: BuiltPrompt) -> Iterator[Progress]:
        """Generate for ``prompt``, yielding throttled progress and one final ``done``."""
        backend = self._models.current()
        request = self.generation_request(backend, context, prompt)
        with self._running_lock:
            self._running.add(request.cancel)
        if self.memory is not None:
            self.memory.before_reply()
        try:
            n_prompt = len(request.prompt_tokens)
            yield from self._progress(backend, request, context, prompt, n_prompt)
        finally:
            with self._running_lock:
                self._running.discard(request.cancel)
            if self.memory is not None and context.chat.id > 0:
                self.memory.after_reply(context.chat.id)

    def _progress(
        self,
        backend: Backend,
        request: GenerationRequest,
        context: TurnContext,
        prompt: BuiltPrompt,
        n_prompt: int,
    ) -> Iterator[Progress]:
        run = ThinkingRun(backend, request, reply_plan(context, prompt), self._requests)
        run.feed(prompt.reply_prefix)
        last_push = 0.0
        for event in run.events():
            if isinstance(event, TextDelta):
                now = time.monotonic()
                if now - last_push >= UPDATE_INTERVAL:
                    last_push = now
                    parsed = run.parsed()
                    thought = run.thought(parsed)
                    yield Progress(parsed.answer, prompt_tokens=n_prompt, thought=thought)
            else:
                parsed = run.finish()
                info = _gen_info(backend, context, event)
                yield Progress(
                    parsed.answer, True, event.finish_reason, info,
                    prompt_tokens=n_prompt, thought=run.thought(parsed),
                )  # fmt: skip

    def preset_names(self) -> list[str]:
        """Every sampler preset's name."""
        return self._presets.names()

    def format_names(self) -> list[str]:
        """Every prompt format's name."""
        return self._formats.names()

    def reasoning_names(self) -> list[str]:
        """Every reasoning template's name (the built-in ones and the user's)."""
        return self.reasoning.names()

    def count_tokens(self, text: str) -> int:
        """``text``'s length in the loaded model's tokens."""
        return self._models.current().count_tokens(text)

    def n_ctx(self) -> int:
        """The loaded model's context size (``ModelNotLoaded`` without a model)."""
        return self._models.current().info.n_ctx

    def busy(self) -> bool:
        """Whether one of this runner's replies is being generated."""
        with self._running_lock:
            return bool(self._running)

    def abort(self) -> None:
        """Stop this runner's generations (an API request on the same model goes on)."""
        with self._running_lock:
            for cancel in self._running:
                cancel.set()


_NOTE_POSITIONS = {
    "after_story": PromptPosition.IN_PROMPT,
    "in_chat": PromptPosition.IN_CHAT,
    "before_prompt": PromptPosition.BEFORE_PROMPT,
}
_NOTE_ROLES = {
    "system": PromptRole.SYSTEM,
    "user": PromptRole.USER,
    "assistant": PromptRole.ASSISTANT,
}


def author_note(note: AuthorNoteSettings) -> AuthorNote:
    """The chat's stored author's note as the prompt builder takes it."""
    if not note.text:
        return AuthorNote()
    return AuthorNote(
        text=note.text,
        interval=note.interval,
        position=_NOTE_POSITIONS[note.position],
        depth=note.depth,
        role=_NOTE_ROLES[note.role],
    )


def member_slot(context: TurnContext) -> str | None:
    """The KV slot of a group member's turns in its chat (None: a one-to-one chat)."""
    if context.request.group is None:
        return None
    return f"chat {context.chat.id} member {context.card.name}"


def member_count(context: TurnContext) -> int:
    """How many members' KV slots the chat keeps (0: a one-to-one chat)."""
    group = context.request.group
    return len(group.members) if group is not None else 0


def reply_plan(context: TurnContext, prompt: BuiltPrompt) -> ReplyPlan:
    """Where the reply to ``prompt`` starts: inside a reasoning block, after one, or unknown.

    A continued reply goes on inside its open block (no answer yet) or in its answer.
    """
    request = context.request
    template = request.reasoning.template
    budget = context.chat.settings.reasoning.budget
    if request.generation == "continue" and request.history:
        last = request.history[-1]
        if last.reasoning and not last.text:
            return ReplyPlan(template, "thinking", reasoning=last.reasoning, budget=budget)
        return ReplyPlan(template, "answer", answer=last.text)
    head = prompt.text[: len(prompt.text) - len(prompt.reply_prefix)]
    return ReplyPlan(template, reply_start(head, template), budget=budget)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


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


def _with_memory(context: TurnContext, memory: MemoryPrompt | None) -> TurnContext:
    """``context`` whose prompt gets ``memory`` (None: no memory)."""
    request = replace(context.request, memory=memory or MemoryPrompt())
    return replace(context, request=request)
