"""Turn an API request into the engine's :class:`GenerationRequest`.

Without ``character`` a chat request is rendered with the model's own chat template
(ChatML when the model has none) and sampled with the request's values over the
``preset`` (or the server's defaults).  With ``character`` the chat layer renders the
prompt (see :mod:`app.api.characters`).  Message names are written into the content as
``Name: text``, since few chat templates read them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from app.api.errors import UnavailableFeature
from app.api.grammar import grammar_for
from app.api.protocol import ChatCompletionRequest, ChatMessage, CompletionRequest, SamplingRequest
from app.chat.api_prompts import ApiMessage, CharacterPrompts
from app.engine.base import Backend, GenerationRequest, ModelInfo
from app.engine.sampling import SamplerSettings
from app.errors import ContextLengthExceeded, InputError
from app.presets.model import Preset
from app.prompt.gguf_template import ChatTurn, render_chat_template
from app.prompt.sandbox import TemplateSandbox

log = logging.getLogger(__name__)

#: Used when a model carries no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class PresetSource(Protocol):
    """Where ``preset`` names are looked up (a :class:`~app.presets.PresetLibrary`)."""

    def load(self, name: str) -> Preset:
        """The preset called ``name``; ``NotFound`` if there is none."""
        ...


@dataclass(frozen=True)
class Defaults:
    """What a request falls back on for the fields it leaves out."""

    sampler: SamplerSettings
    stop: tuple[str, ...] = ()
    max_new_tokens: int | None = None


class RequestPlanner:
    """Builds generation requests for the chat and text completion endpoints."""

    def __init__(
        self,
        sandbox: TemplateSandbox,
        *,
        presets: PresetSource | None = None,
        characters: CharacterPrompts | None = None,
        default_sampler: SamplerSettings | None = None,
    ) -> None:
        self._sandbox = sandbox
        self._presets = presets
        self._characters = characters
        self._default_sampler = default_sampler or SamplerSettings()

    def chat(self, backend: Backend, request: ChatCompletionRequest) -> GenerationRequest:
        """The generation for a chat request."""
        pairs = tuple((m.template_role, _named(m)) for m in request.messages)
        if request.character is not None:
            if self._characters is None:
                raise UnavailableFeature("character", "character prompts are unavailable here")
            api_messages = [ApiMessage(m.template_role, m.text, m.name) for m in request.messages]
            rendered = self._characters.render_for_api(
                request.character, request.preset, api_messages
            )
            defaults = Defaults(rendered.sampler, rendered.stop, rendered.max_new_tokens)
            prompt, messages = rendered.prompt_text, rendered.messages or pairs
        else:
            defaults = self._defaults(request.preset)
            prompt, messages = self._render_template(backend.info, request.messages), pairs
        generation = self._finish(
            request, request.reply_limit, backend.info, tokenize_prompt(backend, prompt), defaults
        )
        grammar = grammar_for(request.response_format, request.grammar)
        return replace(generation, prompt_text=prompt, messages=messages, grammar=grammar)

    def completion(self, backend: Backend, request: CompletionRequest) -> GenerationRequest:
        """The generation for a text completion request."""
        if (request.model_extra or {}).get("character") is not None:
            raise InputError("character", "only /v1/chat/completions can play a character")
        prompt = request.single_prompt
        if isinstance(prompt, str):
            text, tokens = prompt, tokenize_prompt(backend, prompt)
        else:
            n_vocab = backend.info.n_vocab
            if n_vocab and any(not 0 <= t < n_vocab for t in prompt):
                raise InputError("prompt", f"holds a token id outside 0..{n_vocab - 1}")
            text, tokens = backend.detokenize(prompt), list(prompt)
        defaults = self._defaults(request.preset)
        generation = self._finish(request, request.max_tokens, backend.info, tokens, defaults)
        return replace(generation, prompt_text=text, grammar=grammar_for(None, request.grammar))

    def _defaults(self, preset_name: str | None) -> Defaults:
        if preset_name is None:
            return Defaults(self._default_sampler)
        if self._presets is None:
            raise UnavailableFeature("preset", "presets are unavailable here")
        preset = self._presets.load(preset_name)
        return Defaults(preset.to_sampler_settings(), preset.stop, preset.max_new_tokens)

    def _render_template(self, info: ModelInfo, messages: Sequence[ChatMessage]) -> str:
        template = info.chat_template
        if not template:
            log.info("%s has no chat template; using ChatML", info.name)
            template = CHATML_TEMPLATE
        turns = [ChatTurn(m.template_role, _named(m)) for m in messages]
        return render_chat_template(
            self._sandbox, template, turns, bos_token=info.bos_token, eos_token=info.eos_token
        )

    def _finish(
        self,
        request: SamplingRequest,
        limit: int | None,
        info: ModelInfo,
        tokens: list[int],
        defaults: Defaults,
    ) -> GenerationRequest:
        if not tokens:
            raise InputError("prompt", "is empty")
        if len(tokens) >= info.n_ctx:
            raise ContextLengthExceeded(len(tokens), info.n_ctx)
        max_new = limit or defaults.max_new_tokens or info.n_ctx - len(tokens)
        return GenerationRequest(
            prompt_tokens=tokens,
            sampler=request.to_sampler_settings(defaults.sampler),
            max_new_tokens=max_new,
            stop=tuple(dict.fromkeys(request.stop_strings + defaults.stop)),
        )


def tokenize_prompt(backend: Backend, text: str) -> list[int]:
    """``text`` as tokens, special tokens parsed, BOS added unless the text starts with it."""
    info = backend.info
    starts_with_bos = bool(info.bos_token) and text.startswith(info.bos_token)
    return backend.tokenize(text, add_bos=info.add_bos and not starts_with_bos, special=True)


def _named(message: ChatMessage) -> str:
    if message.name and message.role in ("user", "assistant"):
        return f"{message.name}: {message.text}"
    return message.text
