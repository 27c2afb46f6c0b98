"""The KoboldAI / KoboldCpp dialect over Parlor's engine.

Generation goes through the chat layer's request builder and the shared runner (one
queue with every other dialect and the UI's KV cache).  ``/api/extra/abort`` stops the
request its ``genkey`` names (without one: the API's request in flight) through that
request's own cancel event, never the backend-wide abort.  Errors are raised; the routes
write them in KoboldCpp's shape (:func:`~app.api.errors.kobold_error`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from app.api.errors import GenerationFailed, kobold_error
from app.api.fields import Dialect, read_sampling
from app.api.kobold_protocol import (
    ADVERTISED_MAX_LENGTH,
    DEFAULT_MAX_LENGTH,
    KoboldGenerateRequest,
    KoboldTokenCountRequest,
)
from app.api.naming import served_name
from app.api.native import NativeBase, Prepared
from app.api.runner import DisconnectProbe
from app.engine.base import Finished, TextDelta
from app.errors import ParlorError

log = logging.getLogger(__name__)

#: The KoboldCpp release whose API this dialect follows (SillyTavern gates features on it).
KOBOLDCPP_VERSION = "1.76"
#: The KoboldAI United API version KoboldCpp reports.
KOBOLDAI_API_VERSION = "1.2.5"


def kobold_event(data: dict[str, Any]) -> str:
    """One KoboldCpp SSE event."""
    return f"event: message\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def finish_reason(finished: Finished) -> str:
    """KoboldCpp's ``finish_reason``: ``stop`` (EOS or a stop sequence), else ``length``."""
    return "stop" if finished.finish_reason == "stop" else "length"


class KoboldServing(NativeBase):
    """KoboldCpp's routes over Parlor's engine."""

    async def generate(
        self, request: KoboldGenerateRequest, is_disconnected: DisconnectProbe
    ) -> dict[str, Any]:
        """``POST /api/v1/generate``: ``{"results": [{"text", "finish_reason"}, …]}``."""
        prepared = await self._prepare(request, request.n)
        finished = await self.complete(prepared, is_disconnected, request.genkey)
        results = [
            {
                "text": self._text(f, request),
                "finish_reason": finish_reason(f),
                "prompt_tokens": f.stats.prompt_tokens,
                "completion_tokens": f.stats.completion_tokens,
            }
            for f in finished
        ]
        return {"results": results}

    async def stream(
        self, request: KoboldGenerateRequest, is_disconnected: DisconnectProbe
    ) -> AsyncIterator[str]:
        """``POST /api/extra/generate/stream``: ``event: message`` / ``{"token": …}``."""
        if request.n > 1:
            self.notes.note("n", "the Kobold stream carries one choice")
        prepared = await self._prepare(request, 1)
        self.runner.check()
        return self._events(prepared, request, is_disconnected)

    def check(self, genkey: str | None) -> dict[str, Any]:
        """``/api/extra/generate/check``: the text so far of the request ``genkey`` names."""
        return {"results": [{"text": self.runner.partial(genkey) or ""}]}

    def abort(self, genkey: str | None) -> dict[str, Any]:
        """``POST /api/extra/abort``: stop the request ``genkey`` names (queued or running)."""
        stopped = self.runner.cancel(genkey)
        return {"success": "true" if stopped else "false", "done": "true" if stopped else "false"}

    def model(self) -> dict[str, Any]:
        """``GET /api/v1/model``: ``koboldcpp/<name (family)>``, or ``ReadOnly``."""
        if not self.models.loaded:
            return {"result": "ReadOnly"}
        return {"result": f"koboldcpp/{served_name(self.models.current().info)}"}

    def version(self) -> dict[str, Any]:
        """``GET /api/extra/version``."""
        return {
            "result": "KoboldCpp",
            "version": KOBOLDCPP_VERSION,
            "protected": False,
            "txt2img": False,
            "vision": False,
            "transcribe": False,
        }

    def context_length(self) -> dict[str, Any]:
        """``/api/extra/true_max_context_length`` and ``/api/v1/config/max_context_length``."""
        return {"value": self.models.current().info.n_ctx}

    def max_length(self) -> dict[str, Any]:
        """``GET /api/v1/config/max_length``."""
        return {"value": ADVERTISED_MAX_LENGTH}

    def token_count(self, request: KoboldTokenCountRequest) -> dict[str, Any]:
        """``POST /api/extra/tokencount``: ``{"value": n, "ids": [...]}``."""
        backend = self.models.current()
        ids = self.requests.tokenize(
            backend, request.prompt, add_special=request.special, parse_special=True
        )
        return {"value": len(ids), "ids": ids}

    async def _prepare(self, request: KoboldGenerateRequest, n: int) -> Prepared:
        length = request.max_length or DEFAULT_MAX_LENGTH
        sampling = read_sampling(
            request.body(), Dialect("koboldcpp"), self.notes, max_new_tokens=length
        )
        return await self.prepare(request.full_prompt, sampling, n)

    @staticmethod
    def _text(finished: Finished, request: KoboldGenerateRequest) -> str:
        """The reply, with the stop sequence that ended it unless ``trim_stop``."""
        if request.trim_stop or not finished.stop_word:
            return finished.text
        return finished.text + finished.stop_word

    async def _events(
        self, prepared: Prepared, request: KoboldGenerateRequest, is_disconnected: DisconnectProbe
    ) -> AsyncIterator[str]:
        stream = self.runner.events(
            prepared.backend, prepared.generations, is_disconnected, request.genkey
        )
        try:
            async with aclosing(stream) as events:
                async for _index, event in events:
                    if isinstance(event, TextDelta):
                        if event.text:
                            yield kobold_event({"token": event.text, "finish_reason": "null"})
                        continue
                    if event.finish_reason == "error":
                        raise GenerationFailed(event.error or "the backend failed")
                    tail = self._text(event, request)[len(event.text) :]
                    yield kobold_event({"token": tail, "finish_reason": finish_reason(event)})
        except ParlorError as exc:
            log.warning("stream ended with an error: %s", exc)
            yield kobold_event(kobold_error(exc)[1])
