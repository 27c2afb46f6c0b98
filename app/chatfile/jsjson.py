"""JSON text exactly as JavaScript's ``JSON.stringify`` writes it.

SillyTavern writes each chat line with ``JSON.stringify(message)``.  Python's ``json.dumps``
differs in three visible ways: it writes ``1.0`` where JavaScript writes ``1``, it formats
small and large floats differently (``1e-05`` against ``0.00001``) and it keeps object
keys in insertion order where JavaScript puts array-index keys (``"0"``, ``"17"``) first.
:func:`js_stringify` copies JavaScript, so a chat that SillyTavern wrote and Parlor read
can be written back byte for byte.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
_ARRAY_INDEX_LIMIT = 2**32 - 1


def js_stringify(value: Any) -> str:
    """Return ``value`` as compact JSON text, formatted as ``JSON.stringify`` would."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def js_number(value: float) -> str:
    """Format a float as JavaScript's ``Number.prototype.toString`` does."""
    if math.isnan(value) or math.isinf(value):
        return "null"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(d) for d in digit_tuple)
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10**n
    prefix = "-" if sign else ""
    if k <= n <= 21:
        return prefix + digits + "0" * (n - k)
    if 0 < n <= 21:
        return prefix + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return prefix + "0." + "0" * (-n) + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    e = n - 1
    return f"{prefix}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def _js_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    if _SURROGATE.search(encoded):
        encoded = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)
    return encoded


def _is_array_index(key: str) -> bool:
    return (
        key.isdigit()
        and key.isascii()
        and (key == "0" or not key.startswith("0"))
        and (int(key) < _ARRAY_INDEX_LIMIT)
    )


def _js_key_order(obj: dict[str, Any]) -> list[str]:
    keys = list(obj)
    indexes = [k for k in keys if _is_array_index(k)]
    if not indexes:
        return keys
    indexes.sort(key=int)
    return indexes + [k for k in keys if not _is_array_index(k)]


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_js_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(js_number(value))
    elif isinstance(value, dict | list | tuple):
        _write_container(value, out)
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _write_container(value: dict[str, Any] | list[Any] | tuple[Any, ...], out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(_js_key_order(value)):
            if i:
                out.append(",")
            out.append(_js_string(str(key)))
            out.append(":")
            _write(value[key], out)
        out.append("}")
        return
    out.append("[")
    for i, item in enumerate(value):
        if i:
            out.append(",")
        _write(item, out)
    out.append("]")
