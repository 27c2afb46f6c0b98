"""The API's own errors and the one mapping from Parlor errors to OpenAI error bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.api.protocol import ErrorInfo, ErrorResponse
from app.errors import Busy, InputError, ParlorError


class Unauthorized(ParlorError):
    """A ``/v1`` request without the right ``--api-key``."""

    status_code = 401
    code = "invalid_api_key"

    def __init__(self) -> None:
        super().__init__("Authorization: missing or wrong API key (send 'Bearer <key>')")


class QueueFull(Busy):
    """Too many requests are already waiting for the model."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        super().__init__(
            f"generation queue: full ({waiting} requests waiting for the model); retry later"
        )


class UnavailableFeature(InputError):
    """A request asks for something this server was not set up to do."""


def error_response(exc: ParlorError) -> ErrorResponse:
    """The OpenAI-style body and status for ``exc``."""
    param = exc.source if isinstance(exc, InputError) else None
    info = ErrorInfo(message=str(exc), type=exc.error_type, param=param, code=exc.code)
    return ErrorResponse(error=info, status_code=exc.status_code)


def validation_error(errors: Sequence[Any]) -> ErrorResponse:
    """A 400 body for pydantic / FastAPI validation errors: the first one, in one line."""
    error = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    field = ".".join(loc) or "request"
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    return error_response(InputError(field, message))


class GenerationFailed(ParlorError):
    """The backend ended a reply with an error (a remote server dropped the stream, say)."""

    status_code = 502
    error_type = "server_error"
    code = "generation_failed"
