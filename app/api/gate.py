"""One API generation at a time, with a bounded number of requests waiting their turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.api.errors import QueueFull

#: Requests that may wait for the model before new ones are refused with 429.
DEFAULT_MAX_WAITING = 8


class GenerationGate:
    """An asyncio lock plus a count of waiters; a full queue refuses with :class:`QueueFull`.

    Lives on the event loop thread only (no locking needed for the counter).
    """

    def __init__(self, max_waiting: int = DEFAULT_MAX_WAITING) -> None:
        if max_waiting < 0:
            raise ValueError("max_waiting cannot be negative")
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._max_waiting = max_waiting

    @property
    def waiting(self) -> int:
        """Requests waiting for their turn right now."""
        return self._waiting

    @property
    def full(self) -> bool:
        """Whether a new request would be refused."""
        return self._lock.locked() and self._waiting >= self._max_waiting

    def check(self) -> None:
        """Raise :class:`QueueFull` if a new request would be refused now."""
        if self.full:
            raise QueueFull(self._waiting)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this request's turn (or raise :class:`QueueFull`), hold it, release it."""
        self.check()
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()
