"""The loaded model's name as every dialect serves it."""

from __future__ import annotations

from app.engine.base import ModelInfo


def served_name(info: ModelInfo) -> str:
    """``info.name``, with `` (family)`` added unless the name already says it.

    Clients that pick a tokenizer from the model's name (SillyTavern looks for
    "llama-3", "mistral", "gemma", "qwen2", …) then find one; a name that already
    names its family (SmolLM2's) is served unchanged.
    """
    family = info.family
    if not family or family in info.name.lower():
        return info.name
    return f"{info.name} ({family})"
