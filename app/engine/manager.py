"""Holds the one active backend; opening a bad file leaves the previous one in place."""

from __future__ import annotations

import threading
from pathlib import Path

from app.engine.base import Backend
from app.engine.llamacpp import LoadOptions
from app.engine.registry import BackendRegistry, BackendSource, LocalSource, default_registry
from app.errors import ModelNotLoaded, ParlorError


class ModelManager:
    """Opens, swaps and unloads the active backend (one at a time).

    Backends are made by a :class:`~app.engine.registry.BackendRegistry` from a
    :class:`~app.engine.registry.BackendSource`; :attr:`source` says what the active
    one was made from (None for a backend handed to :meth:`use`, such as a test fake).
    """

    def __init__(self, options: LoadOptions, registry: BackendRegistry | None = None) -> None:
        self._options = options
        self._registry = registry or default_registry()
        self._backend: Backend | None = None
        self._source: BackendSource | None = None
        self._lock = threading.Lock()
        #: Why the last attempt to open a backend failed (None after a success).
        self.last_error: str | None = None

    @property
    def options(self) -> LoadOptions:
        """The options the next local load uses unless given others."""
        return self._options

    @property
    def source(self) -> BackendSource | None:
        """What the active backend was opened from (None: none, or one given to use)."""
        return self._source

    def current(self) -> Backend:
        """The active backend, or ``ModelNotLoaded``."""
        backend = self._backend
        if backend is None:
            raise ModelNotLoaded()
        return backend

    @property
    def loaded(self) -> bool:
        """Whether a backend is active."""
        return self._backend is not None

    def use(self, backend: Backend) -> None:
        """Make ``backend`` the active one (a fake backend in tests, say)."""
        with self._lock:
            self._swap(backend, None)

    def open(self, source: BackendSource) -> Backend:
        """Open ``source``; on failure the previous backend stays and the error is kept."""
        with self._lock:
            try:
                backend = self._registry.open(source)
            except ParlorError as exc:
                self.last_error = str(exc)
                raise
            if isinstance(source, LocalSource):
                self._options = source.options
            self.last_error = None
            self._swap(backend, source)
            return backend

    def load(self, path: Path, options: LoadOptions | None = None) -> Backend:
        """Load the GGUF file ``path`` (with :attr:`options` unless given others)."""
        return self.open(LocalSource(path, options or self._options))

    def unload(self) -> None:
        """Free the active backend, if any."""
        with self._lock:
            self._swap(None, None)

    def _swap(self, backend: Backend | None, source: BackendSource | None) -> None:
        old, self._backend, self._source = self._backend, backend, source
        if old is not None and old is not backend:
            old.close()
