"""SillyTavern's ``settings.json``: the active prompt setup, as one format.

SillyTavern keeps the instruct template, context template and system prompt in use in
``power_user.instruct`` / ``.context`` / ``.sysprompt`` (each with the name of the preset
it came from, and an ``enabled`` switch for instruct mode and the system prompt).
:func:`active_setup` makes them one import named after the instruct preset (the context
preset when instruct mode is off).  SillyTavern 1.12 kept ``always_force_name2``,
``trim_sentences`` and ``single_line`` in ``power_user``; they are moved into the context
template, as SillyTavern's own migration does.

Prompt settings Parlor does not take from a settings file (example pinning, custom stop
strings, World Info budgets, …) are named in the report when they differ from what
Parlor uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from app.prompt.formats import SystemPrompt
from app.prompt.st_import import STImport, from_sections, section
from app.prompt.worldinfo import WISettings

#: 1.12 ``power_user`` keys that are context template keys today.
_CONTEXT_KEYS = ("always_force_name2", "trim_sentences", "single_line")

#: ``power_user`` keys that shape prompts, with the value Parlor uses.
_POWER_USER: Mapping[str, object] = {
    "token_padding": 64,
    "collapse_newlines": False,
    "pin_examples": False,
    "strip_examples": False,
    "user_prompt_bias": "",
    "prefer_character_prompt": True,
    "prefer_character_jailbreak": True,
    "custom_stopping_strings": "",
    "persona_description_lorebook": "",
}

_WI = WISettings()
#: ``world_info_settings`` keys, with the value Parlor uses.
_WORLD_INFO: Mapping[str, object] = {
    "world_info_depth": _WI.depth,
    "world_info_budget": _WI.budget_percent,
    "world_info_budget_cap": _WI.budget_cap,
    "world_info_include_names": _WI.include_names,
    "world_info_recursive": _WI.recursive,
    "world_info_case_sensitive": _WI.case_sensitive,
    "world_info_match_whole_words": _WI.match_whole_words,
    "world_info_use_group_scoring": _WI.use_group_scoring,
    "world_info_character_strategy": _WI.character_strategy,
    "world_info_max_recursion_steps": _WI.max_recursion_steps,
    "world_info_min_activations": _WI.min_activations,
    "world_info_min_activations_depth_max": _WI.min_activations_depth_max,
}


def active_setup(data: Mapping[str, Any], *, source: str) -> STImport:
    """The instruct, context and system prompt ``settings.json`` has selected, as one import."""
    power = section(data, "power_user", source, "")
    assert power is not None
    instruct = section(power, "instruct", source, "power_user.")
    enabled = instruct is not None and instruct.get("enabled", False) is True
    context = section(power, "context", source, "power_user.")
    context = _with_legacy_context_keys(power, context)
    sysprompt = section(power, "sysprompt", source, "power_user.")
    result = from_sections(instruct if enabled else None, context, sysprompt, source, "power_user.")
    lines = list(result.report)
    if sysprompt is not None and sysprompt.get("enabled", True) is False:
        name = result.sysprompt.name if result.sysprompt else ""
        result = replace(result, sysprompt=SystemPrompt(name=name, content=""))
        lines.append(
            "power_user.sysprompt.enabled = false: the format's system prompt is empty; "
            "a character's own system prompt still applies"
        )
    name = result.instruct_name if enabled else result.context_name
    lines += prompt_settings_report(data)
    return replace(result, format_name=name or "SillyTavern", report=tuple(lines))


def _with_legacy_context_keys(
    power: Mapping[str, Any], context: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    moved = {k: power[k] for k in _CONTEXT_KEYS if k in power and (context or {}).get(k) is None}
    if not moved:
        return context
    return {**(context or {}), **moved}


def prompt_settings_report(data: Mapping[str, Any]) -> list[str]:
    """One line per prompt setting of ``settings.json`` that Parlor does not take."""
    power = data.get("power_user")
    world = data.get("world_info_settings")
    lines = _differences(power if isinstance(power, dict) else {}, _POWER_USER, "power_user.")
    if isinstance(world, dict):
        lines += _differences(world, _WORLD_INFO, "world_info_settings.")
        selected = world.get("world_info", {})
        books = selected.get("globalSelect") if isinstance(selected, dict) else None
        if books:
            lines.append(
                f"world_info_settings.world_info.globalSelect = {json.dumps(books)}: "
                "not used (Parlor has no global lorebooks; import the books and attach them)"
            )
    return lines


def _differences(data: Mapping[str, Any], parlor: Mapping[str, object], prefix: str) -> list[str]:
    lines = []
    for key, used in parlor.items():
        if key in data and not _same(data[key], used):
            value = json.dumps(data[key])
            lines.append(f"{prefix}{key} = {value}: not used (Parlor uses {json.dumps(used)})")
    return lines


def _same(value: object, used: object) -> bool:
    if value in ("", "[]", None) and used == "":
        return True
    if isinstance(value, bool) or isinstance(used, bool):
        return value is used
    return value == used
