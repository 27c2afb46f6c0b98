"""The server-sent-events stream of a completion, with a fixed contract.

1. chat only: a chunk carrying the role (``delta: {role: "assistant", content: ""}``);
2. one chunk per piece of text;
3. a chunk carrying ``finish_reason``;
   (with ``n`` > 1, 2 and 3 repeat for each choice in turn, each chunk naming its
   choice's ``index``, as SillyTavern's multi-swipe reads them)
4. with ``stream_options.include_usage``: a chunk with ``usage`` (all choices) and no
   choices;
5. ``data: [DONE]``.

A Parlor error at any point (or a reply the backend ends with an error) is sent as an
``{"error": {...}}`` frame, then ``[DONE]``.  Anything else is a bug and propagates.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from app.api.errors import GenerationFailed, error_response
from app.api.logprobs import chat_logprobs, completion_logprobs
from app.api.protocol import (
    ChatChunkChoice,
    ChatCompletionChunk,
    CompletionChoice,
    CompletionResponse,
    DeltaMessage,
    UsageInfo,
    new_id,
    now,
)
from app.chat.api_reasoning import ReasoningDelta
from app.engine.base import (
    FinishReason,
    GenerationEvent,
    GenerationStats,
    TextDelta,
    TokenProbs,
)
from app.errors import ParlorError

log = logging.getLogger(__name__)

DONE_FRAME = "data: [DONE]\n\n"

#: Engine finish reasons as OpenAI names them (vLLM's "abort" for a stopped reply).
_FINISH_REASONS: dict[FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "aborted": "abort",
    "error": "error",
}


def openai_finish_reason(reason: FinishReason) -> str:
    """The ``finish_reason`` value sent for an engine finish reason."""
    return _FINISH_REASONS[reason]


def usage_of(*stats: GenerationStats) -> UsageInfo:
    """The ``usage`` object of finished generations (choices of one prompt)."""
    prompt = stats[0].prompt_tokens if stats else 0
    completion = sum(s.completion_tokens for s in stats)
    return UsageInfo(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def frame(data: str) -> str:
    """One SSE data frame."""
    return f"data: {data}\n\n"


class ChunkFormat(Protocol):
    """Serialises the chunks of one endpoint's stream (as JSON text)."""

    def opening(self) -> list[str]:
        """Chunks sent before any text."""
        ...

    def delta(self, text: str, index: int = 0, probs: tuple[TokenProbs, ...] = ()) -> str:
        """A chunk adding ``text`` (made of the tokens ``probs`` describe, when the
        request asked for logprobs) to choice ``index``."""
        ...

    def reasoning(self, text: str, index: int = 0, probs: tuple[TokenProbs, ...] = ()) -> str:
        """A chunk adding reasoning ``text`` to choice ``index``."""
        ...

    def finish(self, reason: str, index: int = 0) -> str:
        """The chunk carrying choice ``index``'s ``finish_reason``."""
        ...

    def usage(self, usage: UsageInfo) -> str:
        """The usage-only chunk."""
        ...


@dataclass(frozen=True)
class ChatChunks:
    """``chat.completion.chunk`` objects sharing one id."""

    model: str
    #: Alternatives per token in each chunk's ``logprobs`` (None: no logprobs asked).
    top_logprobs: int | None = None
    id: str = field(default_factory=lambda: new_id("chatcmpl"))
    created: int = field(default_factory=now)

    def _chunk(self, choices: list[ChatChunkChoice], usage: UsageInfo | None = None) -> str:
        chunk = ChatCompletionChunk(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )
        return chunk.model_dump_json(exclude_none=True)

    def opening(self) -> list[str]:
        """The role chunk."""
        return [self._chunk([ChatChunkChoice(delta=DeltaMessage(role="assistant", content=""))])]

    def delta(self, text: str, index: int = 0, probs: tuple[TokenProbs, ...] = ()) -> str:
        """A content chunk."""
        return self._text(DeltaMessage(content=text), index, probs)

    def reasoning(self, text: str, index: int = 0, probs: tuple[TokenProbs, ...] = ()) -> str:
        """A ``reasoning_content`` chunk."""
        return self._text(DeltaMessage(reasoning_content=text), index, probs)

    def _text(self, delta: DeltaMessage, index: int, probs: tuple[TokenProbs, ...]) -> str:
        top = self.top_logprobs
        logprobs = None if top is None else chat_logprobs(probs, top)
        return self._chunk([ChatChunkChoice(index=index, delta=delta, logprobs=logprobs)])

    def finish(self, reason: str, index: int = 0) -> str:
        """An empty delta with the finish reason."""
        choice = ChatChunkChoice(index=index, delta=DeltaMessage(), finish_reason=reason)
        return self._chunk([choice])

    def usage(self, usage: UsageInfo) -> str:
        """No choices, only usage."""
        return self._chunk([], usage)


@dataclass(frozen=True)
class CompletionChunks:
    """``text_completion`` objects sharing one id."""

    model: str
    #: ``logprobs``: alternatives per token in each chunk (None: no logprobs asked).
    logprobs: int | None = None
    id: str = field(default_factory=lambda: new_id("cmpl"))
    created: int = field(default_factory=now)
    #: Each choice's text length so far (``text_offset`` counts from the reply's start).
    sent: dict[int, int] = field(default_factory=dict)

    def _chunk(self, choices: list[CompletionChoice], usage: UsageInfo | None = None) -> str:
        chunk = CompletionResponse(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )
        return chunk.model_dump_json(exclude_none=True)

    def opening(self) -> list[str]:
        """Text completions open with text straight away."""
        return []

    def delta(self, text: str, index: int = 0, probs: tuple[TokenProbs, ...] = ()) -> str:
        """A text chunk."""
        offset = self.sent.get(index, 0)
        self.sent[index] = offset + sum(len(p.token.text) for p in probs)
        top = self.logprobs
        logprobs = None if top is None else completion_logprobs(probs, top, offset)
        return self._chunk([CompletionChoice(index=index, text=text, logprobs=logprobs)])

    def reasoning(self, text: str, index: int = 0, probs: tuple[TokenProbs, ...] = ()) -> str:
        """Text completions stay raw: reasoning is text like any other."""
        return self.delta(text, index, probs)

    def finish(self, reason: str, index: int = 0) -> str:
        """Empty text with the finish reason."""
        return self._chunk([CompletionChoice(index=index, text="", finish_reason=reason)])

    def usage(self, usage: UsageInfo) -> str:
        """No choices, only usage."""
        return self._chunk([], usage)


async def sse_stream(
    events: AsyncGenerator[tuple[int, GenerationEvent | ReasoningDelta], None],
    chunks: ChunkFormat,
    *,
    include_usage: bool,
) -> AsyncIterator[str]:
    """The SSE frames of one completion (see the module docstring for the contract);
    ``events`` are ``(choice index, event)`` pairs."""
    try:
        async with aclosing(events) as stream:
            for opening in chunks.opening():
                yield frame(opening)
            finished: list[GenerationStats] = []
            async for index, event in stream:
                if isinstance(event, ReasoningDelta):
                    yield frame(chunks.reasoning(event.text, index, event.probs))
                    continue
                if isinstance(event, TextDelta):
                    if event.text or event.probs:
                        yield frame(chunks.delta(event.text, index, event.probs))
                    continue
                if event.finish_reason == "error":
                    raise GenerationFailed(event.error or "the backend failed without a reason")
                yield frame(chunks.finish(openai_finish_reason(event.finish_reason), index))
                finished.append(event.stats)
            if include_usage and finished:
                yield frame(chunks.usage(usage_of(*finished)))
    except ParlorError as exc:
        log.warning("stream ended with an error: %s", exc)
        yield frame(error_response(exc).model_dump_json())
    yield DONE_FRAME
