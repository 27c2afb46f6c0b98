"""What every dialect's routes share: errors in the dialect's shape, answers, 404/405.

:func:`shaped_route` makes an ``APIRoute`` class that turns everything a route can meet
(a validation error, an unreadable body, a Parlor error) into the dialect's error body;
:func:`respond` turns a route's result into a response; :func:`fallback` answers a path
the dialect owns but does not serve (404) or a method it does not take (405).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, Protocol

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from app.api.errors import (
    ErrorShape,
    MethodNotAllowed,
    UnknownRoute,
    unreadable_body,
    validation_problem,
)
from app.errors import ParlorError

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


#: What each error status means, for the OpenAPI schema.
STATUS_MEANINGS = {
    400: "Invalid request: a bad field, an unreadable body, or a prompt over the context",
    401: "Missing or wrong API key",
    404: "Unknown character, preset or path",
    413: "Request body over the size limit",
    429: "Generation queue full",
    500: "Parlor failed (the model file, say)",
    502: "The backend failed (a remote server)",
    503: "No model is loaded",
}


def documented(model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, each with the dialect's error ``model``."""
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": model, "description": STATUS_MEANINGS[code]} for code in statuses
    }
    responses["default"] = {"model": model, "description": "Any other error"}
    return responses


class Guarded(Protocol):
    """A serving object that checks the API key."""

    def authorize(self, authorization: str | None) -> None:
        """Raise ``Unauthorized`` unless the header carries the key."""
        ...


def key_required(serving_of: Callable[[Request], Guarded]) -> Any:
    """A route dependency refusing requests without the API key (when one is set)."""

    async def authorize(request: Request) -> None:
        serving_of(request).authorize(request.headers.get("authorization"))

    return Depends(authorize)


def error_json(exc: ParlorError, shape: ErrorShape) -> JSONResponse:
    """``exc`` as a JSON response in ``shape`` (a refused key also says ``Bearer``)."""
    status, body = shape(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def shaped_route(shape: ErrorShape) -> type[APIRoute]:
    """An ``APIRoute`` class whose errors all come out as ``shape`` bodies."""

    class ShapedRoute(APIRoute):
        def get_route_handler(self) -> Endpoint:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return error_json(validation_problem(exc.errors()), shape)
                except ParlorError as exc:
                    return error_json(exc, shape)
                except HTTPException as exc:  # FastAPI could not read the body
                    return error_json(unreadable_body(exc.__cause__, exc.detail), shape)

            return route

    return ShapedRoute


def respond(
    result: BaseModel | Mapping[str, Any] | list[Any] | AsyncIterator[str],
) -> Response:
    """A model, mapping or list as JSON (nulls left out of models), a stream as SSE."""
    if isinstance(result, BaseModel):
        return JSONResponse(result.model_dump(mode="json", exclude_none=True))
    if isinstance(result, Mapping):
        return JSONResponse(dict(result))
    if isinstance(result, list):
        return JSONResponse(result)
    return StreamingResponse(result, media_type="text/event-stream", headers=SSE_HEADERS)


def fallback(routes: Mapping[str, str], shape: ErrorShape) -> Endpoint:
    """An endpoint for the paths a dialect owns: 405 (with ``Allow``) on a known path,
    404 on any other, both as ``shape`` bodies."""

    async def no_route(request: Request) -> Response:
        method, path = request.method, request.url.path
        allowed = routes.get(path)
        if allowed is None:
            return error_json(UnknownRoute(method, path), shape)
        response = error_json(MethodNotAllowed(method, path), shape)
        response.headers["Allow"] = allowed
        return response

    return no_route
