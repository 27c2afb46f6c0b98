"""Readers for the value shapes other servers' clients send, raising ``InputError``.

SillyTavern sends DRY sequence breakers as a JSON string, token bans as ``"1,2,3"``,
llama.cpp's ``logit_bias`` as ``[[id, bias | false]]`` pairs or ``[]``, and ``""`` for
"no grammar".  Each reader takes the raw JSON value and the field's name (for the
error), and returns Parlor's form.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from app.errors import InputError

#: Largest bias a ``logit_bias`` entry may have either way (OpenAI's range).
MAX_LOGIT_BIAS = 100.0
#: Most choices (``n``) one request may ask for.
MAX_CHOICES = 16


def number(value: Any, name: str) -> float:
    """A JSON number (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(name, f"expected a number, got {value!r}")
    return float(value)


def integer(value: Any, name: str) -> int:
    """A JSON integer (a float with no fraction is accepted: 64.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, f"expected an integer, got {value!r}")
    return value


def boolean(value: Any, name: str) -> bool:
    """A JSON boolean (0 and 1 too: some clients send them)."""
    if isinstance(value, bool):
        return value
    if value in (0, 1) and isinstance(value, int):
        return bool(value)
    raise InputError(name, f"expected true or false, got {value!r}")


def strings(value: Any, name: str) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple without empty strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise InputError(name, "expected a string or a list of strings")
    return tuple(s for s in items if s)


def breakers(value: Any, name: str) -> tuple[str, ...]:
    """DRY sequence breakers: a list of strings, or one JSON string holding such a list
    (SillyTavern's shape), or a comma-separated list (TabbyAPI's fallback)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text if text.startswith("[") else f"[{text}]")
        except ValueError:
            value = [part for part in text.split(",") if part]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InputError(name, "expected a list of strings or a JSON string holding one")
    return tuple(value)


def token_ids(value: Any, name: str) -> tuple[int, ...]:
    """Token ids as a list of integers or a comma-separated string (``"1, 2,3"``)."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isascii() and p.isdigit() for p in parts):
            raise InputError(name, "expected token ids separated by commas")
        return tuple(int(p) for p in parts)
    if not isinstance(value, list):
        raise InputError(name, "expected a list of token ids")
    return tuple(integer(item, name) for item in value)


def logit_bias(value: Any, name: str) -> tuple[dict[int, float], tuple[int, ...]]:
    """``logit_bias`` as ``{id: bias}`` or llama.cpp's ``[[id, bias | false], …]``.

    Returns the biases and the ids banned outright (``false``); ``[]`` and ``{}`` are
    empty.  Keys that are text rather than ids are refused (they need a tokenizer).
    """
    pairs = list(value.items()) if isinstance(value, Mapping) else value
    if not isinstance(pairs, list):
        raise InputError(name, "expected an object or a list of [token id, bias] pairs")
    biases: dict[int, float] = {}
    banned: list[int] = []
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise InputError(name, f"expected [token id, bias] pairs, got {pair!r}")
        token, bias = _token_id(pair[0], name), pair[1]
        if bias is False:
            banned.append(token)
            continue
        amount = number(bias, name)
        if not -MAX_LOGIT_BIAS <= amount <= MAX_LOGIT_BIAS:
            raise InputError(name, f"bias {amount:g} for token {token} is outside -100..100")
        biases[token] = amount
    return biases, tuple(banned)


def _token_id(key: Any, name: str) -> int:
    if isinstance(key, str):
        text = key.strip()
        if not (text.isascii() and text.isdigit()):
            raise InputError(name, f"key {key!r} is not a token id")
        return int(text)
    return integer(key, name)


def grammar(value: Any, name: str) -> str | None:
    """A GBNF grammar; ``""`` or only whitespace means none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(name, "expected a string")
    return value if value.strip() else None
