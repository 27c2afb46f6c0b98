"""HTTP only: the OpenAI-compatible routes, mapped onto :class:`OpenAIServing`.

The serving object lives on ``app.state.openai_serving`` (see :func:`build_openai_serving`);
routes fetch it from there, call it and turn its result into a JSON or SSE response.
Validation errors and refused API keys become OpenAI-style error bodies in the route
class, so they never reach FastAPI's default ``{"detail": ...}`` handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute

from app.api.errors import error_response, validation_error
from app.api.gate import GenerationGate
from app.api.prompting import RequestPlanner
from app.api.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
    ErrorResponse,
    ResponseModel,
    TokenizeRequest,
)
from app.api.serving import OpenAIServing
from app.errors import ParlorError
from app.prompt.sandbox import TemplateSandbox

if TYPE_CHECKING:
    from app.context import AppContext

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def build_openai_serving(context: AppContext) -> OpenAIServing:
    """The serving object for ``context``: its models, presets, characters and API key."""
    planner = RequestPlanner(
        TemplateSandbox(), presets=context.presets, characters=context.character_prompts
    )
    return OpenAIServing(
        context.models, planner, gate=GenerationGate(), api_key=context.settings.api_key
    )


def create_router() -> APIRouter:
    """The routes: ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``,
    ``/tokenize`` and ``/detokenize``, all behind the API key when one is set."""
    router = APIRouter(route_class=_OpenAIRoute, dependencies=[Depends(_authorize)])
    router.add_api_route("/v1/models", _list_models, methods=["GET"])
    router.add_api_route("/v1/chat/completions", _chat_completions, methods=["POST"])
    router.add_api_route("/v1/completions", _completions, methods=["POST"])
    router.add_api_route("/tokenize", _tokenize, methods=["POST"])
    router.add_api_route("/detokenize", _detokenize, methods=["POST"])
    return router


class _OpenAIRoute(APIRoute):
    """Maps request validation errors and Parlor errors to OpenAI error bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _respond(validation_error(exc.errors()))
            except ParlorError as exc:
                return _respond(error_response(exc))

        return route


def _serving(request: Request) -> OpenAIServing:
    serving: OpenAIServing = request.app.state.openai_serving
    return serving


async def _authorize(request: Request) -> None:
    _serving(request).authorize(request.headers.get("authorization"))


async def _list_models(request: Request) -> Response:
    return _respond(_serving(request).list_models())


async def _chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    result = await _serving(request).create_chat_completion(body, request.is_disconnected)
    return _respond(result)


async def _completions(body: CompletionRequest, request: Request) -> Response:
    result = await _serving(request).create_completion(body, request.is_disconnected)
    return _respond(result)


def _tokenize(body: TokenizeRequest, request: Request) -> Response:
    return _respond(_serving(request).tokenize(body))


def _detokenize(body: DetokenizeRequest, request: Request) -> Response:
    return _respond(_serving(request).detokenize(body))


def _respond(result: ErrorResponse | ResponseModel | AsyncIterator[str]) -> Response:
    if isinstance(result, ErrorResponse):
        headers = {"WWW-Authenticate": "Bearer"} if result.status_code == 401 else None
        return JSONResponse(result.model_dump(), status_code=result.status_code, headers=headers)
    if isinstance(result, ResponseModel):
        return JSONResponse(result.model_dump(mode="json", exclude_none=True))
    return StreamingResponse(result, media_type="text/event-stream", headers=SSE_HEADERS)
