"""HTTP only: text-generation-webui's and TabbyAPI's extras (see :mod:`app.api.textgen`),
added to the ``/v1`` router so their errors are OpenAI's error object."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api import textgen
from app.api.routing import respond
from app.api.serving import OpenAIServing

#: The extras' paths and the one method each answers.
TEXTGEN_ROUTES = {
    "/v1/internal/model/info": "GET",
    "/v1/internal/encode": "POST",
    "/v1/internal/token-count": "POST",
    "/v1/internal/decode": "POST",
    "/v1/model": "GET",
    "/v1/model/list": "GET",
    "/v1/token/encode": "POST",
    "/v1/token/decode": "POST",
}


def add_textgen_routes(router: APIRouter) -> None:
    """Add the extras to the ``/v1`` router."""
    add = router.add_api_route
    add("/v1/internal/model/info", _model_info, methods=["GET"])
    add("/v1/internal/encode", _ooba_encode, methods=["POST"])
    add("/v1/internal/token-count", _token_count, methods=["POST"])
    add("/v1/internal/decode", _decode, methods=["POST"])
    add("/v1/model", _model, methods=["GET"])
    add("/v1/model/list", _model_list, methods=["GET"])
    add("/v1/token/encode", _tabby_encode, methods=["POST"])
    add("/v1/token/decode", _decode, methods=["POST"])


def _serving(request: Request) -> OpenAIServing:
    serving: OpenAIServing = request.app.state.openai_serving
    return serving


def _model_info(request: Request) -> Response:
    return respond(textgen.model_info(_serving(request)))


def _model(request: Request) -> Response:
    return respond(textgen.model_card(_serving(request)))


def _model_list(request: Request) -> Response:
    return respond(textgen.model_list(_serving(request)))


def _ooba_encode(body: textgen.EncodeRequest, request: Request) -> Response:
    return respond(textgen.encode(_serving(request), body, tabby=False))


def _tabby_encode(body: textgen.EncodeRequest, request: Request) -> Response:
    return respond(textgen.encode(_serving(request), body, tabby=True))


def _token_count(body: textgen.EncodeRequest, request: Request) -> Response:
    return respond({"length": textgen.encode(_serving(request), body, tabby=False)["length"]})


def _decode(body: textgen.DecodeRequest, request: Request) -> Response:
    return respond(textgen.decode(_serving(request), body))
