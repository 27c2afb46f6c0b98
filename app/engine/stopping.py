"""Stop strings over streamed text, without re-scanning the whole reply each step."""

from __future__ import annotations

from collections.abc import Iterable


class StopMatcher:
    """Feeds streamed text through, holding back any tail that may begin a stop string.

    ``feed`` returns the text that is safe to show now; once a stop string appears,
    ``stopped`` is true and nothing after the stop string is ever returned.
    """

    def __init__(self, stops: Iterable[str]) -> None:
        self._stops = tuple(s for s in dict.fromkeys(stops) if s)
        self._longest = max((len(s) for s in self._stops), default=0)
        self._pending = ""
        self.stopped = False
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """Add ``text``; return what can be emitted now."""
        if self.stopped or not text:
            return ""
        if not self._stops:
            return text
        window = self._pending + text
        cut = self._first_stop(window)
        if cut is not None:
            self.stopped = True
            self._pending = ""
            return window[:cut]
        keep = self._held_back_length(window)
        self._pending = window[len(window) - keep :] if keep else ""
        return window[: len(window) - keep]

    def flush(self) -> str:
        """End of stream: release whatever was held back."""
        rest, self._pending = self._pending, ""
        return "" if self.stopped else rest

    def _first_stop(self, window: str) -> int | None:
        best: int | None = None
        for stop in self._stops:
            index = window.find(stop)
            if index != -1 and (best is None or index < best):
                best, self.matched = index, stop
        return best

    def _held_back_length(self, window: str) -> int:
        limit = min(len(window), self._longest - 1)
        for length in range(limit, 0, -1):
            tail = window[-length:]
            if any(stop.startswith(tail) for stop in self._stops):
                return length
        return 0
