"""The llama.cpp server dialect: ``/completion``, ``/tokenize``, ``/detokenize``,
``/props`` and ``/health``, with llama-server's meanings and answer shapes.

Every request goes through the chat layer's request builder and the shared runner, so
``cache_prompt`` is always on: Parlor's KV reuse, context shift and saved logits apply
to these requests exactly as to the UI's.  Errors are raised; the routes write them in
llama-server's shape (:func:`~app.api.errors.llamacpp_error`), a stream ends with an
``{"error": …}`` frame.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from app.api.errors import GenerationFailed, llamacpp_error
from app.api.fields import Dialect, read_sampling
from app.api.llamacpp_format import final, llama_params, probabilities
from app.api.llamacpp_protocol import DetokenizeRequest, LlamaCompletionRequest, TokenizeRequest
from app.api.naming import served_name
from app.api.native import NativeBase, Prepared
from app.api.runner import DisconnectProbe
from app.engine.base import Backend, TextDelta
from app.engine.sampling import SamplerSettings
from app.errors import ParlorError

log = logging.getLogger(__name__)


def sse(data: dict[str, Any]) -> str:
    """One ``data:`` frame (llama-server sends no ``[DONE]`` on ``/completion``)."""
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


class LlamaCppServing(NativeBase):
    """llama-server's native routes over Parlor's engine."""

    async def completion(
        self, request: LlamaCompletionRequest, is_disconnected: DisconnectProbe
    ) -> dict[str, Any] | list[dict[str, Any]] | AsyncIterator[str]:
        """``POST /completion``: one object, a list (``n_cmpl`` > 1) or an SSE stream."""
        backend = self.models.current()
        sampling = read_sampling(
            request.body(), Dialect("llamacpp"), self.notes, n_probs=request.n_probs
        )
        prompt = self._prompt(backend, request.prompt)
        prepared = await self.prepare(prompt, sampling, request.n_cmpl)
        model = served_name(prepared.info)
        if request.stream:
            self.runner.check()
            return self._stream(prepared, model, is_disconnected)
        finished = await self.complete(prepared, is_disconnected)
        n_ctx = prepared.info.n_ctx
        answers = [
            final(f, i, g, model, n_ctx)
            for i, (f, g) in enumerate(zip(finished, prepared.generations, strict=True))
        ]
        return answers[0] if len(answers) == 1 else answers

    def tokenize(self, request: TokenizeRequest) -> dict[str, Any]:
        """``POST /tokenize``: llama.cpp's answer, or vLLM's for its request shape."""
        backend = self.models.current()
        tokens = self.requests.tokenize(
            backend, request.text, add_special=request.add_bos, parse_special=request.parse_special
        )
        if request.is_vllm:
            return {"count": len(tokens), "max_model_len": backend.info.n_ctx, "tokens": tokens}
        if not request.with_pieces:
            return {"tokens": tokens}
        return {"tokens": [{"id": t, "piece": backend.detokenize([t])} for t in tokens]}

    def detokenize(self, request: DetokenizeRequest) -> dict[str, Any]:
        """``POST /detokenize``."""
        backend = self.models.current()
        return {"content": self.requests.detokenize(backend, request.tokens)}

    def props(self) -> dict[str, Any]:
        """``GET /props``: context size, chat template, defaults and the model's path."""
        info = self.models.current().info
        settings = {
            "id": 0,
            "id_task": -1,
            "n_ctx": info.n_ctx,
            "speculative": False,
            "is_processing": False,
            "params": {"n_predict": -1, "n_probs": 0, **llama_params(SamplerSettings())},
        }
        return {
            "default_generation_settings": settings,
            "total_slots": 1,
            "model_alias": served_name(info),
            "model_path": info.path,
            "chat_template": info.chat_template or "",
            "bos_token": info.bos_token,
            "eos_token": info.eos_token,
            "modalities": {"vision": False, "audio": False},
            "build_info": "parlor",
        }

    def health(self) -> dict[str, Any]:
        """``GET /health``: ok once a model is loaded (``ModelNotLoaded`` → 503)."""
        self.models.current()
        return {"status": "ok"}

    def _prompt(self, backend: Backend, prompt: str | list[int | str]) -> str | tuple[int, ...]:
        """Text stays text; token ids (mixed with text, as llama.cpp allows) become ids."""
        if isinstance(prompt, str):
            return prompt
        if len(prompt) == 1 and isinstance(prompt[0], str):
            return prompt[0]
        tokens: list[int] = []
        for index, part in enumerate(prompt):
            if isinstance(part, int):
                tokens.append(part)
                continue
            tokens.extend(
                self.requests.tokenize(backend, part, add_special=index == 0, parse_special=True)
            )
        return tuple(tokens)

    async def _stream(
        self, prepared: Prepared, model: str, is_disconnected: DisconnectProbe
    ) -> AsyncIterator[str]:
        events = self.runner.events(prepared.backend, prepared.generations, is_disconnected)
        n_ctx = prepared.info.n_ctx
        try:
            async with aclosing(events) as stream:
                async for index, event in stream:
                    generation = prepared.generations[index]
                    if isinstance(event, TextDelta):
                        if event.text:
                            yield sse(_chunk(index, event, generation.n_probs))
                        continue
                    if event.finish_reason == "error":
                        raise GenerationFailed(event.error or "the backend failed")
                    last = final(event, index, generation, model, n_ctx)
                    last.pop("completion_probabilities", None)  # sent with each chunk
                    yield sse({**last, "content": ""})
        except ParlorError as exc:
            log.warning("stream ended with an error: %s", exc)
            yield sse(llamacpp_error(exc)[1])


def _chunk(index: int, delta: TextDelta, n_probs: int) -> dict[str, Any]:
    chunk: dict[str, Any] = {"index": index, "content": delta.text, "tokens": [], "stop": False}
    if n_probs:
        chunk["completion_probabilities"] = probabilities(delta.probs)
    return chunk
