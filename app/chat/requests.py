"""Every engine :class:`~app.engine.base.GenerationRequest` is made here.

A UI turn, an API chat or text completion and an API character prompt all end in
:class:`RequestBuilder`: preset lookup, chat-template rendering, tokenizing, the length
and context checks and the merging of stop strings happen in this one place.

What a request sets over its preset (an API request's sampler values, reply length, stop
strings and grammar) arrives as a plain :class:`Sampling`; a UI turn sets nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from pydantic import ValidationError

from app.engine.base import Backend, GenerationRequest, ModelInfo
from app.engine.sampling import SamplerSettings
from app.errors import ContextLengthExceeded, InputError
from app.presets.model import Preset
from app.prompt.gguf_template import ChatTurn, render_chat_template
from app.prompt.sandbox import TemplateSandbox
from app.prompt.types import BuiltPrompt, PromptRequest

log = logging.getLogger(__name__)

#: Used when a model carries no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

#: Characters per token that no tokenizer averages over a whole prompt.  A text longer than
#: this many characters per context token cannot fit, so it is refused before tokenizing.
MAX_CHARS_PER_TOKEN = 64


class PresetSource(Protocol):
    """Where preset names are looked up (a :class:`~app.presets.library.PresetLibrary`)."""

    def load(self, name: str) -> Preset:
        """The preset called ``name``; ``NotFound`` if there is none."""
        ...


@dataclass(frozen=True)
class Sampling:
    """What one request sets over its preset; everything left out comes from the preset."""

    #: A stored preset whose values are this request's defaults (None: the caller's).
    preset: str | None = None
    #: Sampler fields (``SamplerSettings`` names) this request sets.
    overrides: Mapping[str, object] = field(default_factory=dict)
    #: Token id → bias; every id must be in the loaded model's vocabulary.
    logit_bias: Mapping[int, float] | None = None
    max_new_tokens: int | None = None
    stop: tuple[str, ...] = ()
    #: A GBNF grammar the reply must follow.
    grammar: str | None = None
    #: Report this many most likely tokens per generated token (llama.cpp's ``n_probs``).
    n_probs: int = 0
    #: Prompt plus reply must fit in this many tokens: a longer prompt loses its oldest
    #: tokens (text-generation-webui's ``truncation_length``, KoboldCpp's
    #: ``max_context_length``); None keeps the whole prompt.
    context_limit: int | None = None


#: A request that sets nothing of its own (a UI turn).
NO_SAMPLING = Sampling()


@dataclass(frozen=True)
class ApiMessage:
    """One message of an API request, as the chat layer sees it."""

    role: str  # "system", "user" or "assistant"
    content: str
    name: str | None = None

    @property
    def named_content(self) -> str:
        """The content with ``Name: `` in front for a named user or assistant message
        (few chat templates read names)."""
        if self.name and self.role in ("user", "assistant"):
            return f"{self.name}: {self.content}"
        return self.content


@dataclass(frozen=True)
class _Base:
    """What a request falls back on: a preset's (or the defaults') sampler, stops, length."""

    sampler: SamplerSettings
    stop: tuple[str, ...] = ()
    max_new_tokens: int | None = None


class RequestBuilder:
    """Builds the engine request for every generation Parlor runs."""

    def __init__(
        self,
        sandbox: TemplateSandbox,
        presets: PresetSource | None = None,
        *,
        default_sampler: SamplerSettings | None = None,
    ) -> None:
        self._sandbox = sandbox
        self._presets = presets
        self._default_sampler = default_sampler or SamplerSettings()

    def for_prompt(
        self,
        backend: Backend,
        prompt: BuiltPrompt,
        request: PromptRequest,
        preset: Preset,
        sampling: Sampling = NO_SAMPLING,
        *,
        substitute: Callable[[str], str] = str,
        cache_key: str | None = None,
        cache_slots: int = 0,
    ) -> GenerationRequest:
        """A chat turn: the prompt the chat layer built, sampled with ``preset``.

        ``sampling.preset`` is not looked up here: the turn's preset already is ``preset``.
        ``substitute`` fills in macros in the card text a chat-completions server gets;
        ``cache_key`` names the KV slot the turn continues (a group member's);
        ``cache_slots``: how many such slots the chat keeps (its group's member count).
        """
        stops = (*prompt.stop, *preset.stop)
        base = _Base(preset.to_sampler_settings(), stops, request.max_new_tokens)
        tokens = self.tokenize_prompt(backend, prompt.text)
        messages = chat_messages(request, substitute)
        built = self._finish(backend.info, tokens, base, sampling, prompt.text, messages)
        return replace(built, cache_key=cache_key, cache_slots=cache_slots)

    def for_messages(
        self, backend: Backend, messages: Sequence[ApiMessage], sampling: Sampling
    ) -> GenerationRequest:
        """API chat messages rendered with the model's own chat template (else ChatML)."""
        info = backend.info
        check_length(info, sum(len(m.content) for m in messages))
        base = self._base(sampling.preset)
        text = self._render_template(info, messages)
        pairs = tuple((m.role, m.named_content) for m in messages)
        return self._finish(info, self.tokenize_prompt(backend, text), base, sampling, text, pairs)

    def for_text(
        self, backend: Backend, prompt: str | Sequence[int], sampling: Sampling
    ) -> GenerationRequest:
        """An API text completion of ``prompt`` (text, or token ids)."""
        info = backend.info
        base = self._base(sampling.preset)
        if isinstance(prompt, str):
            text, tokens = prompt, self.tokenize_prompt(backend, prompt)
        else:
            check_token_ids(info, prompt, "prompt")
            if len(prompt) >= info.n_ctx:
                raise ContextLengthExceeded(len(prompt), info.n_ctx)
            text, tokens = backend.detokenize(prompt), list(prompt)
        return self._finish(info, tokens, base, sampling, text, None)

    def continued(
        self, backend: Backend, request: GenerationRequest, more: str, max_new_tokens: int
    ) -> GenerationRequest:
        """``request`` again with ``more`` (the reply so far) after its prompt text.

        A reply that goes on after the chat layer wrote into it (a forced end of its
        reasoning) is asked for this way; everything but the prompt and length is kept.
        """
        info = backend.info
        text = (request.prompt_text or backend.detokenize(request.prompt_tokens)) + more
        tokens = self.tokenize_prompt(backend, text)
        if len(tokens) >= info.n_ctx:
            raise ContextLengthExceeded(len(tokens), info.n_ctx)
        room = min(max_new_tokens, info.n_ctx - len(tokens))
        return replace(request, prompt_tokens=tokens, prompt_text=text, max_new_tokens=room)

    def tokenize_prompt(self, backend: Backend, text: str) -> list[int]:
        """``text`` as a prompt: special tokens parsed, BOS added unless it starts with one.

        A text that certainly cannot fit into the context is refused before tokenizing.
        """
        info = backend.info
        check_length(info, len(text))
        starts_with_bos = bool(info.bos_token) and text.startswith(info.bos_token)
        return backend.tokenize(text, add_bos=info.add_bos and not starts_with_bos, special=True)

    def tokenize(
        self, backend: Backend, text: str, *, add_special: bool, parse_special: bool
    ) -> list[int]:
        """Tokens of ``text`` as llama.cpp's ``/tokenize`` gives them (length-checked)."""
        if add_special and parse_special:
            return self.tokenize_prompt(backend, text)
        check_length(backend.info, len(text))
        add_bos = add_special and backend.info.add_bos
        return backend.tokenize(text, add_bos=add_bos, special=parse_special)

    def detokenize(self, backend: Backend, tokens: Sequence[int]) -> str:
        """The text of ``tokens``; every id must be in the model's vocabulary."""
        check_token_ids(backend.info, tokens, "tokens")
        return backend.detokenize(tokens)

    def _base(self, preset_name: str | None) -> _Base:
        """The named preset's values (``NotFound`` if there is none), else the defaults."""
        if preset_name is None:
            return _Base(self._default_sampler)
        if self._presets is None:
            raise InputError("preset", "presets are unavailable here")
        preset = self._presets.load(preset_name)
        return _Base(preset.to_sampler_settings(), preset.stop, preset.max_new_tokens)

    def _render_template(self, info: ModelInfo, messages: Sequence[ApiMessage]) -> str:
        template = info.chat_template
        if not template:
            log.info("%s has no chat template; using ChatML", info.name)
            template = CHATML_TEMPLATE
        turns = [ChatTurn(m.role, m.named_content) for m in messages]
        return render_chat_template(
            self._sandbox, template, turns, bos_token=info.bos_token, eos_token=info.eos_token
        )

    def _finish(
        self,
        info: ModelInfo,
        tokens: list[int],
        base: _Base,
        sampling: Sampling,
        text: str,
        messages: tuple[tuple[str, str], ...] | None,
    ) -> GenerationRequest:
        if not tokens:
            raise InputError("prompt", "is empty")
        max_new = sampling.max_new_tokens or base.max_new_tokens
        tokens = truncated(info, tokens, sampling.context_limit, max_new)
        if len(tokens) >= info.n_ctx:
            raise ContextLengthExceeded(len(tokens), info.n_ctx)
        overrides = dict(sampling.overrides)
        if sampling.logit_bias:
            check_token_ids(info, list(sampling.logit_bias), "logit_bias")
            overrides["logit_bias"] = dict(sampling.logit_bias)
        return GenerationRequest(
            prompt_tokens=tokens,
            sampler=apply_overrides(base.sampler, overrides),
            max_new_tokens=max_new or info.n_ctx - len(tokens),
            stop=merge_stops(sampling.stop, base.stop),
            grammar=sampling.grammar,
            prompt_text=text,
            messages=messages,
            n_probs=sampling.n_probs,
        )


def apply_overrides(defaults: SamplerSettings, overrides: Mapping[str, object]) -> SamplerSettings:
    """``defaults`` with every value in ``overrides`` (None: unset) written over it."""
    data = defaults.model_dump()
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SamplerSettings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(p) for p in error["loc"]) or "sampling"
        raise InputError(name, str(error["msg"])) from None


def truncated(
    info: ModelInfo, tokens: list[int], limit: int | None, max_new: int | None
) -> list[int]:
    """``tokens`` without their oldest ones (a leading BOS stays) so that they and a
    reply of ``max_new`` tokens fit into ``limit`` (and the context); None: untouched."""
    if limit is None:
        return tokens
    room = min(limit, info.n_ctx) - (max_new or 0)
    if len(tokens) <= room or room < 2:
        return tokens
    head = tokens[:1] if tokens[0] == info.bos_token_id else []
    return [*head, *tokens[len(tokens) - room + len(head) :]]


def merge_stops(*groups: Sequence[str]) -> tuple[str, ...]:
    """The stop strings of every group, in order, each once and none empty."""
    return tuple(dict.fromkeys(s for group in groups for s in group if s))


def check_length(info: ModelInfo, n_chars: int) -> None:
    """Refuse a text of ``n_chars`` characters that cannot fit into the context at all."""
    if n_chars > info.n_ctx * MAX_CHARS_PER_TOKEN:
        raise ContextLengthExceeded(n_chars, info.n_ctx, unit="characters")


def check_token_ids(info: ModelInfo, tokens: Sequence[int], source: str) -> None:
    """Refuse a token id outside the model's vocabulary (unknown vocabulary: any id ≥ 0)."""
    n_vocab = info.n_vocab
    for token in tokens:
        if token < 0 or (n_vocab and token >= n_vocab):
            known = f"0..{n_vocab - 1}" if n_vocab else "0 and up"
            raise InputError(source, f"token id {token} is not in the model's vocabulary ({known})")


def chat_messages(
    request: PromptRequest, substitute: Callable[[str], str] = str
) -> tuple[tuple[str, str], ...]:
    """A chat turn for chat-completions servers: the card as system, then the turns.

    ``substitute`` fills in ``{{char}}``, ``{{user}}`` and the other macros of the card.
    """
    card = request.character
    system = "\n\n".join(
        substitute(part)
        for part in (
            card.system_prompt,
            card.description,
            card.personality,
            card.scenario and f"Scenario: {card.scenario}",
        )
        if part
    )
    turns = [("user" if m.is_user else "assistant", m.text) for m in request.history]
    return (("system", system), *turns) if system else tuple(turns)
