"""One reply's generation with its reasoning block parsed, timed and held to a budget.

:class:`ThinkingRun` streams the backend's events unchanged while a
:class:`~app.prompt.reasoning_parser.ReasoningParser` splits the text into reasoning and
answer.  With a reasoning budget the first request may write at most that many tokens;
if the reply is still inside its block then, the closing tag (and separator) is written
for it and a second request, built by the :class:`RequestBuilder`, lets the answer
begin.  Stop (the request's ``cancel``) reaches both requests.  The second request goes
on from the prompt's text, so a budget needs a text prompt: the local model or a remote
server in completions mode (a chat-mode server gets the messages again).

The time spent thinking runs from the first token to the end of the block, so prompt
processing does not count as thought.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from app.chat.requests import RequestBuilder
from app.engine.base import Backend, Finished, GenerationRequest, GenerationStats, TextDelta
from app.errors import ContextLengthExceeded
from app.prompt.reasoning import ReasoningTemplate, close_text
from app.prompt.reasoning_parser import Parsed, ParseState, ReasoningParser


@dataclass(frozen=True)
class ReplyPlan:
    """Where a reply starts with respect to its reasoning block, and its budget."""

    template: ReasoningTemplate | None = None
    #: ``thinking``: the prompt opened the block; ``answer``: no block is expected.
    start: ParseState = "start"
    #: A continued reply's reasoning (its block still open) or answer so far.
    reasoning: str = ""
    answer: str = ""
    #: Reasoning tokens after which the block is closed for the model (None: no limit).
    budget: int | None = None


@dataclass(frozen=True)
class Thought:
    """A reply's reasoning as it stands: the text, whether it goes on, how long it took."""

    text: str = ""
    thinking: bool = False
    #: Milliseconds from the first token to the end of the block (None: no block).
    duration_ms: int | None = None


class ThinkingRun:
    """Streams one reply; :meth:`parsed` and :meth:`thought` say what it holds so far."""

    def __init__(
        self,
        backend: Backend,
        request: GenerationRequest,
        plan: ReplyPlan,
        requests: RequestBuilder,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._request = request
        self._plan = plan
        self._requests = requests
        self._clock = clock
        self._parser = ReasoningParser(
            plan.template, start=plan.start, reasoning=plan.reasoning, answer=plan.answer
        )
        #: What follows the prompt: the generated text and a forced closing tag.
        self._generated = ""
        self._started: float | None = None
        self._ended: float | None = None
        #: Whether the budget ran out inside the block and Parlor closed it.
        self.forced = False
        self._went_on = False

    def feed(self, text: str) -> None:
        """Reply text that is already in the prompt ("Start Reply With")."""
        self._parser.feed(text)

    def events(self) -> Iterator[TextDelta | Finished]:
        """The reply's events: deltas as they come, then one ``Finished`` for the whole."""
        request: GenerationRequest | None = self._first()
        finished: Finished | None = None
        while request is not None:
            for event in self._backend.stream(request):
                if isinstance(event, TextDelta):
                    self._take(event.text)
                    yield event
                else:
                    finished = _merged(finished, event)
            closing, request = self._next(finished)
            if closing:
                self._take(closing)
                yield TextDelta(closing)
        if finished is not None:
            yield replace(finished, text=self._generated)

    def parsed(self) -> Parsed:
        """The reasoning and answer so far."""
        return self._parser.parsed()

    def finish(self) -> Parsed:
        """The reasoning and answer of the finished reply."""
        return self._parser.finish()

    def thought(self, parsed: Parsed) -> Thought:
        """``parsed``'s reasoning with its timing."""
        if not parsed.reasoning:
            return Thought()
        end = self._ended if self._ended is not None else self._clock()
        start = self._started if self._started is not None else end
        return Thought(parsed.reasoning, parsed.state == "thinking", round((end - start) * 1000))

    # -- internals ---------------------------------------------------------------------

    def _take(self, text: str) -> None:
        if self._started is None:
            self._started = self._clock()
        was_thinking = self._parser.state != "answer"
        self._generated += text
        self._parser.feed(text)
        if was_thinking and self._parser.state == "answer":
            self._ended = self._clock()

    def _budget(self) -> int | None:
        """The budget, where it applies: the reply may think and may not write it all."""
        plan = self._plan
        can_think = plan.template is not None and plan.template.parses
        if plan.budget is None or not can_think or plan.start == "answer":
            return None
        return plan.budget if plan.budget < self._request.max_new_tokens else None

    def _first(self) -> GenerationRequest:
        budget = self._budget()
        return self._request if budget is None else replace(self._request, max_new_tokens=budget)

    def _next(self, finished: Finished | None) -> tuple[str, GenerationRequest | None]:
        """The closing text Parlor writes and the request after the budget (None: done)."""
        done = finished is None or finished.finish_reason != "length"
        if self._budget() is None or self._went_on or done or finished is None:
            return "", None
        self._went_on = True
        left = self._request.max_new_tokens - finished.stats.completion_tokens
        template = self._plan.template
        inside = self._parser.state == "thinking" and template is not None
        closing = close_text(self._generated, template) if inside and template else ""
        more = self._generated + closing
        try:
            request = self._requests.continued(self._backend, self._request, more, left)
        except ContextLengthExceeded:
            return "", None  # the context is full: the reply ends here
        self.forced = bool(closing)
        return closing, request


def _merged(first: Finished | None, then: Finished) -> Finished:
    """One ``Finished`` for a reply written by two requests."""
    if first is None:
        return then
    a, b = first.stats, then.stats
    stats = GenerationStats(
        prompt_tokens=a.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        tokens_reused=a.tokens_reused,
        tokens_evaluated=a.tokens_evaluated + b.tokens_evaluated,
        prompt_seconds=a.prompt_seconds + b.prompt_seconds,
        decode_seconds=a.decode_seconds + b.decode_seconds,
        seed=a.seed,
    )
    return replace(then, stats=stats)
