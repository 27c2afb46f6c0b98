"""The model family of a GGUF file, from its metadata and name.

Clients pick a tokenizer from a model's name (SillyTavern looks for "llama-3",
"mistral", "gemma", "qwen2", "yi", "command-r" or "jamba"), so the API puts the family
into the names it serves.  The pre-tokenizer identifies the tokenizer best; the
architecture and the name fill in where it says nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

#: ``tokenizer.ggml.pre`` → family.
PRE_TOKENIZER_FAMILIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "llama-bpe": "llama-3",
        "llama3": "llama-3",
        "tekken": "mistral",
        "qwen2": "qwen2",
        "command-r": "command-r",
        "smollm": "smollm",
        "deepseek-llm": "deepseek",
        "deepseek-coder": "deepseek",
        "deepseek-v3": "deepseek",
        "gpt-4o": "gpt-4o",
        "chatglm-bpe": "glm",
        "glm4": "glm",
    }
)
#: ``general.architecture`` prefix → family (the first prefix that matches wins).
ARCHITECTURE_FAMILIES: Final[tuple[tuple[str, str], ...]] = (
    ("qwen", "qwen2"),
    ("gemma", "gemma"),
    ("command-r", "command-r"),
    ("cohere", "command-r"),
    ("jamba", "jamba"),
    ("mistral", "mistral"),
    ("phi", "phi"),
    ("deepseek", "deepseek"),
    ("glm", "glm"),
)
#: Words in a llama-architecture model's name that name a family of their own.
NAME_FAMILIES: Final[tuple[tuple[str, str], ...]] = (
    ("mixtral", "mistral"),
    ("mistral", "mistral"),
    ("llama-3", "llama-3"),
    ("llama3", "llama-3"),
    ("yi-", "yi"),
)


def model_family(metadata: Mapping[str, Any], name: str) -> str:
    """The family of a model with GGUF ``metadata`` and display ``name`` (never empty)."""
    pre = metadata.get("tokenizer.ggml.pre")
    if isinstance(pre, str) and pre in PRE_TOKENIZER_FAMILIES:
        return PRE_TOKENIZER_FAMILIES[pre]
    architecture = str(metadata.get("general.architecture", "")).lower()
    for prefix, family in ARCHITECTURE_FAMILIES:
        if architecture.startswith(prefix):
            return family
    lowered = f"{name.lower().replace(' ', '-')}-"
    for word, family in NAME_FAMILIES:
        if word in lowered:
            return family
    return architecture or "unknown"
