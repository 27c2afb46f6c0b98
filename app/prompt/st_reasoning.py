"""SillyTavern's reasoning template files, and the template ``settings.json`` selects.

A template file (``data/<user>/reasoning/*.json``; the bundled ones are in
``default/content/presets/reasoning``) is ``{"name", "prefix", "suffix", "separator"}``;
a master export holds one under ``reasoning``; ``settings.json`` keeps the selected
template's name, and a copy of its parts, in ``power_user.reasoning``.  Malformed input
raises :class:`app.errors.TemplateError` naming the file and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from app.errors import TemplateError
from app.prompt.reasoning import ReasoningTemplate

#: The keys of a reasoning template (SillyTavern tells the kind of a file by them).
TEMPLATE_KEYS: Final = frozenset({"name", "prefix", "suffix", "separator"})
_PARTS: Final = ("prefix", "suffix", "separator")


def reasoning_from_st(data: Mapping[str, Any], source: str, where: str = "") -> ReasoningTemplate:
    """A reasoning template from its JSON object (``where``: the keys above it, if any)."""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TemplateError(source, f"key '{where}name': expected the template's name")
    for key in _PARTS:
        if not isinstance(data.get(key, ""), str):
            raise TemplateError(source, f"key '{where}{key}': expected text")
    prefix, suffix, separator = (str(data.get(key, "")) for key in _PARTS)
    return ReasoningTemplate(name.strip(), prefix, suffix, separator)


def reasoning_to_st(template: ReasoningTemplate) -> dict[str, str]:
    """The template as SillyTavern writes its file."""
    return {
        "name": template.name,
        "prefix": template.prefix,
        "suffix": template.suffix,
        "separator": template.separator,
    }


def same_tags(a: ReasoningTemplate, b: ReasoningTemplate) -> bool:
    """Whether two templates write the same prefix, suffix and separator (names aside)."""
    return (a.prefix, a.suffix, a.separator) == (b.prefix, b.suffix, b.separator)


def master_reasoning(data: Mapping[str, Any], source: str) -> ReasoningTemplate | None:
    """The ``reasoning`` section of a master export (None: it has none)."""
    section = data.get("reasoning")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise TemplateError(source, "key 'reasoning': expected an object")
    return reasoning_from_st(section, source, "reasoning.")


def selected_reasoning(
    data: Mapping[str, Any], source: str
) -> tuple[str, ReasoningTemplate | None] | None:
    """The reasoning template ``settings.json`` selects: its name, and its parts where the
    file holds them (``power_user.reasoning``); None where nothing is selected."""
    power = data.get("power_user")
    section = power.get("reasoning") if isinstance(power, dict) else None
    if not isinstance(section, dict) or not isinstance(section.get("name"), str):
        return None
    name = str(section["name"]).strip()
    if not name:
        return None
    if not set(section) >= TEMPLATE_KEYS:
        return name, None
    return name, reasoning_from_st(section, source, "power_user.reasoning.")
