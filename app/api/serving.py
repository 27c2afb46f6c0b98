"""The OpenAI-compatible endpoints' logic, against an injected model manager.

Engine requests come from the chat layer (:class:`~app.chat.api_prompts.ApiRequests`);
this module only picks the backend, runs the generation and shapes the answer.  Each
public method returns a response model, an :class:`ErrorResponse` (a Parlor error met
while serving, through :func:`~app.api.errors.error_response`, the one mapping) or, for a
stream, an async iterator of SSE frames.  Generations run through the
:class:`~app.api.runner.GenerationRunner` every dialect shares: one API generation at a
time, ``n`` choices from one prompt evaluation, and a client that goes away stops it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from app.api.errors import Unauthorized, error_response
from app.api.gate import GenerationGate
from app.api.grammar import grammar_for
from app.api.logprobs import chat_logprobs, completion_logprobs
from app.api.naming import served_name
from app.api.notes import FieldNotes
from app.api.protocol import (
    ChatChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatLogprobs,
    ChatMessageOut,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    CompletionResponse,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from app.api.reasoning import split_reasoning
from app.api.runner import DisconnectProbe, GenerationRunner, choices
from app.api.sse import ChatChunks, CompletionChunks, openai_finish_reason, sse_stream, usage_of
from app.chat.api_prompts import ApiRequests
from app.chat.api_reasoning import ApiReasoning
from app.engine.base import Backend, Finished, GenerationRequest
from app.errors import ParlorError

log = logging.getLogger(__name__)

__all__ = ["BackendSource", "DisconnectProbe", "OpenAIServing", "served_name"]


class BackendSource(Protocol):
    """Hands out the active backend (the :class:`~app.engine.manager.ModelManager`)."""

    @property
    def loaded(self) -> bool:
        """Whether a backend is active."""
        ...

    def current(self) -> Backend:
        """The active backend, or ``ModelNotLoaded``."""
        ...


class OpenAIServing:
    """Chat and text completions, model listing and (de)tokenization."""

    def __init__(
        self,
        models: BackendSource,
        requests: ApiRequests,
        *,
        max_request_bytes: int,
        gate: GenerationGate | None = None,
        api_key: str | None = None,
        disconnect_poll_seconds: float = 0.25,
        runner: GenerationRunner | None = None,
        notes: FieldNotes | None = None,
        reasoning: ApiReasoning | None = None,
    ) -> None:
        self._models = models
        self._requests = requests
        self._reasoning = reasoning or ApiReasoning()
        self._runner = runner or GenerationRunner(gate, disconnect_poll_seconds)
        self._notes = notes or FieldNotes()
        self._api_key = api_key
        self._max_request_bytes = max_request_bytes

    @property
    def models(self) -> BackendSource:
        """Where the active backend comes from."""
        return self._models

    @property
    def requests(self) -> ApiRequests:
        """The chat layer's door for API requests."""
        return self._requests

    @property
    def runner(self) -> GenerationRunner:
        """Runs the generations (shared by every dialect)."""
        return self._runner

    @property
    def notes(self) -> FieldNotes:
        """Where unhonoured fields are logged once (shared by every dialect)."""
        return self._notes

    @property
    def max_request_bytes(self) -> int:
        """The largest request body accepted (a larger one is answered with 413)."""
        return self._max_request_bytes

    def authorize(self, authorization: str | None) -> None:
        """Raise :class:`Unauthorized` unless the ``Authorization`` header carries the key."""
        if self._api_key is None:
            return
        scheme, _, token = (authorization or "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
        if not hmac.compare_digest(given.encode(), self._api_key.encode()):
            raise Unauthorized()

    def list_models(self) -> ModelList:
        """The loaded model, if any."""
        if not self._models.loaded:
            return ModelList(data=[])
        return ModelList(data=[ModelCard(id=served_name(self._models.current().info))])

    async def create_chat_completion(
        self, request: ChatCompletionRequest, is_disconnected: DisconnectProbe
    ) -> ErrorResponse | ChatCompletionResponse | AsyncIterator[str]:
        """``POST /v1/chat/completions``."""
        try:
            backend = self._models.current()
            generation = await run_in_threadpool(self._chat_request, backend, request)
            model = served_name(backend.info)
            generations = choices(generation, request.n or 1)
            if request.stream:
                self._runner.check()
                events = split_reasoning(
                    self._runner.events(backend, generations, is_disconnected),
                    lambda: self._reasoning.split(backend.info, generation),
                )
                chat_chunks = ChatChunks(model, top_logprobs=request.logprob_count)
                return sse_stream(events, chat_chunks, include_usage=request.include_usage)
            finished = await self._runner.complete(backend, generations, is_disconnected)
        except ParlorError as exc:
            return self._error(exc)
        return ChatCompletionResponse(
            model=model,
            choices=[
                ChatChoice(
                    index=i,
                    message=self._message(backend, generation, f.text),
                    finish_reason=openai_finish_reason(f.finish_reason),
                    logprobs=_chat_logprobs(f, request.logprob_count),
                )
                for i, f in enumerate(finished)
            ],
            usage=usage_of(*(f.stats for f in finished)),
        )

    async def create_completion(
        self, request: CompletionRequest, is_disconnected: DisconnectProbe
    ) -> ErrorResponse | CompletionResponse | AsyncIterator[str]:
        """``POST /v1/completions``."""
        try:
            backend = self._models.current()
            generation = await run_in_threadpool(self._completion_request, backend, request)
            model = served_name(backend.info)
            generations = choices(generation, request.n or 1)
            if request.stream:
                self._runner.check()
                events = self._runner.events(backend, generations, is_disconnected)
                chunks = CompletionChunks(model, logprobs=request.logprob_count)
                return sse_stream(events, chunks, include_usage=request.include_usage)
            finished = await self._runner.complete(backend, generations, is_disconnected)
        except ParlorError as exc:
            return self._error(exc)
        return CompletionResponse(
            model=model,
            choices=[
                CompletionChoice(
                    index=i,
                    text=f.text,
                    finish_reason=openai_finish_reason(f.finish_reason),
                    logprobs=_completion_logprobs(f, request.logprob_count),
                )
                for i, f in enumerate(finished)
            ],
            usage=usage_of(*(f.stats for f in finished)),
        )

    # -- running a generation ------------------------------------------------------------

    def _chat_request(self, backend: Backend, request: ChatCompletionRequest) -> GenerationRequest:
        grammar = grammar_for(request.response_format, None)
        return self._requests.chat(backend, request.to_input(self._notes, grammar))

    def _completion_request(
        self, backend: Backend, request: CompletionRequest
    ) -> GenerationRequest:
        return self._requests.completion(backend, request.to_input(self._notes))

    def _message(
        self, backend: Backend, generation: GenerationRequest, text: str
    ) -> ChatMessageOut:
        """A chat reply split into its answer and its reasoning (``reasoning_content``)."""
        parsed = self._reasoning.parse(backend.info, generation, text)
        return ChatMessageOut(content=parsed.answer, reasoning_content=parsed.reasoning or None)

    def _error(self, exc: ParlorError) -> ErrorResponse:
        log.info("API request failed: %s", exc)
        return error_response(exc)


def _chat_logprobs(finished: Finished, top: int | None) -> ChatLogprobs | None:
    return None if top is None else chat_logprobs(finished.probs, top)


def _completion_logprobs(finished: Finished, top: int | None) -> CompletionLogprobs | None:
    return None if top is None else completion_logprobs(finished.probs, top)
