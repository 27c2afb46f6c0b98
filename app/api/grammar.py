"""``response_format`` and ``grammar`` to the GBNF grammar the engine enforces."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llama_cpp.llama_grammar import json_schema_to_gbnf

from app.api import values
from app.errors import InputError

if TYPE_CHECKING:
    from app.api.protocol import ResponseFormat

#: Any JSON object, with whitespace kept to single spaces so a model cannot run away.
ANY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}


def grammar_for(response_format: ResponseFormat | None, grammar: str | None) -> str | None:
    """The GBNF grammar a reply must follow, or None for free text.

    ``json_object`` allows any JSON object (or one matching its ``schema``, as in
    llama.cpp's server); ``json_schema`` converts the schema with llama.cpp's own
    converter.  A raw ``grammar`` is passed through as given (``""`` means none, as
    SillyTavern sends it).
    """
    if grammar is not None and grammar.strip():
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


#: Fields holding a JSON schema the reply must match (llama.cpp / TabbyAPI, vLLM).
SCHEMA_FIELDS = ("json_schema", "guided_json")
#: Fields holding a GBNF grammar (llama.cpp / KoboldCpp, text-generation-webui, vLLM).
GRAMMAR_FIELDS = ("grammar", "grammar_string", "guided_grammar")


def body_grammar(body: Mapping[str, Any]) -> str | None:
    """The grammar a request body asks for by any dialect's name, or None.

    An empty grammar (``""``) or schema (``{}``, SillyTavern's default) asks for none.
    """
    for name in GRAMMAR_FIELDS:
        text = values.grammar(body.get(name), name)
        if text is not None:
            return text
    for name in SCHEMA_FIELDS:
        schema = body.get(name)
        if isinstance(schema, str) and schema.strip():
            try:
                schema = json.loads(schema)
            except ValueError:
                raise InputError(name, "is not valid JSON") from None
        if schema and isinstance(schema, dict):
            return schema_grammar(schema, name)
        if schema and not isinstance(schema, dict | str):
            raise InputError(name, "expected a JSON schema object")
    return None
