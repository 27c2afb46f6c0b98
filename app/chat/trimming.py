"""History trimming in chunks, for models whose KV cache cannot shift.

SillyTavern drops the oldest messages that no longer fit, a few every turn.  Where the
cache can shift, Parlor does the same and shifts the cache.  Where it cannot (recurrent,
hybrid and sliding-window models), every change at the head of the history means
evaluating the whole prompt again.  So there a trim goes down to ``LOW_WATER`` of the
room the history had, and the start then holds still, turn after turn, until the
history fills the room again: one full evaluation per many turns instead of one per turn.

The number of example blocks is held with it: examples fill the room the messages leave,
so without a cap they would come back after a trim and change the prompt's head again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from app.prompt.types import BuiltPrompt, PromptRequest, TokenCounter

#: A trim frees ``1 - LOW_WATER`` of the prompt: oldest messages first, then examples.
LOW_WATER = 0.7


@dataclass(frozen=True)
class _Hold:
    start: int
    max_examples: int


class ChunkedTrim:
    """Remembers, per chat, where its kept history starts and how many examples it has."""

    def __init__(self, low_water: float = LOW_WATER) -> None:
        self._low_water = low_water
        self._holds: dict[int, _Hold] = {}
        self._lock = threading.Lock()

    def build(
        self,
        chat_id: int,
        request: PromptRequest,
        build: Callable[[PromptRequest], BuiltPrompt],
        count: TokenCounter,
    ) -> BuiltPrompt:
        """``request`` built with the chat's held start, trimming again when it overflows.

        Until the first message must go, the prompt is built as SillyTavern builds it.
        A turn that keeps the held head builds the prompt once.
        """
        n = len(request.history)
        with self._lock:
            hold = self._holds.get(chat_id)
        if hold is not None and hold.start < n:
            held = build(_held(request, hold))
            fits = _oldest_kept(held, n) <= _first_shown(request, hold.start)
            if fits and held.examples_in_context == hold.max_examples:
                return held  # the head holds still
        minimal = build(request)
        oldest = _oldest_kept(minimal, n)
        if oldest <= _first_shown(request, 0):  # nothing had to go
            with self._lock:
                self._holds.pop(chat_id, None)
            return minimal
        hold = self._trim(request, minimal, oldest, count)
        with self._lock:
            self._holds[chat_id] = hold
        return build(_held(request, hold))

    def _trim(
        self, request: PromptRequest, minimal: BuiltPrompt, oldest: int, count: TokenCounter
    ) -> _Hold:
        """Free ``1 - low_water`` of the prompt: oldest messages (one stays), then examples."""
        need = minimal.n_tokens * (1 - self._low_water)
        freed, start = 0, oldest
        while start < len(request.history) - 1 and freed < need:
            freed += count(request.history[start].text)
            start += 1
        examples = [s.text for s in minimal.segments if s.kind == "examples"]
        while examples and freed < need:
            freed += count(examples.pop())
        return _Hold(start, len(examples))


def _held(request: PromptRequest, hold: _Hold) -> PromptRequest:
    return replace(request, history_start=hold.start, max_examples=hold.max_examples)


def _first_shown(request: PromptRequest, start: int) -> int:
    """Index of the first history message from ``start`` on that the prompt may show."""
    history = request.history
    return next((i for i in range(start, len(history)) if not history[i].hidden), len(history))


def _oldest_kept(built: BuiltPrompt, n_history: int) -> int:
    """Index of the oldest history message in ``built`` (``n_history`` if none)."""
    kept = [
        s.message_index
        for s in built.segments
        if s.kind == "message" and s.message_index is not None
    ]
    return min(kept, default=n_history)
