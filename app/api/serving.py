"""The OpenAI-compatible endpoints' logic, against an injected model manager.

Engine requests come from the chat layer (:class:`~app.chat.api_prompts.ApiRequests`);
this module only picks the backend, runs the generation and shapes the answer.  Each
public method returns a response model, an :class:`ErrorResponse` (a Parlor error met
while serving, through :func:`~app.api.errors.error_response`, the one mapping) or, for a
stream, an async iterator of SSE frames.  The
backend is synchronous: its stream runs in worker threads, one API generation at a time
(:class:`~app.api.gate.GenerationGate`), and a client that goes away stops it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from app.api.errors import ClientGone, GenerationFailed, Unauthorized, error_response
from app.api.gate import GenerationGate
from app.api.grammar import grammar_for
from app.api.protocol import (
    ChatChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatMessageOut,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    DetokenizeRequest,
    DetokenizeResponse,
    ErrorResponse,
    ModelCard,
    ModelList,
    TokenizeRequest,
    TokenizeResponse,
    TokenPiece,
)
from app.api.pump import pumped_events
from app.api.sse import ChatChunks, CompletionChunks, openai_finish_reason, sse_stream, usage_of
from app.chat.api_prompts import ApiRequests
from app.engine.base import Backend, Finished, GenerationEvent, GenerationRequest
from app.errors import ParlorError

log = logging.getLogger(__name__)

#: Returns True once the HTTP client has gone away (``Request.is_disconnected``).
DisconnectProbe = Callable[[], Awaitable[bool]]


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
    ) -> None:
        self._models = models
        self._requests = requests
        self._gate = gate or GenerationGate()
        self._api_key = api_key
        self._max_request_bytes = max_request_bytes
        self._poll = disconnect_poll_seconds

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
        return ModelList(data=[ModelCard(id=self._models.current().info.name)])

    async def create_chat_completion(
        self, request: ChatCompletionRequest, is_disconnected: DisconnectProbe
    ) -> ErrorResponse | ChatCompletionResponse | AsyncIterator[str]:
        """``POST /v1/chat/completions``."""
        try:
            backend = self._models.current()
            generation = await run_in_threadpool(self._chat_request, backend, request)
            model = backend.info.name
            if request.stream:
                self._gate.check()
                events = self._events(backend, generation, is_disconnected)
                return sse_stream(events, ChatChunks(model), include_usage=request.include_usage)
            finished = await self._complete(backend, generation, is_disconnected)
        except ParlorError as exc:
            return self._error(exc)
        message = ChatMessageOut(content=finished.text)
        reason = openai_finish_reason(finished.finish_reason)
        return ChatCompletionResponse(
            model=model,
            choices=[ChatChoice(message=message, finish_reason=reason)],
            usage=usage_of(finished.stats),
        )

    async def create_completion(
        self, request: CompletionRequest, is_disconnected: DisconnectProbe
    ) -> ErrorResponse | CompletionResponse | AsyncIterator[str]:
        """``POST /v1/completions``."""
        try:
            backend = self._models.current()
            generation = await run_in_threadpool(self._completion_request, backend, request)
            model = backend.info.name
            if request.stream:
                self._gate.check()
                events = self._events(backend, generation, is_disconnected)
                chunks = CompletionChunks(model)
                return sse_stream(events, chunks, include_usage=request.include_usage)
            finished = await self._complete(backend, generation, is_disconnected)
        except ParlorError as exc:
            return self._error(exc)
        reason = openai_finish_reason(finished.finish_reason)
        return CompletionResponse(
            model=model,
            choices=[CompletionChoice(text=finished.text, finish_reason=reason)],
            usage=usage_of(finished.stats),
        )

    def tokenize(self, request: TokenizeRequest) -> ErrorResponse | TokenizeResponse:
        """``POST /tokenize``: llama.cpp server semantics."""
        try:
            backend = self._models.current()
            tokens = self._requests.tokenize(
                backend,
                request.content,
                add_special=request.add_special,
                parse_special=request.parse_special,
            )
            if not request.with_pieces:
                return TokenizeResponse(tokens=tokens)
            pieces = [TokenPiece(id=t, piece=backend.detokenize([t])) for t in tokens]
            return TokenizeResponse(tokens=pieces)
        except ParlorError as exc:
            return self._error(exc)

    def detokenize(self, request: DetokenizeRequest) -> ErrorResponse | DetokenizeResponse:
        """``POST /detokenize``."""
        try:
            backend = self._models.current()
            return DetokenizeResponse(content=self._requests.detokenize(backend, request.tokens))
        except ParlorError as exc:
            return self._error(exc)

    # -- running a generation ------------------------------------------------------------

    def _chat_request(self, backend: Backend, request: ChatCompletionRequest) -> GenerationRequest:
        grammar = grammar_for(request.response_format, request.grammar)
        return self._requests.chat(backend, request.to_input(grammar))

    def _completion_request(
        self, backend: Backend, request: CompletionRequest
    ) -> GenerationRequest:
        grammar = grammar_for(None, request.grammar)
        return self._requests.completion(backend, request.to_input(grammar))

    async def _complete(
        self, backend: Backend, generation: GenerationRequest, is_disconnected: DisconnectProbe
    ) -> Finished:
        """Run to the end; the ``Finished`` event (an error reply raises)."""
        finished: Finished | None = None
        async with aclosing(self._events(backend, generation, is_disconnected)) as events:
            async for event in events:
                if isinstance(event, Finished):
                    finished = event
        if finished is None:
            raise ClientGone("the client disconnected before the reply was ready")
        if finished.finish_reason == "error":
            raise GenerationFailed(finished.error or "the backend failed without a reason")
        return finished

    async def _events(
        self, backend: Backend, generation: GenerationRequest, is_disconnected: DisconnectProbe
    ) -> AsyncGenerator[GenerationEvent, None]:
        """The backend's events, produced in a worker thread during this request's turn.

        Ends early (the stream closed) when the client disconnects; a watcher task cancels
        this request if that happens during a long step such as prompt evaluation.
        """
        async with self._gate.turn():
            if await is_disconnected():
                return
            watcher = asyncio.create_task(self._watch(is_disconnected, generation))
            try:
                async with aclosing(pumped_events(backend, generation)) as events:
                    async for event in events:
                        yield event
                        if not isinstance(event, Finished) and await is_disconnected():
                            log.info("client disconnected; stopping its generation")
                            return
            finally:
                watcher.cancel()

    async def _watch(self, is_disconnected: DisconnectProbe, generation: GenerationRequest) -> None:
        while not await is_disconnected():
            await asyncio.sleep(self._poll)
        log.info("client disconnected; stopping its generation")
        generation.cancel.set()  # this request's only: a UI reply beside it goes on

    def _error(self, exc: ParlorError) -> ErrorResponse:
        log.info("API request failed: %s", exc)
        return error_response(exc)
