"""What the native dialects (llama.cpp's server, KoboldCpp) share with ``/v1``.

Each dialect's serving object borrows the OpenAI serving object's parts: the models,
the chat layer's request door, the API key, the runner (one gate, one cancel registry)
and the field notes, so every dialect runs through the same queue, KV cache and context
shift.  :class:`NativeServing` bundles them for :func:`~app.api.router.install_api`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from app.api.runner import DisconnectProbe, GenerationRunner, choices
from app.chat.api_prompts import TextInput
from app.chat.requests import Sampling
from app.engine.base import Backend, Finished, GenerationRequest, ModelInfo

if TYPE_CHECKING:
    from app.api.kobold_serving import KoboldServing
    from app.api.llamacpp_serving import LlamaCppServing
    from app.api.notes import FieldNotes
    from app.api.serving import BackendSource, OpenAIServing
    from app.chat.api_prompts import ApiRequests


@dataclass(frozen=True)
class Prepared:
    """A text completion ready to run: the backend and one request per choice."""

    backend: Backend
    generations: list[GenerationRequest]

    @property
    def info(self) -> ModelInfo:
        """The model that will answer."""
        return self.backend.info


class NativeBase:
    """The parts every native dialect needs, borrowed from the OpenAI serving object."""

    def __init__(self, openai: OpenAIServing) -> None:
        self._openai = openai

    @property
    def models(self) -> BackendSource:
        """Where the active backend comes from."""
        return self._openai.models

    @property
    def requests(self) -> ApiRequests:
        """The chat layer's door for API requests."""
        return self._openai.requests

    @property
    def runner(self) -> GenerationRunner:
        """The runner every dialect shares."""
        return self._openai.runner

    @property
    def notes(self) -> FieldNotes:
        """The field notes every dialect shares."""
        return self._openai.notes

    def authorize(self, authorization: str | None) -> None:
        """Refuse a request without the API key (when one is set)."""
        self._openai.authorize(authorization)

    async def prepare(self, prompt: str | tuple[int, ...], sampling: Sampling, n: int) -> Prepared:
        """The engine requests for ``n`` choices of ``prompt`` (made by the chat layer)."""
        backend = self.models.current()
        text = TextInput(prompt, sampling)
        generation = await run_in_threadpool(self.requests.completion, backend, text)
        return Prepared(backend, choices(generation, n))

    async def complete(
        self, prepared: Prepared, is_disconnected: DisconnectProbe, key: str | None = None
    ) -> list[Finished]:
        """Run every choice to its end."""
        return await self.runner.complete(
            prepared.backend, prepared.generations, is_disconnected, key
        )


@dataclass(frozen=True)
class NativeServing:
    """The native dialects' serving objects (built by the composition root)."""

    llamacpp: LlamaCppServing
    kobold: KoboldServing
