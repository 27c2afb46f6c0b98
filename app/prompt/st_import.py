"""Import SillyTavern instruct, context, sysprompt, master-export and settings JSON.

Applies ST's migrations (§2.1, ``migrateInstructModeSettings`` and
``checkForSystemPromptInInstructTemplate``): ``separator_sequence`` becomes
``output_suffix``, ``names``/``names_force_groups`` become ``names_behavior``, an
embedded ``system_prompt`` becomes a ``[Migrated] <name>`` system prompt, and the
obsolete keys are dropped.  Story strings stay Handlebars.  Any malformed input
raises :class:`app.errors.TemplateError` naming the file and the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.errors import TemplateError
from app.prompt.formats import ContextTemplate, InstructTemplate, PromptFormat, SystemPrompt

_Model = TypeVar("_Model", bound=BaseModel)
_INSTRUCT_OBSOLETE = {
    "names",
    "names_force_groups",
    "system_sequence_prefix",
    "system_sequence_suffix",
    "separator_sequence",
    "system_prompt",
}
_MASTER_KEYS = ("instruct", "context", "sysprompt", "preset", "reasoning", "srw")


@dataclass(frozen=True)
class STImport:
    """What one ST file contained (any of the three template kinds)."""

    source: str
    instruct: InstructTemplate | None = None
    instruct_name: str = ""
    context: ContextTemplate | None = None
    context_name: str = ""
    sysprompt: SystemPrompt | None = None

    @property
    def name(self) -> str:
        """The best name for a format built from this import."""
        return (
            self.instruct_name
            or self.context_name
            or (self.sysprompt.name if self.sysprompt else "")
        )

    def to_format(self, name: str | None = None) -> PromptFormat:
        """A :class:`PromptFormat` from these templates (defaults where missing)."""
        return PromptFormat(
            name=name or self.name or Path(self.source).stem,
            instruct=self.instruct,
            context=self.context or ContextTemplate(),
            system_prompt=self.sysprompt or SystemPrompt(),
            source=self.source,
        )


def _validate(model: type[_Model], data: Mapping[str, Any], source: str, prefix: str) -> _Model:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "(root)"
        raise TemplateError(source, f"key '{prefix}{key}': {error['msg']}") from exc


def _name_of(data: Mapping[str, Any], source: str, prefix: str, key: str = "name") -> str:
    name = data.get(key, "")
    if not isinstance(name, str):
        raise TemplateError(source, f"key '{prefix}{key}': expected a string")
    return name


def _require_bool(data: Mapping[str, Any], key: str, source: str, prefix: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise TemplateError(source, f"key '{prefix}{key}': expected true or false")
    return value


def instruct_from_st(
    data: Mapping[str, Any], source: str, prefix: str = ""
) -> tuple[InstructTemplate, str, SystemPrompt | None]:
    """Migrate and validate an ST instruct template; returns (template, name, sysprompt)."""
    name = _name_of(data, source, prefix) or _name_of(data, source, prefix, "preset")
    fields = {k: v for k, v in data.items() if k in InstructTemplate.model_fields}
    if "separator_sequence" in data:
        separator = data["separator_sequence"]
        if not isinstance(separator, str | None):
            raise TemplateError(source, f"key '{prefix}separator_sequence': expected a string")
        fields["output_suffix"] = separator or ""
    if "names" in data:
        names = _require_bool(data, "names", source, prefix)
        force = _require_bool(data, "names_force_groups", source, prefix)
        fields["names_behavior"] = "always" if names else ("force" if force else "none")
    template = _validate(InstructTemplate, fields, source, prefix)
    sysprompt = None
    if "system_prompt" in data:
        content = data["system_prompt"]
        if not isinstance(content, str):
            raise TemplateError(source, f"key '{prefix}system_prompt': expected a string")
        if content:
            sysprompt = SystemPrompt(name=f"[Migrated] {name}", content=content)
    return template, name, sysprompt


def context_from_st(
    data: Mapping[str, Any], source: str, prefix: str = ""
) -> tuple[ContextTemplate, str]:
    """Validate an ST context template (legacy keys dropped); returns (template, name)."""
    name = _name_of(data, source, prefix) or _name_of(data, source, prefix, "preset")
    fields = {
        k: v
        for k, v in data.items()
        if k in ContextTemplate.model_fields and k != "story_string_syntax"
    }
    return _validate(ContextTemplate, fields, source, prefix), name


def sysprompt_from_st(data: Mapping[str, Any], source: str, prefix: str = "") -> SystemPrompt:
    """Validate an ST system prompt preset (``name``, ``content``, ``post_history``)."""
    fields = {k: v for k, v in data.items() if k in SystemPrompt.model_fields}
    fields.setdefault("content", "")
    return _validate(SystemPrompt, fields, source, prefix)


def _is_instruct(data: Mapping[str, Any]) -> bool:
    return "input_sequence" in data and "output_sequence" in data


def _is_context(data: Mapping[str, Any]) -> bool:
    return "story_string" in data


def _is_sysprompt(data: Mapping[str, Any]) -> bool:
    return "content" in data and "name" in data


def _section(
    data: Mapping[str, Any], key: str, source: str, prefix: str
) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TemplateError(source, f"key '{prefix}{key}': expected an object")
    return value


def _from_sections(
    instruct: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    sysprompt: Mapping[str, Any] | None,
    source: str,
    prefix: str,
) -> STImport:
    result = STImport(source)
    migrated = None
    if instruct is not None:
        template, name, migrated = instruct_from_st(instruct, source, f"{prefix}instruct.")
        result = STImport(source, instruct=template, instruct_name=name)
    if context is not None:
        ctx, ctx_name = context_from_st(context, source, f"{prefix}context.")
        result = STImport(source, result.instruct, result.instruct_name, ctx, ctx_name)
    system = sysprompt_from_st(sysprompt, source, f"{prefix}sysprompt.") if sysprompt else migrated
    return STImport(
        source, result.instruct, result.instruct_name, result.context, result.context_name, system
    )


def import_st_data(data: object, *, source: str) -> STImport:
    """Import parsed ST JSON: a bare template, a master export or a ``settings.json``."""
    if not isinstance(data, dict):
        raise TemplateError(source, "expected a JSON object")
    if isinstance(data.get("power_user"), dict):
        power = data["power_user"]
        return _from_sections(
            _section(power, "instruct", source, "power_user."),
            _section(power, "context", source, "power_user."),
            _section(power, "sysprompt", source, "power_user."),
            source,
            "power_user.",
        )
    if any(isinstance(data.get(k), dict) for k in _MASTER_KEYS):
        return _from_sections(
            _section(data, "instruct", source, ""),
            _section(data, "context", source, ""),
            _section(data, "sysprompt", source, ""),
            source,
            "",
        )
    if _is_instruct(data):
        template, name, migrated = instruct_from_st(data, source)
        return STImport(source, instruct=template, instruct_name=name, sysprompt=migrated)
    if _is_context(data):
        ctx, name = context_from_st(data, source)
        return STImport(source, context=ctx, context_name=name)
    if _is_sysprompt(data):
        return STImport(source, sysprompt=sysprompt_from_st(data, source))
    raise TemplateError(
        source, "not a SillyTavern instruct, context, system prompt or master export file"
    )


def import_st_file(path: Path) -> STImport:
    """Read and import one ST JSON file."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TemplateError(source, f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(source, "not UTF-8 text") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{source}:{exc.lineno}", f"not JSON: {exc.msg}") from exc
    return import_st_data(data, source=source)


def format_from_st_files(
    instruct: Path | None,
    context: Path | None,
    sysprompt: Path | None = None,
    *,
    name: str | None = None,
) -> PromptFormat:
    """Build a format from separate ST instruct / context / sysprompt files."""
    ins = import_st_file(instruct) if instruct is not None else None
    ctx = import_st_file(context) if context is not None else None
    sp = import_st_file(sysprompt) if sysprompt is not None else None
    system = (sp.sysprompt if sp else None) or (ins.sysprompt if ins else None)
    combined = STImport(
        source=str(instruct or context or sysprompt or ""),
        instruct=ins.instruct if ins else None,
        instruct_name=ins.instruct_name if ins else "",
        context=ctx.context if ctx else None,
        context_name=ctx.context_name if ctx else "",
        sysprompt=system,
    )
    return combined.to_format(name)
