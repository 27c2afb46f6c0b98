"""text-generation-webui's and TabbyAPI's extras under ``/v1``: model info and tokens.

SillyTavern's "Default" (text-generation-webui) type reads ``/v1/internal/model/info``
(the name it picks a tokenizer by) and counts with ``/v1/internal/encode``; its
TabbyAPI type connects only once ``/v1/model/list`` answers and counts with
``/v1/token/encode``.  Generation itself is ``/v1/completions`` for both.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool

from app.api.naming import served_name
from app.api.protocol import ModelCard, ModelList, RequestBody
from app.api.serving import OpenAIServing


class EncodeRequest(RequestBody):
    """``/v1/internal/encode``, ``/v1/internal/token-count``, ``/v1/token/encode``."""

    text: str
    add_bos_token: StrictBool | None = Field(
        None, description="TabbyAPI: add the BOS token the model wants (default true)."
    )


class DecodeRequest(RequestBody):
    """``/v1/internal/decode``, ``/v1/token/decode``."""

    tokens: list[int]


def model_info(serving: OpenAIServing) -> dict[str, Any]:
    """text-generation-webui's ``{model_name, lora_names, loader}``."""
    info = serving.models.current().info
    return {"model_name": served_name(info), "lora_names": [], "loader": "llama.cpp"}


def model_card(serving: OpenAIServing) -> ModelCard:
    """TabbyAPI's ``/v1/model``: the loaded model (``ModelNotLoaded`` without one)."""
    return ModelCard(id=served_name(serving.models.current().info))


def model_list(serving: OpenAIServing) -> ModelList:
    """TabbyAPI's ``/v1/model/list``: the loaded model, the only one Parlor serves."""
    return serving.list_models()


def encode(serving: OpenAIServing, request: EncodeRequest, *, tabby: bool) -> dict[str, Any]:
    """``{"tokens", "length"}``; TabbyAPI adds the BOS token unless told not to."""
    backend = serving.models.current()
    add_bos = request.add_bos_token if request.add_bos_token is not None else tabby
    tokens = serving.requests.tokenize(
        backend, request.text, add_special=add_bos, parse_special=True
    )
    return {"tokens": tokens, "length": len(tokens)}


def decode(serving: OpenAIServing, request: DecodeRequest) -> dict[str, Any]:
    """``{"text"}``."""
    backend = serving.models.current()
    return {"text": serving.requests.detokenize(backend, request.tokens)}
