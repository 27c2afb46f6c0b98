"""``response_format`` and ``grammar`` to the GBNF grammar the engine enforces."""

from __future__ import annotations

import json
from typing import Any

from llama_cpp.llama_grammar import json_schema_to_gbnf

from app.api.protocol import ResponseFormat
from app.errors import InputError

#: Any JSON object, with whitespace kept to single spaces so a model cannot run away.
ANY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}


def grammar_for(response_format: ResponseFormat | None, grammar: str | None) -> str | None:
    """The GBNF grammar a reply must follow, or None for free text.

    ``json_object`` allows any JSON object (or one matching its ``schema``, as in
    llama.cpp's server); ``json_schema`` converts the schema with llama.cpp's own
    converter.  A raw ``grammar`` is passed through as given.
    """
    if grammar is not None:
        if not grammar.strip():
            raise InputError("grammar", "is empty")
        return grammar
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return schema_grammar(response_format.schema_ or ANY_OBJECT_SCHEMA, "response_format")
    json_schema = response_format.json_schema
    assert json_schema is not None and json_schema.schema_ is not None  # checked by the model
    return schema_grammar(json_schema.schema_, "response_format.json_schema.schema")


def schema_grammar(schema: dict[str, Any], field: str) -> str:
    """GBNF for a JSON schema; a schema the converter cannot handle is an InputError."""
    try:
        grammar: str = json_schema_to_gbnf(json.dumps(schema))
    except (ValueError, TypeError, KeyError, AssertionError, RecursionError) as exc:
        raise InputError(field, f"cannot turn this JSON schema into a grammar ({exc})") from None
    return grammar
