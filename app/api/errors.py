"""The API's own errors and the one mapping from Parlor errors to HTTP statuses.

HTTP status codes and OpenAI ``error.type`` values belong to the API alone: the domain
errors in :mod:`app.errors` carry none.  :data:`HTTP_ERRORS` maps error classes to both;
for an error the most specific class listed in its MRO wins.  Each dialect writes the
body in its own server's shape (:data:`ErrorShape`): OpenAI's error object on ``/v1``,
llama.cpp's ``{"error": {"code", "message", "type"}}`` and KoboldCpp's
``{"detail": {"msg", "type"}}``, always with the status this table gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from app.api.protocol import ErrorInfo, ErrorResponse
from app.errors import (
    Busy,
    ContextLengthExceeded,
    InputError,
    ModelLoadError,
    ModelNotLoaded,
    NotFound,
    ParlorError,
    RemoteBackendError,
    RemoteRateLimited,
)


class Unauthorized(ParlorError):
    """A ``/v1`` request without the right ``--api-key``."""

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


class GenerationFailed(ParlorError):
    """The backend ended a reply with an error (a remote server dropped the stream, say)."""

    code = "generation_failed"


class ClientGone(ParlorError):
    """The client disconnected before its reply was ready (nobody reads this)."""

    code = "client_closed_request"


class RequestTooLarge(ParlorError):
    """A request body over ``--max-request-bytes``."""

    code = "request_too_large"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body: larger than the limit of {limit} bytes")


class UnknownRoute(ParlorError):
    """A path under the API that nothing serves."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"Invalid URL ({method} {path})")


class MethodNotAllowed(ParlorError):
    """A known API path asked with a method it does not answer."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"Method not allowed ({method} {path})")


@dataclass(frozen=True)
class HttpError:
    """How an error is sent: its HTTP status and OpenAI ``error.type``."""

    status: int
    type: str = "invalid_request_error"


#: Error class → status and type; an error's most specific listed class wins.  A
#: ``ParlorError`` not listed otherwise is Parlor's own failure (500).
HTTP_ERRORS: dict[type[ParlorError], HttpError] = {
    ParlorError: HttpError(500, "server_error"),
    InputError: HttpError(400),
    ContextLengthExceeded: HttpError(400),
    Unauthorized: HttpError(401),
    NotFound: HttpError(404),
    UnknownRoute: HttpError(404),
    MethodNotAllowed: HttpError(405),
    RequestTooLarge: HttpError(413),
    Busy: HttpError(429, "rate_limit_error"),
    ClientGone: HttpError(499),
    ModelLoadError: HttpError(500, "model_error"),
    GenerationFailed: HttpError(502, "server_error"),
    RemoteBackendError: HttpError(502, "remote_error"),
    RemoteRateLimited: HttpError(429, "rate_limit_error"),
    ModelNotLoaded: HttpError(503, "model_error"),
}


def http_error(exc: ParlorError) -> HttpError:
    """The status and type ``exc`` is sent with."""
    for cls in type(exc).__mro__:
        known = HTTP_ERRORS.get(cls)
        if known is not None:
            return known
    return HTTP_ERRORS[ParlorError]


def error_response(exc: ParlorError) -> ErrorResponse:
    """The OpenAI-style body and status for ``exc``."""
    sent = http_error(exc)
    param = _printable(exc.source) if isinstance(exc, InputError) else None
    info = ErrorInfo(message=_printable(str(exc)), type=sent.type, param=param, code=exc.code)
    return ErrorResponse(error=info, status_code=sent.status)


def validation_error(errors: Sequence[Any]) -> ErrorResponse:
    """A 400 body for pydantic / FastAPI validation errors: the first one, in one line."""
    return error_response(validation_problem(errors))


def validation_problem(errors: Sequence[Any]) -> InputError:
    """The first of pydantic's / FastAPI's validation errors as an ``InputError``."""
    error = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    if error.get("type") == "json_invalid":
        context = error.get("ctx")
        problem = context.get("error") if isinstance(context, dict) else None
        problem = problem or "JSON decode error"
        return InputError("body", f"is not valid JSON ({problem})")
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    field = ".".join(loc) or "request"
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    return InputError(field, message)


def unreadable_body(cause: BaseException | None, detail: str) -> InputError:
    """The error for a body FastAPI could not parse (``cause`` is what it raised)."""
    if isinstance(cause, UnicodeDecodeError):
        return InputError("body", "is not valid UTF-8")
    if isinstance(cause, RecursionError):
        return InputError("body", "JSON is nested too deeply")
    return InputError("body", detail)


def _printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot hold (a lone surrogate) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# -- each dialect's error body -------------------------------------------------------------

#: Writes the body of an error in one dialect's shape: (HTTP status, JSON body).
ErrorShape = Callable[[ParlorError], tuple[int, dict[str, Any]]]

#: HTTP status → llama-server's ``error.type`` (``tools/server/utils.hpp``).
LLAMACPP_TYPES: Final[Mapping[int, str]] = MappingProxyType(
    {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        405: "invalid_request_error",
        413: "invalid_request_error",
        429: "unavailable_error",
        499: "invalid_request_error",
        501: "not_supported_error",
        503: "unavailable_error",
    }
)
#: HTTP status → KoboldCpp's ``detail.type`` (``koboldcpp.py``).
KOBOLD_TYPES: Final[Mapping[int, str]] = MappingProxyType(
    {
        400: "bad_input",
        401: "unauthorized",
        404: "not_found",
        405: "bad_input",
        413: "bad_input",
        429: "service_unavailable",
        499: "bad_input",
        503: "service_unavailable",
    }
)


def openai_error(exc: ParlorError) -> tuple[int, dict[str, Any]]:
    """OpenAI's ``{"error": {message, type, param, code}}``."""
    body = error_response(exc)
    return body.status_code, body.model_dump()


def llamacpp_error(exc: ParlorError) -> tuple[int, dict[str, Any]]:
    """llama-server's ``{"error": {"code": status, "message", "type"}}``."""
    status = http_error(exc).status
    kind = LLAMACPP_TYPES.get(status, "server_error")
    if isinstance(exc, ContextLengthExceeded):
        kind = "exceed_context_size_error"
    return status, {"error": {"code": status, "message": _printable(str(exc)), "type": kind}}


def kobold_error(exc: ParlorError) -> tuple[int, dict[str, Any]]:
    """KoboldCpp's ``{"detail": {"msg", "type"}}`` (plus ``error`` on a refused key)."""
    status = http_error(exc).status
    detail: dict[str, Any] = {"msg": _printable(str(exc)), "type": KOBOLD_TYPES.get(status)}
    detail["type"] = detail["type"] or "server_error"
    if status == 401:
        detail = {"error": "Unauthorized", **detail}
    return status, {"detail": detail}
