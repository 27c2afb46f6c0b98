"""Small helpers shared by the card modules: JSON checks, copies and type names."""

from __future__ import annotations

import copy
import math
from typing import Any, TypeGuard

#: A JSON object as Python holds it.
JSONDict = dict[str, Any]


def type_name(value: object) -> str:
    """Return the JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_str_list(value: object) -> TypeGuard[list[str]]:
    """Return True if ``value`` is a list whose items are all strings."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def is_number(value: object) -> TypeGuard[int | float]:
    """Return True for an int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_problem(value: object, where: str) -> str | None:
    """Return a phrase naming the first value JSON cannot hold, or None if all is fine.

    Walks iteratively so that deeply nested input cannot exhaust the Python stack.
    """
    stack: list[tuple[object, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if item is None or isinstance(item, str | bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return f"{path} is {item}, which JSON cannot hold"
            continue
        if isinstance(item, list):
            stack.extend((sub, f"{path}[{i}]") for i, sub in enumerate(item))
            continue
        if isinstance(item, dict):
            for key, sub in item.items():
                if not isinstance(key, str):
                    return f"{path} has a non-string key {key!r}"
                stack.append((sub, f"{path}.{key}"))
            continue
        return f"{path} holds a {type(item).__name__}, which JSON cannot hold"
    return None


def deep_copy(value: JSONDict) -> JSONDict:
    """Return a deep copy of a JSON object."""
    return copy.deepcopy(value)


def unsafe_path_problem(path: str) -> str | None:
    """Return why an archive path is unsafe (absolute, ``..``, drive letter), or None."""
    if not path:
        return "empty path"
    if "\0" in path:
        return f"path {path!r} contains a NUL character"
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        return f"absolute path {path!r}"
    parts = path.replace("\\", "/").split("/")
    if ".." in parts:
        return f"path {path!r} leads outside the archive"
    return None
