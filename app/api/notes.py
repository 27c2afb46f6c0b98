"""What a request asked for that Parlor cannot honour, logged once per field name.

Clients such as SillyTavern send every setting they know on every request; a warning
per request would drown the log.  One :class:`FieldNotes` lives for the whole process
(the composition root builds it and hands it to every dialect), so each field name is
logged the first time it matters, never again.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class FieldNotes:
    """Logs each ignored or unsupported field name once (thread-safe)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def note(self, field: str, reason: str) -> None:
        """Log that ``field`` is not honoured (``reason`` says why), once per name."""
        with self._lock:
            if field in self._seen:
                return
            self._seen.add(field)
        log.warning("API field %s is not honoured: %s", ascii(field), reason)

    @property
    def noted(self) -> frozenset[str]:
        """The field names logged so far."""
        with self._lock:
            return frozenset(self._seen)
