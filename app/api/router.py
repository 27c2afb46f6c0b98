"""HTTP only: the OpenAI-compatible routes, and the installation of every dialect.

:func:`install_api` puts the routes and the request-size limit on an app; the serving
objects (built by the composition root, :mod:`app.context`) live on ``app.state``
(``openai_serving``, ``native_serving``), where the routes fetch them.  Every error a
route can meet (validation, an unreadable body, a refused key, a Parlor error, an
unknown path or method under the API) becomes an error body in its dialect's shape
(:mod:`app.api.routing`), so none reaches FastAPI's default ``{"detail": ...}``
handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from app.api.errors import ErrorShape, kobold_error, llamacpp_error, openai_error
from app.api.kobold_routes import KOBOLD_ROUTES, create_kobold_router, is_kobold_path
from app.api.limits import RequestSizeLimit
from app.api.llamacpp_routes import LLAMACPP_ROUTES, create_llamacpp_router
from app.api.native import NativeServing
from app.api.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ErrorResponse,
    ResponseModel,
)
from app.api.routing import (
    ALL_METHODS,
    documented,
    fallback,
    key_required,
    respond,
    shaped_route,
)
from app.api.serving import OpenAIServing
from app.api.textgen_routes import TEXTGEN_ROUTES, add_textgen_routes

#: Every OpenAI-dialect path and the one method it answers.
API_ROUTES = {
    "/v1/models": "GET",
    "/v1/chat/completions": "POST",
    "/v1/completions": "POST",
    **TEXTGEN_ROUTES,
}


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses (all with OpenAI's error object)."""
    return documented(ErrorResponse, *statuses)


_GENERATION_ERRORS = _documented(400, 401, 404, 413, 429, 500, 502, 503)


def install_api(app: FastAPI, serving: OpenAIServing, native: NativeServing | None = None) -> None:
    """Serve the API on ``app``: the OpenAI routes with ``serving``, and with ``native``
    the llama.cpp, KoboldCpp and text-generation-webui / TabbyAPI dialects; then the
    request-size limit over all of them."""
    app.state.openai_serving = serving
    if native is not None:
        app.state.native_serving = native
        app.include_router(create_llamacpp_router())
        app.include_router(create_kobold_router())
    app.include_router(create_router())
    app.add_middleware(
        RequestSizeLimit, max_bytes=serving.max_request_bytes, shape_for=error_shape_for
    )


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs to the API (everything else is the UI's)."""
    return error_shape_for(path) is not None


def error_shape_for(path: str) -> ErrorShape | None:
    """The error shape of the dialect owning ``path``, or None for the UI's paths."""
    if path == "/v1" or path.startswith("/v1/"):
        return llamacpp_error if path in LLAMACPP_ROUTES else openai_error
    if path in LLAMACPP_ROUTES:
        return llamacpp_error
    if is_kobold_path(path) or path in KOBOLD_ROUTES:
        return kobold_error
    return None


def create_router() -> APIRouter:
    """The OpenAI routes (and the text-generation-webui / TabbyAPI extras under /v1),
    all behind the API key when one is set, and an OpenAI error for any other path or
    method under /v1."""
    router = APIRouter(
        route_class=shaped_route(openai_error), dependencies=[key_required(_serving)]
    )
    router.add_api_route("/v1/models", _list_models, methods=["GET"], responses=_documented(401))
    router.add_api_route(
        "/v1/chat/completions", _chat_completions, methods=["POST"], responses=_GENERATION_ERRORS
    )
    router.add_api_route(
        "/v1/completions", _completions, methods=["POST"], responses=_GENERATION_ERRORS
    )
    add_textgen_routes(router)
    no_route = fallback(API_ROUTES, openai_error)
    for path in ("/v1", "/v1/{rest:path}"):
        router.add_api_route(path, no_route, methods=ALL_METHODS, include_in_schema=False)
    return router


def _serving(request: Request) -> OpenAIServing:
    serving: OpenAIServing = request.app.state.openai_serving
    return serving


async def _list_models(request: Request) -> Response:
    return _respond(_serving(request).list_models())


async def _chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    result = await _serving(request).create_chat_completion(body, request.is_disconnected)
    return _respond(result)


async def _completions(body: CompletionRequest, request: Request) -> Response:
    result = await _serving(request).create_completion(body, request.is_disconnected)
    return _respond(result)


def _respond(result: ErrorResponse | ResponseModel | AsyncIterator[str]) -> Response:
    if isinstance(result, ErrorResponse):
        headers = {"WWW-Authenticate": "Bearer"} if result.status_code == 401 else None
        return JSONResponse(result.model_dump(), status_code=result.status_code, headers=headers)
    return respond(result)
