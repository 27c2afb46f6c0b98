"""Holds the one loaded backend; loading a bad file leaves the app running without one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from app.engine.base import Backend
from app.engine.llamacpp import LlamaCppBackend, LoadOptions
from app.errors import ModelLoadError, ModelNotLoaded

Loader = Callable[[Path, LoadOptions], Backend]


class ModelManager:
    """Loads, swaps and unloads the active backend (one at a time)."""

    def __init__(self, options: LoadOptions, loader: Loader = LlamaCppBackend.load) -> None:
        self._options = options
        self._loader = loader
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def options(self) -> LoadOptions:
        """The options the next load uses unless given others."""
        return self._options

    def current(self) -> Backend:
        """The loaded backend, or ``ModelNotLoaded``."""
        backend = self._backend
        if backend is None:
            raise ModelNotLoaded()
        return backend

    @property
    def loaded(self) -> bool:
        """Whether a model is loaded."""
        return self._backend is not None

    def use(self, backend: Backend) -> None:
        """Make ``backend`` the active one (a remote or fake backend, say)."""
        with self._lock:
            self._swap(backend)

    def load(self, path: Path, options: LoadOptions | None = None) -> Backend:
        """Load ``path``; on failure the previous model stays loaded and the error is kept."""
        with self._lock:
            chosen = options or self._options
            try:
                backend = self._loader(path, chosen)
            except ModelLoadError as exc:
                self.last_error = str(exc)
                raise
            self._options = chosen
            self.last_error = None
            self._swap(backend)
            return backend

    def unload(self) -> None:
        """Free the loaded model, if any."""
        with self._lock:
            self._swap(None)

    def _swap(self, backend: Backend | None) -> None:
        old, self._backend = self._backend, backend
        if old is not None and old is not backend:
            old.close()
