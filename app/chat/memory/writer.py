"""The loaded model writing a summary: one short, cancellable request of its own."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from app.chat.requests import ApiMessage, RequestBuilder, Sampling
from app.engine.base import Finished, GenerationEvent, TextDelta
from app.engine.manager import ModelManager
from app.errors import ParlorError

#: Summaries are written nearly greedily.
SUMMARY_OVERRIDES = {"temperature": 0.2}


class ModelWriter:
    """Writes with whatever model is loaded; None when none is, or when cancelled."""

    def __init__(self, models: ModelManager, requests: RequestBuilder) -> None:
        self._models = models
        self._requests = requests

    def count_tokens(self, text: str) -> int:
        """``text``'s length in the loaded model's tokens (about 3 characters a token
        while none is loaded)."""
        if not self._models.loaded:
            return len(text) // 3
        return self._models.current().count_tokens(text)

    def __call__(
        self, instruction: str, text: str, cancel: threading.Event, max_tokens: int
    ) -> str | None:
        """The model's answer to ``instruction`` about ``text``, in ``max_tokens`` at most."""
        if not self._models.loaded or cancel.is_set():
            return None
        backend = self._models.current()
        messages = [ApiMessage("system", instruction), ApiMessage("user", text)]
        try:
            sampling = Sampling(max_new_tokens=max_tokens, overrides=SUMMARY_OVERRIDES)
            request = self._requests.for_messages(backend, messages, sampling)
        except ParlorError:
            return None
        one_off = replace(request, cancel=cancel, keep_cache=False)  # the chat's cache stays
        answer, ok = collect(backend.stream(one_off))
        return answer if ok and answer and not cancel.is_set() else None


def collect(events: Iterable[GenerationEvent]) -> tuple[str, bool]:
    """The text of a stream's events and whether it ended normally."""
    text, ok = "", False
    for event in events:
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finished):
            ok = event.finish_reason in ("stop", "length")
    return text.strip(), ok
