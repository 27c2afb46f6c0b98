"""The personas of a SillyTavern ``settings.json``: names, descriptions, the default.

SillyTavern keys each persona by its avatar file in ``User Avatars/``:
``power_user.personas`` maps the file to the name, ``power_user.persona_descriptions``
to ``{description, position, depth, role, lorebook}``, and ``default_persona`` names the
default's file.  ``user_avatar`` is the persona in use, whose name is ``username``
(SillyTavern 1.12 kept its description in ``power_user.persona_description``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: SillyTavern's ``persona_description_positions`` Parlor places (AFTER_CHAR, 1, is gone).
_POSITIONS = {0, 2, 3, 4, 9}
_IN_PROMPT = 0
_AT_DEPTH = 4
#: Where Parlor puts a description "at depth" (``app.prompt.types.Persona``).
_PARLOR_DEPTH = 2
_PARLOR_ROLE = 0


@dataclass(frozen=True)
class STPersona:
    """One persona as SillyTavern stores it, ready to import."""

    avatar_file: str
    name: str
    description: str = ""
    position: int = _IN_PROMPT
    report: tuple[str, ...] = ()


@dataclass(frozen=True)
class STPersonas:
    """Every persona of a settings file, and which one is the default."""

    personas: tuple[STPersona, ...]
    default_file: str | None

    def by_file(self, avatar_file: str) -> STPersona | None:
        """The persona whose avatar is ``avatar_file``."""
        return next((p for p in self.personas if p.avatar_file == avatar_file), None)


def personas_from_settings(data: Mapping[str, Any]) -> STPersonas:
    """The personas ``settings.json`` (already parsed) describes."""
    power = data.get("power_user")
    power = power if isinstance(power, dict) else {}
    names = _mapping(power.get("personas"))
    descriptions = _mapping(power.get("persona_descriptions"))
    active = _text(data.get("user_avatar"))
    personas = [
        _persona(str(file), _text(name) or Path(str(file)).stem, descriptions.get(file))
        for file, name in names.items()
    ]
    if active and active not in names:
        legacy = {
            "description": power.get("persona_description", ""),
            "position": power.get("persona_description_position", _IN_PROMPT),
        }
        username = _text(data.get("username")) or "User"
        personas.append(_persona(active, username, descriptions.get(active, legacy)))
    default = _text(power.get("default_persona")) or active
    return STPersonas(tuple(personas), default or None)


def _persona(avatar_file: str, name: str, details: object) -> STPersona:
    info = details if isinstance(details, dict) else {}
    description = _text(info.get("description"))
    position = info.get("position", _IN_PROMPT)
    report: list[str] = []
    if not isinstance(position, int) or position not in _POSITIONS:
        report.append(f"{name}: description position {position!r} becomes 'in the prompt'")
        position = _IN_PROMPT
    if position == _AT_DEPTH and (
        info.get("depth", _PARLOR_DEPTH) != _PARLOR_DEPTH
        or info.get("role", _PARLOR_ROLE) != _PARLOR_ROLE
    ):
        report.append(
            f"{name}: description depth {info.get('depth')} / role {info.get('role')} not "
            f"kept (Parlor puts it at depth {_PARLOR_DEPTH} as a system message)"
        )
    if _text(info.get("lorebook")):
        report.append(f"{name}: persona lorebook {info['lorebook']!r} not used")
    return STPersona(avatar_file, name, description, position, tuple(report))


def _mapping(value: object) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
