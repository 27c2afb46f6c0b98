"""OpenAI wire types for Parlor's API: requests, responses, stream chunks and errors.

Request models accept unknown fields, as OpenAI clients and SillyTavern expect: the
sampler fields of every dialect are read from the whole body by :mod:`app.api.fields`,
which logs what it cannot honour once per field name.  Booleans are strict (``"yes"``
is not true), and a lone UTF-16 surrogate anywhere in a body is refused (see
:class:`RequestBody`).  Fields follow the order of OpenAI's documentation; the llama.cpp
sampler extensions and Parlor's own fields sit in marked blocks, each with a
description.  A request turns itself into the chat layer's plain input
(:meth:`ChatCompletionRequest.to_input`, :meth:`CompletionRequest.to_input`).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.api import values
from app.api.fields import Dialect, read_sampling
from app.api.notes import FieldNotes
from app.api.values import MAX_CHOICES
from app.chat.api_prompts import ChatInput, TextInput
from app.chat.requests import ApiMessage, Sampling, apply_overrides
from app.engine.sampling import SamplerSettings
from app.errors import InputError

#: Most stop strings one request may carry.
MAX_STOP_STRINGS = 64
#: Most tokens ``/v1/completions`` accepts as a pre-tokenized prompt.
MAX_PROMPT_TOKENS = 1_000_000
#: The most alternatives per token ``top_logprobs`` / ``logprobs`` may ask (vLLM's default).
MAX_LOGPROBS = 20
_SURROGATE = re.compile("[\ud800-\udfff]")


class OpenAIBaseModel(BaseModel):
    """Base of every request model: unknown fields are kept (the sampler fields of other
    dialects among them, read by :mod:`app.api.fields`) and never refused."""

    model_config = ConfigDict(extra="allow")


class RequestBody(OpenAIBaseModel):
    """Base of every request body: no string in it may hold a lone UTF-16 surrogate.

    JSON can escape one (``"\\udc00"``) but UTF-8 cannot encode it, so it would fail deep
    inside the tokenizer.  It is refused up front with an ``InputError`` naming its field
    (raised as is, past pydantic, so the field's path survives).
    """

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        path = lone_surrogate_path(data)
        if path is not None:
            raise InputError(path, "holds a lone UTF-16 surrogate, which is not valid Unicode")
        return data


def lone_surrogate_path(data: object) -> str | None:
    """The dotted path of a string (or key) in ``data`` holding a lone surrogate, or None."""
    stack: list[tuple[tuple[str, ...], object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return ".".join(path) or "request"
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    return ".".join(path) or "request"
                if isinstance(item, str | dict | list):
                    stack.append(((*path, str(key)), item))
        elif isinstance(value, list):
            stack.extend(
                ((*path, str(i)), item)
                for i, item in enumerate(value)
                if isinstance(item, str | dict | list)
            )
    return None


class ResponseModel(BaseModel):
    """Base of every response model (built by Parlor, so no unknown fields)."""

    model_config = ConfigDict(extra="forbid")


def new_id(prefix: str) -> str:
    """A fresh OpenAI-style object id such as ``chatcmpl-…``."""
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    """The ``created`` timestamp: Unix seconds."""
    return int(time.time())


# -- errors ---------------------------------------------------------------------------


class ErrorInfo(ResponseModel):
    """OpenAI's ``error`` object."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(ResponseModel):
    """An error body, ``{"error": {...}}``, with the HTTP status it is sent with."""

    error: ErrorInfo
    status_code: int = Field(400, exclude=True)


# -- shared request parts -------------------------------------------------------------


class StreamOptions(OpenAIBaseModel):
    """``stream_options``: whether a usage chunk ends the stream."""

    include_usage: StrictBool | None = False


class JsonSchemaFormat(OpenAIBaseModel):
    """``response_format.json_schema``: a named JSON schema the reply must match."""

    name: str = "response"
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: StrictBool | None = None


class ResponseFormat(OpenAIBaseModel):
    """``response_format``: plain text, any JSON object, or JSON matching a schema.

    As in llama.cpp's server, ``json_object`` may carry a ``schema`` of its own.
    """

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and (
            self.json_schema is None or not self.json_schema.schema_
        ):
            raise ValueError("type json_schema needs json_schema.schema")
        return self


class SamplingRequest(RequestBody):
    """Fields shared by chat and text completions: model, length, sampling and stops."""

    model: str | None = Field(None, description="Ignored: Parlor serves the loaded model.")
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | list[Any] | None = Field(
        None,
        description="Token id (as a string) → bias from -100 to 100; llama.cpp's "
        "[[id, bias | false]] pairs are accepted too.",
    )
    max_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(
        1,
        ge=1,
        le=MAX_CHOICES,
        description="Choices from one prompt evaluation (SillyTavern's multi-swipe).",
    )
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    seed: int | None = Field(None, ge=-1, le=0xFFFFFFFF)
    stop: str | list[str] | None = None
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0.0, le=10.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    user: str | None = None

    # -- llama.cpp sampler extensions (llama-server names) -----------------------------
    top_k: int | None = Field(None, ge=-1, description="Keep the k most likely tokens; ≤ 0 = off.")
    min_p: float | None = Field(None, ge=0.0, le=1.0, description="Min-p truncation; 0 = off.")
    typical_p: float | None = Field(None, ge=0.0, le=1.0, description="Locally typical sampling.")
    top_n_sigma: float | None = Field(None, le=100.0, description="Top-n-σ; ≤ 0 = off.")
    repetition_penalty: float | None = Field(
        None, ge=0.0, le=10.0, description="Repetition penalty (vLLM name); 1 = off."
    )
    repeat_penalty: float | None = Field(
        None, ge=0.0, le=10.0, description="Repetition penalty (llama.cpp name); 1 = off."
    )
    repeat_last_n: int | None = Field(
        None, ge=-1, description="Tokens the penalties look back on; -1 = whole context."
    )
    dry_multiplier: float | None = Field(None, ge=0.0, le=10.0, description="DRY; 0 = off.")
    dry_base: float | None = Field(None, ge=1.0, le=10.0, description="DRY penalty growth base.")
    dry_allowed_length: int | None = Field(None, ge=1, description="DRY: longest free repeat.")
    dry_penalty_last_n: int | None = Field(None, ge=-1, description="DRY look-back; -1 = all.")
    dry_sequence_breakers: list[str] | str | None = Field(
        None, description="DRY sequence breakers: a list, or a JSON string holding one."
    )
    xtc_probability: float | None = Field(None, ge=0.0, le=1.0, description="XTC; 0 = off.")
    xtc_threshold: float | None = Field(None, ge=0.0, le=1.0, description="XTC threshold.")
    dynatemp_range: float | None = Field(
        None, ge=0.0, le=10.0, description="Dynamic temperature range; 0 = off."
    )
    dynatemp_exponent: float | None = Field(None, ge=0.0, le=10.0)
    mirostat_mode: Literal[0, 1, 2] | None = Field(None, description="Mirostat version; 0 = off.")
    mirostat_tau: float | None = Field(None, ge=0.0, le=100.0)
    mirostat_eta: float | None = Field(None, ge=0.0, le=10.0)
    grammar: str | None = Field(
        None, description='A GBNF grammar the reply must follow ("": none).'
    )

    # -- Parlor extensions ---------------------------------------------------------------
    preset: str | None = Field(
        None, description="A stored sampler preset: its values are the defaults of this request."
    )

    @field_validator("logit_bias")
    @classmethod
    def _bias_keys(cls, value: dict[str, float] | list[Any] | None) -> Any:
        try:
            values.logit_bias(value or [], "logit_bias")
        except InputError as exc:
            raise ValueError(exc.problem) from None
        return value

    @field_validator("dry_sequence_breakers")
    @classmethod
    def _breakers(cls, value: list[str] | str | None) -> list[str] | None:
        if value is None:
            return None
        try:
            return list(values.breakers(value, "dry_sequence_breakers"))
        except InputError as exc:
            raise ValueError(exc.problem) from None

    @field_validator("stop")
    @classmethod
    def _stop_count(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP_STRINGS:
            raise ValueError(f"at most {MAX_STOP_STRINGS} stop strings")
        return value

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> SamplingRequest:
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options can only be set when stream is true")
        return self

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """``stop`` as a tuple without empty strings."""
        stops = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return tuple(s for s in stops if s)

    @property
    def include_usage(self) -> bool:
        """Whether a stream ends with a usage chunk."""
        return self.stream_options is not None and bool(self.stream_options.include_usage)

    def body(self) -> dict[str, Any]:
        """The request's fields (typed and extra) as plain values, for the sampler
        readers; the prompt or messages are left out."""
        return self.model_dump(exclude={"messages", "prompt"}, exclude_none=True)

    def sampling(self, notes: FieldNotes, grammar: str | None = None) -> Sampling:
        """What this request sets over its preset, for the chat layer (``grammar``: from
        ``response_format``; else whatever grammar field the body carries)."""
        body = self.body()
        known: dict[str, object] = {"preset": self.preset}
        if self.reply_limit is not None:
            known["max_new_tokens"] = self.reply_limit
        if grammar is not None:
            known["grammar"] = grammar
        if self.logprob_count is not None:
            known["n_probs"] = max(self.logprob_count, 1)
        return read_sampling(body, Dialect.of_body(body), notes, **known)

    @property
    def reply_limit(self) -> int | None:
        """The reply-length field this request type names (``max_tokens``)."""
        return self.max_tokens

    @property
    def logprob_count(self) -> int | None:
        """How many alternatives per reply token to report (None: no log-probabilities)."""
        return None

    def to_sampler_settings(self, defaults: SamplerSettings) -> SamplerSettings:
        """``defaults`` with every sampling field this request sets written over it."""
        sampling = self.sampling(FieldNotes())
        return apply_overrides(defaults, {**sampling.overrides, "logit_bias": sampling.logit_bias})


# -- chat completions -----------------------------------------------------------------


class TextPart(OpenAIBaseModel):
    """A text part of a message's content (the only kind Parlor reads)."""

    type: Literal["text"]
    text: str


class ChatMessage(OpenAIBaseModel):
    """One message of a chat request.

    ``content`` is required, as in OpenAI's API, except on an assistant message that
    carries ``tool_calls`` (or the older ``function_call``) from an earlier exchange.
    """

    role: Literal["system", "developer", "user", "assistant"]
    tool_calls: list[dict[str, Any]] | None = Field(
        None, description="Accepted in the history only: Parlor calls no tools."
    )
    function_call: dict[str, Any] | None = Field(None, description="Older name of tool_calls.")
    content: str | list[TextPart] | None = Field(None, validate_default=True)
    name: str | None = Field(None, max_length=256)

    @field_validator("content")
    @classmethod
    def _content_given(
        cls, value: str | list[TextPart] | None, info: ValidationInfo
    ) -> str | list[TextPart] | None:
        calls = info.data.get("tool_calls") or info.data.get("function_call")
        if value is None and not (info.data.get("role") == "assistant" and calls):
            raise ValueError("is required (null only on an assistant message with tool_calls)")
        return value

    @property
    def text(self) -> str:
        """The message's content as one string."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)

    @property
    def template_role(self) -> str:
        """The role chat templates know (``developer`` is OpenAI's new name for system)."""
        return "system" if self.role == "developer" else self.role


class ChatCompletionRequest(SamplingRequest):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    logprobs: StrictBool | None = Field(None, description="Report each reply token's logprob.")
    top_logprobs: int | None = Field(
        None, ge=0, le=MAX_LOGPROBS, description="With logprobs: alternatives per token."
    )
    max_completion_tokens: int | None = Field(None, ge=1, description="Newer name of max_tokens.")
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = Field(None, description="Not supported: must be empty.")
    tool_choice: Any = Field(None, description="Ignored.")

    # -- Parlor extensions ---------------------------------------------------------------
    character: str | None = Field(
        None,
        description="A stored character (name or id): the reply uses its card and "
        "Parlor's prompt formatting instead of the model's chat template.",
    )

    @model_validator(mode="after")
    def _unsupported(self) -> ChatCompletionRequest:
        if self.tools:
            raise ValueError("tools are not supported")
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        formatted = self.response_format is not None and self.response_format.type != "text"
        if self.grammar is not None and formatted:
            raise ValueError("give either grammar or response_format, not both")
        return self

    @property
    def reply_limit(self) -> int | None:
        """``max_completion_tokens``, else ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens

    @property
    def logprob_count(self) -> int | None:
        """``top_logprobs`` (0 when not given) when ``logprobs`` is true, else None."""
        return (self.top_logprobs or 0) if self.logprobs else None

    def to_input(self, notes: FieldNotes, grammar: str | None) -> ChatInput:
        """This request as the chat layer takes it (``grammar``: from ``response_format``)."""
        messages = tuple(ApiMessage(m.template_role, m.text, m.name) for m in self.messages)
        return ChatInput(messages, self.sampling(notes, grammar), self.character)


class ChatMessageOut(ResponseModel):
    """The assistant message of a non-streaming reply."""

    role: Literal["assistant"] = "assistant"
    content: str
    #: The reply's reasoning block, apart from the answer (llama-server, vLLM, DeepSeek).
    reasoning_content: str | None = None


class ChatTopLogprob(ResponseModel):
    """One of the most likely tokens at a reply token's place."""

    token: str
    logprob: float
    bytes: list[int]


class ChatLogprob(ChatTopLogprob):
    """A reply token's logprob, with the most likely tokens at its place."""

    top_logprobs: list[ChatTopLogprob]


class ChatLogprobs(ResponseModel):
    """A chat choice's ``logprobs``: one entry per reply token."""

    content: list[ChatLogprob]


class ChatChoice(ResponseModel):
    """One choice of a non-streaming chat reply."""

    index: int = 0
    message: ChatMessageOut
    finish_reason: str | None
    logprobs: ChatLogprobs | None = None


class UsageInfo(ResponseModel):
    """Token counts of one request."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionResponse(ResponseModel):
    """A non-streaming chat reply."""

    id: str = Field(default_factory=lambda: new_id("chatcmpl"))
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=now)
    model: str
    choices: list[ChatChoice]
    usage: UsageInfo


class DeltaMessage(ResponseModel):
    """What a stream chunk adds to the message."""

    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None


class ChatChunkChoice(ResponseModel):
    """One choice of a chat stream chunk."""

    index: int = 0
    delta: DeltaMessage
    finish_reason: str | None = None
    logprobs: ChatLogprobs | None = None


class ChatCompletionChunk(ResponseModel):
    """One ``chat.completion.chunk`` of a stream."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: UsageInfo | None = None


# -- text completions -----------------------------------------------------------------


class CompletionRequest(SamplingRequest):
    """``POST /v1/completions``: one prompt, as text or as token ids."""

    prompt: str | list[str] | list[int] | list[list[int]]
    best_of: int | None = Field(
        None, ge=1, le=MAX_CHOICES, description="Accepted; n choices are made, never more."
    )
    echo: StrictBool | None = Field(False, description="Not supported: must be false.")
    logprobs: int | None = Field(
        None,
        ge=0,
        le=MAX_LOGPROBS,
        description="Report each reply token's logprob and this many alternatives.",
    )
    suffix: str | None = Field(None, description="Not supported.")

    @field_validator("prompt")
    @classmethod
    def _one_prompt(
        cls, value: str | list[str] | list[int] | list[list[int]]
    ) -> str | list[str] | list[int] | list[list[int]]:
        batch = isinstance(value, list) and value and isinstance(value[0], str | list)
        if batch and len(value) != 1:
            raise ValueError("only one prompt per request is supported")
        if isinstance(value, list) and len(value) > MAX_PROMPT_TOKENS:
            raise ValueError("too many prompt tokens")
        return value

    @model_validator(mode="after")
    def _unsupported(self) -> CompletionRequest:
        if self.echo:
            raise ValueError("echo is not supported")
        if self.suffix:
            raise ValueError("suffix is not supported")
        return self

    @property
    def single_prompt(self) -> str | list[int]:
        """The prompt, unwrapped from a one-element batch."""
        value = self.prompt
        if isinstance(value, list) and value and isinstance(value[0], str | list):
            inner = value[0]
            return inner if isinstance(inner, str) else [int(t) for t in inner]
        if isinstance(value, str):
            return value
        return [int(t) for t in value if isinstance(t, int)]

    @property
    def logprob_count(self) -> int | None:
        """``logprobs``: how many alternatives per reply token (None: none asked)."""
        return self.logprobs

    def to_input(self, notes: FieldNotes) -> TextInput:
        """This request as the chat layer takes it."""
        if (self.model_extra or {}).get("character") is not None:
            raise InputError("character", "only /v1/chat/completions can play a character")
        prompt = self.single_prompt
        text_or_tokens = prompt if isinstance(prompt, str) else tuple(prompt)
        return TextInput(text_or_tokens, self.sampling(notes))


class CompletionLogprobs(ResponseModel):
    """A text choice's legacy ``logprobs`` (one list entry per reply token)."""

    tokens: list[str]
    token_logprobs: list[float]
    #: Each token's most likely alternatives, as ``{token: logprob}``.
    top_logprobs: list[dict[str, float]]
    #: Where each token starts in the choice's text.
    text_offset: list[int]


class CompletionChoice(ResponseModel):
    """One choice of a text completion (or of one of its stream chunks)."""

    index: int = 0
    text: str
    finish_reason: str | None = None
    logprobs: CompletionLogprobs | None = None


class CompletionResponse(ResponseModel):
    """A text completion, or one chunk of a streamed one (same shape, no usage)."""

    id: str = Field(default_factory=lambda: new_id("cmpl"))
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=now)
    model: str
    choices: list[CompletionChoice]
    usage: UsageInfo | None = None


# -- models, tokenize -----------------------------------------------------------------


class ModelCard(ResponseModel):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=now)
    owned_by: str = "parlor"


class ModelList(ResponseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
