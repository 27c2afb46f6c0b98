"""The UI's one error boundary: a handler's ``ParlorError`` becomes a status message.

Every event handler is wrapped by :meth:`Boundary.guard`.  The wrapper

- turns a :class:`~app.errors.ParlorError` into an error line on the page's status
  component (a user mistake or bad file, never a Gradio error toast);
- logs anything else with its traceback (a bug) and shows a short apology instead;
- turns an empty update dict ("nothing to change") into a real no-op, because Gradio
  reads ``{}`` as one output value and fails the event.

Handlers return ``{component: value}`` dicts: Gradio leaves the components a dict does
not name untouched, so each handler says exactly what it changes.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import gradio as gr

from app.errors import ParlorError
from app.ui.render import status_html

log = logging.getLogger(__name__)

Updates = dict[Any, Any]
_F = TypeVar("_F", bound=Callable[..., Any])
BUG_MESSAGE = "Something went wrong inside Parlor; the details are in the server log."


class Boundary:
    """Maps errors of one page's handlers onto that page's status component."""

    def __init__(self, status: Any, *, after_failure: Callable[[], Updates] | None = None) -> None:
        self.status = status
        #: Updates that undo a handler's half-way state when it fails (e.g. Stop → Send).
        self._after_failure = after_failure

    def no_change(self) -> Updates:
        """An update that changes nothing (Gradio needs at least one key)."""
        return {self.status: gr.skip()}

    def failure(self, exc: BaseException) -> Updates:
        """The status update for ``exc``."""
        message = str(exc) if isinstance(exc, ParlorError) else BUG_MESSAGE
        updates = self._after_failure() if self._after_failure else {}
        return {**updates, self.status: status_html(message, error=True)}

    def guard(self, handler: _F) -> _F:
        """``handler`` with this boundary around it (generators stay generators)."""
        if inspect.isgeneratorfunction(handler):
            return self._guard_stream(handler)  # type: ignore[return-value]
        return self._guard_call(handler)  # type: ignore[return-value]

    def _guard_call(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                result = handler(*args, **kwargs)
            except Exception as exc:
                return self._caught(handler, exc)
            return self.no_change() if result == {} else result

        return guarded

    def _guard_stream(self, handler: Callable[..., Iterator[Any]]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def guarded(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                for update in handler(*args, **kwargs):
                    yield self.no_change() if update == {} else update
            except Exception as exc:
                yield self._caught(handler, exc)

        return guarded

    def _caught(self, handler: Callable[..., Any], exc: Exception) -> Updates:
        if not isinstance(exc, ParlorError):
            log.exception("UI handler %s failed", getattr(handler, "__qualname__", handler))
        return self.failure(exc)
