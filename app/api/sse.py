"""The server-sent-events stream of a completion, with a fixed contract.

1. chat only: a chunk carrying the role (``delta: {role: "assistant", content: ""}``);
2. one chunk per piece of text;
3. a chunk carrying ``finish_reason``;
4. with ``stream_options.include_usage``: a chunk with ``usage`` and no choices;
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
from app.engine.base import FinishReason, GenerationEvent, GenerationStats, TextDelta
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


def usage_of(stats: GenerationStats) -> UsageInfo:
    """The ``usage`` object of a finished generation."""
    return UsageInfo(
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        total_tokens=stats.prompt_tokens + stats.completion_tokens,
    )


def frame(data: str) -> str:
    """One SSE data frame."""
    return f"data: {data}\n\n"


class ChunkFormat(Protocol):
    """Serialises the chunks of one endpoint's stream (as JSON text)."""

    def opening(self) -> list[str]:
        """Chunks sent before any text."""
        ...

    def delta(self, text: str) -> str:
        """A chunk adding ``text``."""
        ...

    def finish(self, reason: str) -> str:
        """The chunk carrying ``finish_reason``."""
        ...

    def usage(self, usage: UsageInfo) -> str:
        """The usage-only chunk."""
        ...


@dataclass(frozen=True)
class ChatChunks:
    """``chat.completion.chunk`` objects sharing one id."""

    model: str
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

    def delta(self, text: str) -> str:
        """A content chunk."""
        return self._chunk([ChatChunkChoice(delta=DeltaMessage(content=text))])

    def finish(self, reason: str) -> str:
        """An empty delta with the finish reason."""
        return self._chunk([ChatChunkChoice(delta=DeltaMessage(), finish_reason=reason)])

    def usage(self, usage: UsageInfo) -> str:
        """No choices, only usage."""
        return self._chunk([], usage)


@dataclass(frozen=True)
class CompletionChunks:
    """``text_completion`` objects sharing one id."""

    model: str
    id: str = field(default_factory=lambda: new_id("cmpl"))
    created: int = field(default_factory=now)

    def _chunk(self, choices: list[CompletionChoice], usage: UsageInfo | None = None) -> str:
        chunk = CompletionResponse(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )
        return chunk.model_dump_json(exclude_none=True)

    def opening(self) -> list[str]:
        """Text completions open with text straight away."""
        return []

    def delta(self, text: str) -> str:
        """A text chunk."""
        return self._chunk([CompletionChoice(text=text)])

    def finish(self, reason: str) -> str:
        """Empty text with the finish reason."""
        return self._chunk([CompletionChoice(text="", finish_reason=reason)])

    def usage(self, usage: UsageInfo) -> str:
        """No choices, only usage."""
        return self._chunk([], usage)


async def sse_stream(
    events: AsyncGenerator[GenerationEvent, None], chunks: ChunkFormat, *, include_usage: bool
) -> AsyncIterator[str]:
    """The SSE frames of one completion (see the module docstring for the contract)."""
    try:
        async with aclosing(events) as stream:
            for opening in chunks.opening():
                yield frame(opening)
            async for event in stream:
                if isinstance(event, TextDelta):
                    if event.text:
                        yield frame(chunks.delta(event.text))
                    continue
                if event.finish_reason == "error":
                    raise GenerationFailed(event.error or "the backend failed without a reason")
                yield frame(chunks.finish(openai_finish_reason(event.finish_reason)))
                if include_usage:
                    yield frame(chunks.usage(usage_of(event.stats)))
    except ParlorError as exc:
        log.warning("stream ended with an error: %s", exc)
        yield frame(error_response(exc).model_dump_json())
    yield DONE_FRAME
