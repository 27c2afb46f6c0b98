"""Background requests give way: any other request that starts cancels them.

A request marked ``background`` (a group member's slot filled while the user types) is
registered from the moment it asks for the backend until it is done; a request that is
not cancels every registered one, so a reply never waits behind work done ahead of time
for longer than an abort takes, and a background request that has not started yet
never starts.
"""

from __future__ import annotations

import threading

from app.engine.base import GenerationRequest


class GivingWay:
    """The background requests waiting for or using one backend."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[threading.Event] = set()

    def enter(self, request: GenerationRequest) -> None:
        """``request`` asks for the backend: register it, or cancel the background ones."""
        with self._lock:
            if request.background:
                self._waiting.add(request.cancel)
                return
        self.cancel_all()

    def cancel_all(self) -> None:
        """Cancel every background request (a reply starts, or the model is closing)."""
        with self._lock:
            for cancel in self._waiting:
                cancel.set()

    def leave(self, request: GenerationRequest) -> None:
        """``request`` is done."""
        if request.background:
            with self._lock:
                self._waiting.discard(request.cancel)
