"""HTTP only: KoboldAI / KoboldCpp routes, mapped onto :class:`KoboldServing`.

Everything under ``/api`` is this dialect's: an unknown path or a wrong method is
answered in KoboldCpp's error shape, ``{"detail": {"msg", "type"}}``, like every other
error here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.errors import kobold_error
from app.api.kobold_protocol import (
    KoboldGenerateRequest,
    KoboldKeyRequest,
    KoboldTokenCountRequest,
)
from app.api.kobold_serving import KOBOLDAI_API_VERSION, KoboldServing
from app.api.routing import ALL_METHODS, fallback, key_required, respond, shaped_route

#: KoboldCpp's paths and the methods each answers.
KOBOLD_ROUTES = {
    "/api/v1/generate": "POST",
    "/api/extra/generate/stream": "POST",
    "/api/extra/generate/check": "GET, POST",
    "/api/extra/abort": "POST",
    "/api/extra/tokencount": "POST",
    "/api/v1/model": "GET",
    "/api/v1/info/version": "GET",
    "/api/extra/version": "GET",
    "/api/extra/true_max_context_length": "GET",
    "/api/v1/config/max_context_length": "GET",
    "/api/v1/config/max_length": "GET",
}


def is_kobold_path(path: str) -> bool:
    """Whether ``path`` lies under ``/api`` (all of it is this dialect's)."""
    return path == "/api" or path.startswith("/api/")


def create_kobold_router() -> APIRouter:
    """The KoboldCpp routes, behind the API key when one is set."""
    router = APIRouter(
        route_class=shaped_route(kobold_error), dependencies=[key_required(_serving)]
    )
    add = router.add_api_route
    add("/api/v1/generate", _generate, methods=["POST"])
    add("/api/extra/generate/stream", _stream, methods=["POST"])
    add("/api/extra/generate/check", _check, methods=["POST"])
    add("/api/extra/generate/check", _check_get, methods=["GET"])
    add("/api/extra/abort", _abort, methods=["POST"])
    add("/api/extra/tokencount", _token_count, methods=["POST"])
    add("/api/v1/model", _model, methods=["GET"])
    add("/api/v1/info/version", _info_version, methods=["GET"])
    add("/api/extra/version", _version, methods=["GET"])
    for path in ("/api/extra/true_max_context_length", "/api/v1/config/max_context_length"):
        add(path, _context_length, methods=["GET"])
    add("/api/v1/config/max_length", _max_length, methods=["GET"])
    no_route = fallback(KOBOLD_ROUTES, kobold_error)
    for path in ("/api", "/api/{rest:path}"):
        add(path, no_route, methods=ALL_METHODS, include_in_schema=False)
    return router


def _serving(request: Request) -> KoboldServing:
    serving: KoboldServing = request.app.state.native_serving.kobold
    return serving


async def _generate(body: KoboldGenerateRequest, request: Request) -> Response:
    return respond(await _serving(request).generate(body, request.is_disconnected))


async def _stream(body: KoboldGenerateRequest, request: Request) -> Response:
    return respond(await _serving(request).stream(body, request.is_disconnected))


async def _check(request: Request, body: KoboldKeyRequest | None = None) -> Response:
    return respond(_serving(request).check(body.genkey if body else None))


async def _check_get(request: Request) -> Response:
    return respond(_serving(request).check(None))


async def _abort(request: Request, body: KoboldKeyRequest | None = None) -> Response:
    """SillyTavern's abort has no body: it stops the API's request in flight."""
    return respond(_serving(request).abort(body.genkey if body else None))


def _token_count(body: KoboldTokenCountRequest, request: Request) -> Response:
    return respond(_serving(request).token_count(body))


def _model(request: Request) -> Response:
    return respond(_serving(request).model())


def _info_version(_request: Request) -> Response:
    return respond({"result": KOBOLDAI_API_VERSION})


def _version(request: Request) -> Response:
    return respond(_serving(request).version())


def _context_length(request: Request) -> Response:
    return respond(_serving(request).context_length())


def _max_length(request: Request) -> Response:
    return respond(_serving(request).max_length())
