"""A chat completion's stream with its reasoning sent apart (``delta.reasoning_content``).

The backend's events for each choice go through a :class:`~app.chat.api_reasoning.ReplySplit`;
what it says is reasoning becomes a :class:`ReasoningDelta`, the answer stays a
``TextDelta``.  Text completions never pass through here: they stay raw.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace

from app.chat.api_reasoning import ReasoningDelta, ReplySplit
from app.engine.base import Finished, GenerationEvent, TextDelta

SplitEvent = GenerationEvent | ReasoningDelta


async def split_reasoning(
    events: AsyncGenerator[tuple[int, GenerationEvent], None],
    splitter: Callable[[], ReplySplit],
) -> AsyncGenerator[tuple[int, SplitEvent], None]:
    """``events`` (``(choice index, event)`` pairs) with each choice's reasoning split off."""
    splits: dict[int, ReplySplit] = {}
    async with aclosing(events) as stream:
        async for index, event in stream:
            split = splits.setdefault(index, splitter())
            if isinstance(event, TextDelta):
                reasoning, answer = split.feed(event.text)
                kept = replace(event, text=answer)
            else:
                reasoning, answer = split.finish()
                kept = TextDelta(answer)
            if reasoning:
                yield index, ReasoningDelta(reasoning)
            if answer:
                yield index, kept
            if isinstance(event, Finished):
                yield index, event
