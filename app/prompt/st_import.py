"""Import SillyTavern instruct, context, sysprompt, master-export and settings JSON.

Applies ST's migrations (§2.1, ``migrateInstructModeSettings`` and
``checkForSystemPromptInInstructTemplate``): ``separator_sequence`` becomes
``output_suffix``, ``names``/``names_force_groups`` become ``names_behavior``, an
embedded ``system_prompt`` becomes a ``[Migrated] <name>`` system prompt, and the
obsolete keys are dropped; a dropped key whose value would have changed the prompt is
named in :attr:`STImport.report`.  A legacy context's ``allow_jailbreak: false`` is kept
(post-history instructions are left out, as SillyTavern 1.12 did).  Story strings stay
Handlebars and are parsed at import, so a block helper Parlor does not support is refused
here rather than at every prompt.  Any malformed input raises
:class:`app.errors.TemplateError` naming the file and the key.

A format Parlor saved (:meth:`STImport.to_saved`) is a master export with a top-level
``name``, so it reads back through the same path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.errors import TemplateError
from app.prompt.formats import ContextTemplate, InstructTemplate, PromptFormat, SystemPrompt
from app.prompt.handlebars import HandlebarsTemplate

_Model = TypeVar("_Model", bound=BaseModel)
_MASTER_KEYS = ("instruct", "context", "sysprompt", "preset", "reasoning", "srw")
#: Keys of a template that are names or bookkeeping, not settings.
_NAME_KEYS = frozenset({"name", "preset", "enabled"})
#: Migrated instruct keys (read above, never reported).
_INSTRUCT_MIGRATED = frozenset(
    {"names", "names_force_groups", "separator_sequence", "system_prompt"}
)
#: Keys SillyTavern itself dropped, with the value that means "no effect" and why.
_OBSOLETE: Mapping[str, tuple[object, str]] = {
    "system_sequence_prefix": ("", "removed in SillyTavern 1.13; story_string_prefix replaced it"),
    "system_sequence_suffix": ("", "removed in SillyTavern 1.13; story_string_suffix replaced it"),
    "include_newline": (False, "removed in SillyTavern 1.12.6"),
}


@dataclass(frozen=True)
class STImport:
    """What one ST file contained (any of the three template kinds).

    A template that is ``None`` was not in the file (the format gets the default).
    ``report`` names each value the file holds that Parlor does not honour.
    """

    source: str
    instruct: InstructTemplate | None = None
    instruct_name: str = ""
    context: ContextTemplate | None = None
    context_name: str = ""
    sysprompt: SystemPrompt | None = None
    report: tuple[str, ...] = ()
    #: An explicit format name (a format Parlor saved).
    format_name: str = ""

    @property
    def name(self) -> str:
        """The best name for a format built from this import."""
        return (
            self.format_name
            or self.instruct_name
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

    def to_saved(self, name: str) -> dict[str, Any]:
        """The file Parlor keeps for this format: a master export with a top-level name."""
        saved: dict[str, Any] = {"name": name}
        if self.instruct is not None:
            saved["instruct"] = {**self.instruct.model_dump(), "name": self.instruct_name}
        if self.context is not None:
            context = self.context.model_dump(exclude={"story_string_syntax"})
            saved["context"] = {**context, "name": self.context_name}
        if self.sysprompt is not None:
            saved["sysprompt"] = self.sysprompt.model_dump()
        return saved

    def merged(self, other: STImport) -> STImport | None:
        """This import with ``other``'s templates added where it has none.

        ``None`` when both hold a template of the same kind and the two differ.
        """
        for kind in ("instruct", "context", "sysprompt"):
            mine, theirs = getattr(self, kind), getattr(other, kind)
            if mine is not None and theirs is not None and mine != theirs:
                return None
        return replace(
            self,
            instruct=self.instruct or other.instruct,
            instruct_name=self.instruct_name if self.instruct else other.instruct_name,
            context=self.context or other.context,
            context_name=self.context_name if self.context else other.context_name,
            sysprompt=self.sysprompt or other.sysprompt,
            report=(*self.report, *other.report),
        )

    def holds_all_of(self, other: STImport) -> bool:
        """Whether every template ``other`` has is already here, equal."""
        return all(
            getattr(other, kind) is None or getattr(self, kind) == getattr(other, kind)
            for kind in ("instruct", "context", "sysprompt")
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


def _dropped(
    data: Mapping[str, Any], model: type[BaseModel], prefix: str, skip: frozenset[str]
) -> list[str]:
    """One report line per key the model does not take whose value has an effect."""
    lines: list[str] = []
    for key, value in data.items():
        if key in model.model_fields or key in _NAME_KEYS or key in skip:
            continue
        neutral, reason = _OBSOLETE.get(key, (None, "not a SillyTavern 1.18 template key"))
        if key in _OBSOLETE and value == neutral:
            continue
        lines.append(f"{prefix}{key} = {json.dumps(value)}: not used ({reason})")
    return lines


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
    """Validate an ST context template (legacy keys dropped); returns (template, name).

    The story string is parsed now: an unsupported Handlebars block is refused here.
    """
    name = _name_of(data, source, prefix) or _name_of(data, source, prefix, "preset")
    fields = {
        k: v
        for k, v in data.items()
        if k in ContextTemplate.model_fields and k != "story_string_syntax"
    }
    template = _validate(ContextTemplate, fields, source, prefix)
    HandlebarsTemplate(template.story_string, name=f"{source}: key '{prefix}story_string'")
    return template, name


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


def section(
    data: Mapping[str, Any], key: str, source: str, prefix: str
) -> Mapping[str, Any] | None:
    """``data[key]`` when it is an object, ``None`` when absent; else a TemplateError."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TemplateError(source, f"key '{prefix}{key}': expected an object")
    return value


def from_sections(
    instruct: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    sysprompt: Mapping[str, Any] | None,
    source: str,
    prefix: str,
) -> STImport:
    """An import from the three template sections of one file (any may be missing)."""
    result = STImport(source)
    if instruct is not None:
        result = _with_instruct(result, instruct, f"{prefix}instruct.")
    if context is not None:
        result = _with_context(result, context, f"{prefix}context.")
    if sysprompt is not None:
        system = sysprompt_from_st(sysprompt, source, f"{prefix}sysprompt.")
        result = replace(result, sysprompt=system)
    return result


def _with_instruct(result: STImport, data: Mapping[str, Any], prefix: str) -> STImport:
    template, name, migrated = instruct_from_st(data, result.source, prefix)
    lines = _dropped(data, InstructTemplate, prefix, _INSTRUCT_MIGRATED)
    return replace(
        result,
        instruct=template,
        instruct_name=name,
        sysprompt=result.sysprompt or migrated,
        report=(*result.report, *lines),
    )


def _with_context(result: STImport, data: Mapping[str, Any], prefix: str) -> STImport:
    template, name = context_from_st(data, result.source, prefix)
    lines = _dropped(data, ContextTemplate, prefix, frozenset())
    return replace(result, context=template, context_name=name, report=(*result.report, *lines))


def import_st_data(data: object, *, source: str) -> STImport:
    """Import parsed ST JSON: a bare template, a master export or a ``settings.json``.

    For ``settings.json`` this is the active setup as it is stored; see
    :mod:`app.prompt.st_settings` for what SillyTavern makes of it.
    """
    if not isinstance(data, dict):
        raise TemplateError(source, "expected a JSON object")
    if isinstance(data.get("power_user"), dict):
        from app.prompt.st_settings import active_setup

        return active_setup(data, source=source)
    if any(isinstance(data.get(k), dict) for k in _MASTER_KEYS):
        result = from_sections(
            section(data, "instruct", source, ""),
            section(data, "context", source, ""),
            section(data, "sysprompt", source, ""),
            source,
            "",
        )
        name = data.get("name")
        return replace(result, format_name=name) if isinstance(name, str) else result
    return _import_template(data, source)


def _import_template(data: Mapping[str, Any], source: str) -> STImport:
    if _is_instruct(data):
        return _with_instruct(STImport(source), data, "")
    if _is_context(data):
        return _with_context(STImport(source), data, "")
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
        return import_st_data(data, source=source)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{source}:{exc.lineno}", f"not JSON: {exc.msg}") from exc
    except RecursionError:
        raise TemplateError(source, "JSON is nested too deeply") from None


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
