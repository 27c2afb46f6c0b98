"""Backends by name: where a backend comes from, and the factories that make them.

A :class:`BackendSource` says what to open (a GGUF file with its load options, or a
remote OpenAI-compatible server); its ``kind`` names the factory in a
:class:`BackendRegistry` that opens it.  The registry is immutable and built by the
composition root, so tests swap in their own factories without patching anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

from app.engine.base import Backend
from app.engine.llamacpp import LlamaCppBackend, LoadOptions
from app.engine.remote import RemoteBackend, RemoteMode, connect_remote
from app.errors import NotFound

LLAMA_CPP: Final = "llama.cpp"
REMOTE: Final = "remote"


@dataclass(frozen=True)
class LocalSource:
    """A GGUF file loaded in this process by llama.cpp."""

    path: Path
    options: LoadOptions
    kind: Literal["llama.cpp"] = LLAMA_CPP


@dataclass(frozen=True)
class RemoteSource:
    """A remote OpenAI-compatible server."""

    url: str
    api_key: str | None = None
    model: str | None = None
    mode: RemoteMode = "completions"
    n_ctx: int = 8192
    #: Ask the server first and refuse one that does not answer (False: use it anyway).
    check: bool = True
    kind: Literal["remote"] = REMOTE


BackendSource = LocalSource | RemoteSource
BackendFactory = Callable[[BackendSource], Backend]


class BackendRegistry:
    """An immutable map from a backend kind (``"llama.cpp"``, ``"remote"``) to its factory."""

    def __init__(self, factories: Mapping[str, BackendFactory]) -> None:
        self._factories: Mapping[str, BackendFactory] = MappingProxyType(dict(factories))

    def names(self) -> tuple[str, ...]:
        """The kinds this registry can open."""
        return tuple(self._factories)

    def open(self, source: BackendSource) -> Backend:
        """A backend for ``source`` (the factory's errors pass through)."""
        factory = self._factories.get(source.kind)
        if factory is None:
            raise NotFound("backend", source.kind)
        return factory(source)


def open_local(source: BackendSource) -> Backend:
    """Load a GGUF file with llama.cpp (``ModelLoadError`` naming the file)."""
    if not isinstance(source, LocalSource):
        raise TypeError(f"llama.cpp cannot open a {source.kind} source")
    return LlamaCppBackend.load(source.path, source.options)


def open_remote(source: BackendSource) -> Backend:
    """Connect to a remote server (``RemoteBackendError`` when checked and unreachable)."""
    if not isinstance(source, RemoteSource):
        raise TypeError(f"the remote backend cannot open a {source.kind} source")
    if source.check:
        return connect_remote(
            source.url, api_key=source.api_key, model=source.model, mode=source.mode,
            n_ctx=source.n_ctx,
        )  # fmt: skip
    return RemoteBackend(
        source.url, api_key=source.api_key, model=source.model, mode=source.mode,
        n_ctx=source.n_ctx,
    )  # fmt: skip


def default_registry() -> BackendRegistry:
    """The registry Parlor runs with: llama.cpp in process and remote servers."""
    return BackendRegistry({LLAMA_CPP: open_local, REMOTE: open_remote})
