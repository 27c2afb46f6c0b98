"""The ``Backend`` protocol every engine implements, and the values it exchanges.

A backend turns a prompt (a token list) plus sampler settings into a stream of
:class:`TextDelta` events ending in exactly one :class:`Finished` event.  Callers
never branch on the backend's type.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from app.engine.sampling import SamplerSettings

FinishReason = Literal["stop", "length", "aborted", "error"]


@dataclass(frozen=True)
class ModelInfo:
    """What the UI, the prompt builder and the API need to know about a loaded model."""

    name: str
    path: str
    architecture: str
    n_ctx: int
    n_ctx_train: int
    n_vocab: int
    chat_template: str | None
    bos_token: str
    eos_token: str
    bos_token_id: int
    eos_token_id: int
    eot_token_id: int | None
    add_bos: bool
    special_tokens: tuple[str, ...] = ()
    size_bytes: int = 0
    quantization: str = ""
    n_gpu_layers: int = 0
    #: Whether the KV cache can drop its oldest tokens and shift the rest; where it
    #: cannot, the chat layer trims history in chunks.
    can_shift: bool = True
    #: The model family ("llama-3", "mistral", "qwen2", …; see :mod:`app.engine.family`),
    #: which clients such as SillyTavern read from a model's name to pick a tokenizer.
    family: str = ""
    #: Whether the backend keeps a KV state per ``cache_key`` that a request with
    #: ``max_new_tokens=0`` fills ahead of the turn (a group member's, while the user types).
    keeps_slots: bool = False


@dataclass(frozen=True)
class GenerationRequest:
    """One completion: the prompt as tokens, how to sample, and when to stop."""

    prompt_tokens: Sequence[int]
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    #: Token counts of the prompt's stable segments, for KV reuse decisions (optional).
    keep_tokens: int = 0
    #: A GBNF grammar the reply must follow (root rule ``root``), or None.
    grammar: str | None = None
    #: The prompt as text, for backends that send text (a remote completions server).
    prompt_text: str | None = None
    #: The conversation as ``(role, content)`` pairs, for remote chat-completions servers.
    messages: tuple[tuple[str, str], ...] | None = None
    #: Set it to stop this generation only (prompt processing included), whoever else
    #: is waiting for or using the backend; one that has not started yet never starts.
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    #: Report this many most likely tokens (and the chosen one's probability) for every
    #: generated token; 0 (the default) computes nothing.
    n_probs: int = 0
    #: The conversation this prompt continues, for backends that keep a KV cache per
    #: conversation (a group member's turns in one chat); None: matched by content.
    cache_key: str | None = None
    #: How many conversations' KV states to keep while this prompt's chat is used (a
    #: group's member count, so no member's slot is evicted); 0: the backend's setting.
    cache_slots: int = 0
    #: Work ahead of time that gives way: any other request that starts sets this one's
    #: ``cancel`` (a member's slot filled while the user types).
    background: bool = False
    #: False for a one-off request (a background summary): the KV cache it leaves is not
    #: kept, and it takes no saved conversation's state, so it never displaces one.
    keep_cache: bool = True


@dataclass(frozen=True)
class TokenProb:
    """A token and its probability (softmax of the raw logits at its position)."""

    id: int
    text: str
    prob: float


@dataclass(frozen=True)
class TokenProbs:
    """One generated token's probability and the ``n_probs`` most likely at its place."""

    token: TokenProb
    top: tuple[TokenProb, ...]


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text, in order; never splits a UTF-8 character."""

    text: str
    #: With ``GenerationRequest.n_probs``: the tokens generated since the last delta.
    probs: tuple[TokenProbs, ...] = ()


@dataclass(frozen=True)
class GenerationStats:
    """How one generation went, recorded with the reply."""

    prompt_tokens: int
    completion_tokens: int
    tokens_reused: int
    tokens_evaluated: int
    prompt_seconds: float
    decode_seconds: float
    seed: int

    @property
    def decode_tokens_per_second(self) -> float:
        """Decode speed, excluding prompt processing."""
        return self.completion_tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0


@dataclass(frozen=True)
class Finished:
    """The last event of every stream."""

    finish_reason: FinishReason
    text: str
    stats: GenerationStats
    error: str | None = None
    #: The stop string that ended the reply (``finish_reason`` "stop"), else None.
    stop_word: str | None = None
    #: With ``GenerationRequest.n_probs``: every generated token's probabilities.
    probs: tuple[TokenProbs, ...] = ()


GenerationEvent = TextDelta | Finished


@runtime_checkable
class Backend(Protocol):
    """An inference engine: the local llama.cpp model, a remote server, or a fake."""

    @property
    def info(self) -> ModelInfo:
        """The loaded model's facts."""
        ...

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        """Text to token ids; ``special`` parses special tokens such as ``<|im_start|>``."""
        ...

    def detokenize(self, tokens: Sequence[int], *, special: bool = True) -> str:
        """Token ids to text."""
        ...

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` becomes (special tokens parsed, no BOS)."""
        ...

    def stream(self, request: GenerationRequest) -> Iterator[GenerationEvent]:
        """Generate, yielding text deltas and then one :class:`Finished`.

        Only one generation runs at a time; a second caller waits for the first.
        """
        ...

    def abort(self) -> None:
        """Stop the running generation soon, whoever started it (prompt processing included).

        To stop one caller's generation only, set its ``GenerationRequest.cancel``.
        """
        ...

    def close(self) -> None:
        """Free the model."""
        ...
