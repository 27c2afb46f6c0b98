"""HTTP only: the OpenAI-compatible routes, mapped onto :class:`OpenAIServing`.

:func:`install_api` puts the routes and the request-size limit on an app; the serving
object (built by the composition root, :mod:`app.context`) lives on
``app.state.openai_serving``, where the routes fetch it.  Every error a route can meet
(validation, an unreadable body, a refused key, a Parlor error, an unknown path or
method under the API) becomes an OpenAI error body in the route class, so none reaches
FastAPI's default ``{"detail": ...}`` handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from app.api.errors import (
    MethodNotAllowed,
    UnknownRoute,
    error_response,
    unreadable_body,
    validation_error,
)
from app.api.limits import RequestSizeLimit
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

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

#: Every API path and the one method it answers.
API_ROUTES = {
    "/v1/models": "GET",
    "/v1/chat/completions": "POST",
    "/v1/completions": "POST",
    "/tokenize": "POST",
    "/detokenize": "POST",
}
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses (all with OpenAI's error object)."""
    meaning = {
        400: "Invalid request: a bad field, an unreadable body, or a prompt over the context",
        401: "Missing or wrong API key",
        404: "Unknown character or preset",
        413: "Request body over the size limit",
        429: "Generation queue full",
        500: "Parlor failed (the model file, say)",
        502: "The backend failed (a remote server)",
        503: "No model is loaded",
    }
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse, "description": meaning[code]} for code in statuses
    }
    responses["default"] = {"model": ErrorResponse, "description": "Any other error"}
    return responses


_GENERATION_ERRORS = _documented(400, 401, 404, 413, 429, 500, 502, 503)
_TOKEN_ERRORS = _documented(400, 401, 413, 503)


def install_api(app: FastAPI, serving: OpenAIServing) -> None:
    """Serve the API on ``app`` with ``serving``: the routes and the request-size limit."""
    app.state.openai_serving = serving
    app.include_router(create_router())
    app.add_middleware(
        RequestSizeLimit, max_bytes=serving.max_request_bytes, applies_to=is_api_path
    )


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs to the API (everything else is the UI's)."""
    return path in API_ROUTES or path == "/v1" or path.startswith("/v1/")


def create_router() -> APIRouter:
    """The routes of :data:`API_ROUTES`, all behind the API key when one is set, and an
    OpenAI error for any other path or method under the API."""
    router = APIRouter(route_class=_OpenAIRoute, dependencies=[Depends(_authorize)])
    router.add_api_route("/v1/models", _list_models, methods=["GET"], responses=_documented(401))
    router.add_api_route(
        "/v1/chat/completions", _chat_completions, methods=["POST"], responses=_GENERATION_ERRORS
    )
    router.add_api_route(
        "/v1/completions", _completions, methods=["POST"], responses=_GENERATION_ERRORS
    )
    router.add_api_route("/tokenize", _tokenize, methods=["POST"], responses=_TOKEN_ERRORS)
    router.add_api_route("/detokenize", _detokenize, methods=["POST"], responses=_TOKEN_ERRORS)
    for path in ("/v1", "/v1/{rest:path}", "/tokenize", "/detokenize"):
        router.add_api_route(path, _no_route, methods=_ALL_METHODS, include_in_schema=False)
    return router


class _OpenAIRoute(APIRoute):
    """Maps request validation errors, unreadable bodies and Parlor errors to OpenAI
    error bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _respond(validation_error(exc.errors()))
            except ParlorError as exc:
                return _respond(error_response(exc))
            except HTTPException as exc:  # FastAPI could not read the body
                return _respond(error_response(unreadable_body(exc.__cause__, exc.detail)))

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


async def _no_route(request: Request) -> Response:
    method, path = request.method, request.url.path
    allowed = API_ROUTES.get(path)
    if allowed is None:
        return _respond(error_response(UnknownRoute(method, path)))
    response = _respond(error_response(MethodNotAllowed(method, path)))
    response.headers["Allow"] = allowed
    return response


def _respond(result: ErrorResponse | ResponseModel | AsyncIterator[str]) -> Response:
    if isinstance(result, ErrorResponse):
        headers = {"WWW-Authenticate": "Bearer"} if result.status_code == 401 else None
        return JSONResponse(result.model_dump(), status_code=result.status_code, headers=headers)
    if isinstance(result, ResponseModel):
        return JSONResponse(result.model_dump(mode="json", exclude_none=True))
    return StreamingResponse(result, media_type="text/event-stream", headers=SSE_HEADERS)
