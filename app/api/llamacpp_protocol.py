"""llama.cpp server wire types: ``/completion``, ``/tokenize``, ``/detokenize``.

Fields keep llama-server's names and meanings (``tools/server/README.md``):
``n_predict`` -1 is "until the context is full", ``repeat_last_n`` 0 switches the
penalties off and -1 is the whole context, ``seed`` -1 is random, ``logit_bias`` is
``[[id, bias | false]]`` or an object, ``grammar`` ``""`` is none, ``samplers`` is the
order.  Only the fields that shape the request are declared here; every sampler field is
read from the body by :mod:`app.api.fields` (as llama.cpp reads it), and fields other
servers' clients add (SillyTavern sends its whole settings object) are accepted.
Responses are plain dicts built by :mod:`app.api.llamacpp_serving`, as llama-server's are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictBool, field_validator

from app.api.protocol import MAX_PROMPT_TOKENS, RequestBody
from app.api.values import MAX_CHOICES

#: Most token probabilities one request may ask for per token.
MAX_N_PROBS = 100


class LlamaCompletionRequest(RequestBody):
    """``POST /completion``."""

    prompt: str | list[int | str] = Field(
        description="Text, token ids, or a list mixing both (joined in order)."
    )
    stream: StrictBool = False
    n_predict: int | None = Field(None, ge=-1, description="Reply length; -1 = no limit.")
    n_probs: int = Field(0, ge=0, le=MAX_N_PROBS, description="Top tokens per generated one.")
    n_cmpl: int = Field(1, ge=1, le=MAX_CHOICES, description="Completions of the one prompt.")
    cache_prompt: StrictBool = Field(True, description="Always on in Parlor.")

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[int | str]) -> str | list[int | str]:
        if isinstance(value, list) and len(value) > MAX_PROMPT_TOKENS:
            raise ValueError("too many prompt tokens")
        if isinstance(value, list) and len(value) > 1 and all(isinstance(v, str) for v in value):
            raise ValueError("only one prompt per request is supported")
        return value

    def body(self) -> dict[str, Any]:
        """Every field but the prompt, for the sampler readers."""
        return self.model_dump(exclude={"prompt"}, exclude_none=True)


class TokenizeRequest(RequestBody):
    """``POST /tokenize``: llama.cpp's ``{content, …}`` or vLLM's ``{model, prompt}``."""

    content: str | None = None
    prompt: str | None = Field(None, description="vLLM's name for the text.")
    add_special: StrictBool | None = Field(
        None, description="Add the BOS token if the model wants one (llama.cpp: false)."
    )
    add_special_tokens: StrictBool | None = Field(None, description="vLLM's name (default true).")
    parse_special: StrictBool = Field(
        True, description="Parse special tokens such as <|im_start|>."
    )
    with_pieces: StrictBool = Field(False, description="Return {id, piece} pairs.")

    @property
    def text(self) -> str:
        """The text to tokenize (``content``, else vLLM's ``prompt``)."""
        return self.content if self.content is not None else self.prompt or ""

    @property
    def is_vllm(self) -> bool:
        """Whether this is vLLM's shape (answered with ``count`` and ``max_model_len``)."""
        return self.content is None and self.prompt is not None

    @property
    def add_bos(self) -> bool:
        """Whether to add the BOS token (each server's default when unset)."""
        given = self.add_special if self.add_special is not None else self.add_special_tokens
        return given if given is not None else self.is_vllm


class DetokenizeRequest(RequestBody):
    """``POST /detokenize``."""

    tokens: list[int]


class LlamaErrorInfo(BaseModel):
    """llama-server's ``error`` object (documentation only: errors are built as dicts)."""

    code: int
    message: str
    type: str


class LlamaErrorResponse(BaseModel):
    """llama-server's error body."""

    error: LlamaErrorInfo
