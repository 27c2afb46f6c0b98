"""Running API generations: one at a time, n choices per request, stoppable by key.

Every dialect's serving object runs its engine requests here, so all of them share one
:class:`~app.api.gate.GenerationGate` (one API generation at a time, a bounded queue),
the disconnect watch and the cancel registry.  ``n`` choices of one prompt run back to
back inside one turn of the gate: the KV cache still holds the prompt (and, for long
prompts, its last logits), so only the first choice evaluates it.  A client's abort
(KoboldCpp's ``/api/extra/abort``) sets that request's own ``cancel`` event, never the
backend-wide abort: a UI reply beside it goes on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from app.api.errors import ClientGone, GenerationFailed
from app.api.gate import GenerationGate
from app.api.pump import pumped_events
from app.engine.base import Backend, Finished, GenerationEvent, GenerationRequest, TextDelta

log = logging.getLogger(__name__)

#: Returns True once the HTTP client has gone away (``Request.is_disconnected``).
DisconnectProbe = Callable[[], Awaitable[bool]]
_SEEDS = 2**31


@dataclass
class _Run:
    """A request being served: its stop signal and the text so far (all choices)."""

    cancel: threading.Event
    text: list[str] = field(default_factory=list)


def choices(generation: GenerationRequest, n: int) -> list[GenerationRequest]:
    """``n`` requests for the same prompt sharing one ``cancel``: a fixed seed becomes
    seed, seed + 1, …; a random one stays random (a fresh seed each)."""
    seed = generation.sampler.seed
    out = [generation]
    for index in range(1, n):
        next_seed = (seed + index) % _SEEDS if seed >= 0 else random.getrandbits(31)
        sampler = generation.sampler.model_copy(update={"seed": next_seed})
        out.append(replace(generation, sampler=sampler))
    return out


class GenerationRunner:
    """Runs engine requests for the API's dialects (see the module docstring)."""

    def __init__(self, gate: GenerationGate | None = None, poll_seconds: float = 0.25) -> None:
        self._gate = gate or GenerationGate()
        self._poll = poll_seconds
        self._runs: dict[str, _Run] = {}

    def check(self) -> None:
        """Raise ``QueueFull`` if a new request would be refused now."""
        self._gate.check()

    def cancel(self, key: str | None = None) -> bool:
        """Stop the request known by ``key`` (queued or running); without a key, every
        API request in flight.  False when there was none."""
        if key:
            runs = [self._runs[key]] if key in self._runs else []
        else:
            runs = list(self._runs.values())
        for run in runs:
            run.cancel.set()
        return bool(runs)

    def partial(self, key: str | None = None) -> str | None:
        """The text so far of the request known by ``key`` (without a key: the only one
        in flight), or None."""
        if key:
            run = self._runs.get(key)
        else:
            run = next(iter(self._runs.values())) if len(self._runs) == 1 else None
        return None if run is None else "".join(run.text)

    async def complete(
        self,
        backend: Backend,
        generations: Sequence[GenerationRequest],
        is_disconnected: DisconnectProbe,
        key: str | None = None,
    ) -> list[Finished]:
        """Run every choice to its end; their ``Finished`` events (an error raises)."""
        finished: list[Finished] = []
        stream = self.events(backend, generations, is_disconnected, key)
        async with aclosing(stream) as events:
            async for _index, event in events:
                if isinstance(event, Finished):
                    finished.append(event)
        if len(finished) < len(generations):
            raise ClientGone("the client disconnected before the reply was ready")
        for event in finished:
            if event.finish_reason == "error":
                raise GenerationFailed(event.error or "the backend failed without a reason")
        return finished

    async def events(
        self,
        backend: Backend,
        generations: Sequence[GenerationRequest],
        is_disconnected: DisconnectProbe,
        key: str | None = None,
    ) -> AsyncGenerator[tuple[int, GenerationEvent], None]:
        """``(choice index, event)`` for each choice in turn, in one turn of the gate.

        Ends early when the client disconnects; a watcher task cancels the request if
        that happens during a long step such as prompt evaluation.
        """
        name = key or uuid.uuid4().hex
        run = _Run(generations[0].cancel)
        self._runs[name] = run
        try:
            async with self._gate.turn():
                if await is_disconnected():
                    return
                watcher = asyncio.create_task(self._watch(is_disconnected, run.cancel))
                try:
                    for index, generation in enumerate(generations):
                        async for event in self._one(backend, generation, is_disconnected, run):
                            yield index, event
                        if await is_disconnected():
                            return
                finally:
                    watcher.cancel()
        finally:
            if self._runs.get(name) is run:
                del self._runs[name]

    async def _one(
        self,
        backend: Backend,
        generation: GenerationRequest,
        is_disconnected: DisconnectProbe,
        run: _Run,
    ) -> AsyncGenerator[GenerationEvent, None]:
        async with aclosing(pumped_events(backend, generation)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    run.text.append(event.text)
                yield event
                if not isinstance(event, Finished) and await is_disconnected():
                    log.info("client disconnected; stopping its generation")
                    run.cancel.set()
                    return

    async def _watch(self, is_disconnected: DisconnectProbe, cancel: threading.Event) -> None:
        while not await is_disconnected():
            await asyncio.sleep(self._poll)
        log.info("client disconnected; stopping its generation")
        cancel.set()  # this request's only: a UI reply beside it goes on
