"""The loaded model writing a summary: one short, cancellable request of its own."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from app.chat.requests import ApiMessage, RequestBuilder, Sampling
from app.engine.base import Finished, GenerationEvent, TextDelta
from app.engine.manager import ModelManager
from app.errors import ParlorError

#: A summary's length in tokens, at most.
SUMMARY_TOKENS = 160
#: Summaries are written nearly greedily.
SUMMARY_SAMPLING = Sampling(max_new_tokens=SUMMARY_TOKENS, overrides={"temperature": 0.2})


class ModelWriter:
    """Writes with whatever model is loaded; None when none is, or when cancelled."""

    def __init__(self, models: ModelManager, requests: RequestBuilder) -> None:
        self._models = models
        self._requests = requests

    def __call__(self, instruction: str, text: str, cancel: threading.Event) -> str | None:
        """The model's answer to ``instruction`` about ``text``."""
        if not self._models.loaded or cancel.is_set():
            return None
        backend = self._models.current()
        messages = [ApiMessage("system", instruction), ApiMessage("user", text)]
        try:
            request = self._requests.for_messages(backend, messages, SUMMARY_SAMPLING)
        except ParlorError:
            return None
        answer, ok = collect(backend.stream(replace(request, cancel=cancel)))
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
