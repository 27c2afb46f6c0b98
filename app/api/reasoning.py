"""A chat completion's stream with its reasoning sent apart (``delta.reasoning_content``).

The backend's events for each choice go through a :class:`~app.chat.api_reasoning.ReplySplit`;
what it says is reasoning becomes a :class:`ReasoningDelta`, the answer stays a
``TextDelta``.  Token probabilities ride on the first piece sent after their tokens came
(the parser may hold text back while a tag could still be starting).  Text completions
never pass through here: they stay raw.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from app.chat.api_reasoning import ReasoningDelta, ReplySplit
from app.engine.base import Finished, GenerationEvent, TextDelta, TokenProbs

SplitEvent = GenerationEvent | ReasoningDelta


async def split_reasoning(
    events: AsyncGenerator[tuple[int, GenerationEvent], None],
    splitter: Callable[[], ReplySplit],
) -> AsyncGenerator[tuple[int, SplitEvent], None]:
    """``events`` (``(choice index, event)`` pairs) with each choice's reasoning split off."""
    splits: dict[int, ReplySplit] = {}
    unsent: dict[int, tuple[TokenProbs, ...]] = {}
    async with aclosing(events) as stream:
        async for index, event in stream:
            split = splits.setdefault(index, splitter())
            if isinstance(event, TextDelta):
                reasoning, answer = split.feed(event.text)
                probs = unsent.pop(index, ()) + event.probs
            else:
                reasoning, answer = split.finish()
                probs = unsent.pop(index, ())
            if reasoning:
                yield index, ReasoningDelta(reasoning, probs)
                probs = ()
            if answer:
                yield index, TextDelta(answer, probs)
                probs = ()
            if isinstance(event, Finished):
                yield index, event
            elif probs:
                unsent[index] = probs
