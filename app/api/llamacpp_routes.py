"""HTTP only: llama.cpp server's routes, mapped onto :class:`LlamaCppServing`.

Errors (a bad field, an unreadable body, a refused key, a wrong method) come out in
llama-server's shape, ``{"error": {"code", "message", "type"}}``.  ``/health`` needs no
key, as in llama-server.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.errors import llamacpp_error
from app.api.llamacpp_protocol import (
    DetokenizeRequest,
    LlamaCompletionRequest,
    LlamaErrorResponse,
    TokenizeRequest,
)
from app.api.llamacpp_serving import LlamaCppServing
from app.api.routing import (
    ALL_METHODS,
    documented,
    fallback,
    key_required,
    respond,
    shaped_route,
)

#: llama.cpp's paths and the one method each answers.
LLAMACPP_ROUTES = {
    "/completion": "POST",
    "/completions": "POST",
    "/tokenize": "POST",
    "/detokenize": "POST",
    "/props": "GET",
    "/health": "GET",
    "/v1/health": "GET",
}


def create_llamacpp_router() -> APIRouter:
    """The llama.cpp routes, behind the API key (``/health`` aside)."""
    router = APIRouter(route_class=shaped_route(llamacpp_error))
    key = [key_required(_serving)]
    generation = documented(LlamaErrorResponse, 400, 401, 413, 429, 500, 502, 503)
    tokens = documented(LlamaErrorResponse, 400, 401, 413, 503)
    for path in ("/completion", "/completions"):
        router.add_api_route(
            path, _completion, methods=["POST"], dependencies=key, responses=generation
        )
    for path, endpoint in (("/tokenize", _tokenize), ("/detokenize", _detokenize)):
        router.add_api_route(path, endpoint, methods=["POST"], dependencies=key, responses=tokens)
    router.add_api_route("/props", _props, methods=["GET"], dependencies=key)
    for path in ("/health", "/v1/health"):
        router.add_api_route(path, _health, methods=["GET"])
    no_route = fallback(LLAMACPP_ROUTES, llamacpp_error)
    for path in LLAMACPP_ROUTES:
        router.add_api_route(path, no_route, methods=ALL_METHODS, include_in_schema=False)
    return router


def _serving(request: Request) -> LlamaCppServing:
    serving: LlamaCppServing = request.app.state.native_serving.llamacpp
    return serving


async def _completion(body: LlamaCompletionRequest, request: Request) -> Response:
    return respond(await _serving(request).completion(body, request.is_disconnected))


def _tokenize(body: TokenizeRequest, request: Request) -> Response:
    return respond(_serving(request).tokenize(body))


def _detokenize(body: DetokenizeRequest, request: Request) -> Response:
    return respond(_serving(request).detokenize(body))


def _props(request: Request) -> Response:
    return respond(_serving(request).props())


def _health(request: Request) -> Response:
    return respond(_serving(request).health())
