"""The prompt format registry: bundled templates, imported formats and "GGUF".

Bundled formats live in a templates directory as ``*.jinja`` files: a YAML front
matter (between ``---`` lines) holds the instruct/context fields and the system
prompt, and the body is the story string, a Jinja2 template rendered in the
sandbox (one trailing newline of the file is not part of it).  Story strings are
compiled when the directory is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.errors import NotFound, TemplateError
from app.prompt.formats import ContextTemplate, PromptFormat
from app.prompt.sandbox import TemplateSandbox
from app.prompt.types import ModelInfo

GGUF_FORMAT_NAME = "GGUF"
DEFAULT_FORMAT_NAME = "Default"

#: (substring of a GGUF chat template, format name), checked in order.
_TEMPLATE_MARKERS: tuple[tuple[str, str], ...] = (
    ("<|start_header_id|>", "Llama 3 Instruct"),
    ("<|im_start|>", "ChatML"),
    ("[SYSTEM_PROMPT]", "Mistral V7"),
    ("[INST]", "Mistral V3-Tekken"),
    ("<start_of_turn>", "Gemma 2"),
    ("<|START_OF_TURN_TOKEN|>", "Command R"),
    ("### Instruction:", "Alpaca"),
)


def _split_front_matter(text: str, source: str) -> tuple[str, str]:
    if not text.startswith("---\n"):
        raise TemplateError(source, "missing YAML front matter (the file must start with ---)")
    end = text.find("\n---\n", 3)
    if end < 0:
        raise TemplateError(source, "front matter is not closed by a --- line")
    body = text[end + 5 :]
    return text[4:end], body[:-1] if body.endswith("\n") else body


def load_template_file(path: Path, sandbox: TemplateSandbox) -> PromptFormat:
    """Load one bundled ``*.jinja`` format file and compile its story string."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(source, f"cannot read: {exc}") from exc
    header, story = _split_front_matter(text, source)
    try:
        meta = yaml.safe_load(header)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 2}" if mark is not None else source
        raise TemplateError(where, f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise TemplateError(source, "front matter must be a mapping")
    context: dict[str, Any] = dict(meta.get("context") or {})
    context.update(story_string=story, story_string_syntax="jinja")
    data = {**meta, "context": context, "source": source}
    try:
        fmt = PromptFormat.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        raise TemplateError(source, f"key {key!r}: {error['msg']}") from exc
    sandbox.compile(story, name=source)
    return fmt


def gguf_format() -> PromptFormat:
    """The format that renders the model's own chat template (ST's Default story string)."""
    return PromptFormat(
        name=GGUF_FORMAT_NAME,
        kind="gguf",
        context=ContextTemplate(
            story_string=(
                "{{#if anchorBefore}}{{anchorBefore}}\n{{/if}}"
                "{{#if system}}{{system}}\n{{/if}}{{#if wiBefore}}{{wiBefore}}\n{{/if}}"
                "{{#if description}}{{description}}\n{{/if}}"
                "{{#if personality}}{{personality}}\n{{/if}}"
                "{{#if scenario}}{{scenario}}\n{{/if}}{{#if wiAfter}}{{wiAfter}}\n{{/if}}"
                "{{#if persona}}{{persona}}\n{{/if}}"
                "{{#if anchorAfter}}{{anchorAfter}}\n{{/if}}{{trim}}"
            ),
            chat_start="",
            use_stop_strings=False,
            always_force_name2=False,
        ),
        source="(built in)",
    )


class FormatRegistry:
    """Formats by name (case-insensitive): bundled, imported and the GGUF format."""

    def __init__(self, formats: Iterable[PromptFormat] = ()) -> None:
        self._formats: dict[str, PromptFormat] = {}
        for fmt in formats:
            self.add(fmt)

    @classmethod
    def load(cls, templates_dir: Path, sandbox: TemplateSandbox) -> FormatRegistry:
        """Load every ``*.jinja`` format under ``templates_dir`` plus the GGUF format."""
        registry = cls([gguf_format()])
        for path in sorted(templates_dir.glob("*.jinja")):
            fmt = load_template_file(path, sandbox)
            if fmt.name.lower() in registry._formats:
                raise TemplateError(str(path), f"format name {fmt.name!r} is used twice")
            registry.add(fmt)
        return registry

    def add(self, fmt: PromptFormat) -> None:
        """Add or replace a format."""
        self._formats[fmt.name.lower()] = fmt

    def get(self, name: str) -> PromptFormat:
        """The format called ``name``; raises ``NotFound``."""
        fmt = self._formats.get(name.lower())
        if fmt is None:
            raise NotFound("prompt format", name)
        return fmt

    def has(self, name: str) -> bool:
        """Whether a format called ``name`` (any case) is registered."""
        return name.lower() in self._formats

    def names(self) -> list[str]:
        """All format names, sorted."""
        return sorted((f.name for f in self._formats.values()), key=str.lower)

    def select(self, override: str | None, model: ModelInfo) -> PromptFormat:
        """``override`` (a per-chat or per-character choice) if given, else auto-select."""
        if override:
            return self.get(override)
        return self.get(self.detect(model))

    def detect(self, model: ModelInfo) -> str:
        """Pick a format name from the model's chat template, then its name."""
        name = detect_format_name(model.chat_template)
        if name is not None and name.lower() in self._formats:
            return name
        for fmt in self._formats.values():
            regex = fmt.instruct.activation_regex if fmt.instruct else ""
            if regex and model.name and _regex_matches(regex, model.name):
                return fmt.name
        if model.chat_template and GGUF_FORMAT_NAME.lower() in self._formats:
            return GGUF_FORMAT_NAME
        return DEFAULT_FORMAT_NAME


def detect_format_name(chat_template: str | None) -> str | None:
    """The bundled format whose special tokens appear in a GGUF chat template."""
    if not chat_template:
        return None
    for marker, name in _TEMPLATE_MARKERS:
        if marker in chat_template:
            return name
    return None


def _regex_matches(pattern: str, text: str) -> bool:
    match = re.fullmatch(r"/(.+)/([a-z]*)", pattern, re.DOTALL)
    flags = re.IGNORECASE if match and "i" in match[2] else 0
    try:
        return re.search(match[1] if match else pattern, text, flags) is not None
    except re.error:
        return False
