"""The one sandboxed Jinja2 environment every untrusted template is rendered in.

Templates come from users, cards and GGUF files, so they are compiled in jinja2's
``ImmutableSandboxedEnvironment`` with the Hugging Face chat-template conventions
(``trim_blocks``, ``lstrip_blocks``, ``loopcontrols``, ``raise_exception``,
``strftime_now`` and a JSON-safe ``tojson``), and compiled templates are cached by
source text.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NoReturn

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.errors import TemplateError


def _raise_exception(message: str) -> NoReturn:
    raise jinja2.TemplateError(message)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=False)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class TemplateSandbox:
    """Compiles and renders untrusted Jinja2 templates, caching compiled sources."""

    def __init__(self, *, max_cached: int = 256) -> None:
        self._env = ImmutableSandboxedEnvironment(
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            extensions=["jinja2.ext.loopcontrols"],
            undefined=jinja2.Undefined,
        )
        self._env.filters["tojson"] = _tojson
        self._env.globals["raise_exception"] = _raise_exception
        self._env.globals["strftime_now"] = _strftime_now
        self._cache: dict[str, jinja2.Template] = {}
        self._max_cached = max_cached

    def compile(self, source: str, *, name: str) -> jinja2.Template:
        """Compile ``source`` once; ``name`` identifies the template in errors."""
        template = self._cache.get(source)
        if template is not None:
            return template
        try:
            template = self._env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(name, f"line {exc.lineno}: {exc.message}") from exc
        if len(self._cache) >= self._max_cached:
            self._cache.pop(next(iter(self._cache)))
        self._cache[source] = template
        return template

    def render(self, source: str, *, name: str, **context: Any) -> str:
        """Render ``source`` with ``context``; any failure becomes a ``TemplateError``."""
        template = self.compile(source, name=name)
        try:
            return template.render(**context)
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(name, f"blocked by the sandbox: {exc}") from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(name, str(exc) or type(exc).__name__) from exc
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            raise TemplateError(name, f"{type(exc).__name__}: {exc}") from exc
