"""The request-size limit of the API's routes, as plain ASGI middleware.

A body is read in full before the route sees it; one declared (``Content-Length``) or
found larger than the limit is answered at once with 413 in OpenAI's error shape, and
nothing behind the middleware reads a byte of it, in the error shape of the dialect that
owns the path.  Other paths (the Gradio UI's uploads) pass straight through.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import ErrorShape, RequestTooLarge


class RequestSizeLimit:
    """Refuses API request bodies over ``max_bytes`` with 413 before anyone reads them."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, shape_for: Callable[[str], ErrorShape | None]
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.shape_for = shape_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``scope``, holding an API route's body to the limit."""
        if scope["type"] != "http" or self.shape_for(scope["path"]) is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        first = await self._read_body(receive)
        if first is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replaying(first, receive), send)

    async def _read_body(self, receive: Receive) -> Message | None:
        """The whole body as one message (or the client's disconnect), or None once the
        body passes the limit (the rest is left unread)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message  # the client went away: the route sees that first
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        shape = self.shape_for(scope["path"])
        assert shape is not None  # only API paths are held to the limit
        status, body = shape(RequestTooLarge(self.max_bytes))
        response = JSONResponse(body, status_code=status)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _replaying(first: Message, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``first`` once, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return first

    return replay


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
