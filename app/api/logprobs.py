"""OpenAI's ``logprobs`` objects, from the engine's token probabilities.

``/v1/chat/completions`` answers ``logprobs: true`` (and ``top_logprobs``: how many
alternatives per token) with ``{"content": [{token, logprob, bytes, top_logprobs}]}``;
``/v1/completions`` answers ``logprobs: N`` with the legacy object (``tokens``,
``token_logprobs``, ``top_logprobs`` as ``{token: logprob}`` maps, ``text_offset``), which
SillyTavern's Token Probabilities panel reads for its vLLM, ooba and TabbyAPI types.
Probabilities are the softmax of the raw logits, as llama-server's ``n_probs`` reports.
"""

from __future__ import annotations

import math

from app.api.protocol import ChatLogprob, ChatLogprobs, ChatTopLogprob, CompletionLogprobs
from app.engine.base import TokenProb, TokenProbs

#: Probabilities below this are reported as this (JSON has no -infinity).
MIN_PROB = 1e-300


def logprob(prob: float) -> float:
    """The natural log of ``prob``, floored at :data:`MIN_PROB`."""
    return math.log(max(prob, MIN_PROB))


def chat_logprobs(probs: tuple[TokenProbs, ...], top: int) -> ChatLogprobs:
    """A chat choice's (or chunk's) ``logprobs``: every token with its ``top`` best."""
    return ChatLogprobs(content=[_chat_entry(p, top) for p in probs])


def _chat_entry(probs: TokenProbs, top: int) -> ChatLogprob:
    best = [ChatTopLogprob(**_chat_token(t)) for t in probs.top[:top]]
    return ChatLogprob(**_chat_token(probs.token), top_logprobs=best)


def _chat_token(token: TokenProb) -> dict[str, object]:
    return {
        "token": token.text,
        "logprob": logprob(token.prob),
        "bytes": list(token.text.encode("utf-8")),
    }


def completion_logprobs(
    probs: tuple[TokenProbs, ...], top: int, offset: int = 0
) -> CompletionLogprobs:
    """A text choice's (or chunk's) legacy ``logprobs``; ``offset``: where the first
    token starts in the choice's whole text."""
    offsets: list[int] = []
    for p in probs:
        offsets.append(offset)
        offset += len(p.token.text)
    return CompletionLogprobs(
        tokens=[p.token.text for p in probs],
        token_logprobs=[logprob(p.token.prob) for p in probs],
        top_logprobs=[{t.text: logprob(t.prob) for t in p.top[:top]} for p in probs],
        text_offset=offsets,
    )
