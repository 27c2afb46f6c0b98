"""A SillyTavern user data folder: what is walked, what is skipped, in which order,
how its JSON files are read, and what its ``settings.json`` selects (sampler preset,
personas with their avatars).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from app.chat.format_files import read_json
from app.chat.library import PersonaImport
from app.chat.st_personas import STPersona, personas_from_settings
from app.errors import InputError
from app.presets.model import Preset
from app.presets.sillytavern import ImportReport, active_sampler_key, import_sillytavern_data

#: Where SillyTavern keeps persona avatars, and its settings file.
AVATARS = "User Avatars"
SETTINGS = "settings.json"
IMPORTED_SUFFIXES = frozenset({".png", ".json", ".charx", ".jsonl", ".yaml", ".yml"})
IMAGES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})

#: Folders of a SillyTavern data folder that hold nothing Parlor imports, and why.
SKIPPED_FOLDERS: Mapping[str, str] = {
    "backgrounds": "chat backgrounds",
    "themes": "UI themes",
    "thumbnails": "image thumbnails",
    "QuickReplies": "Quick Reply sets",
    "assets": "extension assets",
    "user": "user files and images",
    "vectors": "vector storage",
    "movingUI": "UI layouts",
    "extensions": "SillyTavern extensions",
    "backups": "SillyTavern's own backups",
    "OpenAI Settings": "chat-completion presets",
    "NovelAI Settings": "NovelAI presets",
    "files": "chat attachments",
}
#: Files of a SillyTavern data folder that are never read.
SKIPPED_FILES: Mapping[str, str] = {
    "secrets.json": "API keys are never imported",
    "stats.json": "usage statistics",
}


def walk(folder: Path) -> Iterator[Path]:
    """Every importable file under ``folder``, plus each skipped folder and file."""
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            yield from [path] if path.name in SKIPPED_FOLDERS else walk(path)
        elif (
            path.name in SKIPPED_FILES
            or path.suffix.lower() in IMPORTED_SUFFIXES
            or is_avatar(path)
        ):
            yield path


def import_order(path: Path) -> tuple[int, str]:
    """Chats last (their characters first), ``settings.json`` and groups just before them,
    group chats after their groups."""
    if path.suffix.lower() == ".jsonl":
        return (3 if path.parent.name == "group chats" else 2), str(path)
    return (1 if path.name == SETTINGS or path.parent.name == "groups" else 0), str(path)


def skip_reason(path: Path) -> str | None:
    """Why ``path`` is not imported (None: it is)."""
    if path.is_dir():
        reason = SKIPPED_FOLDERS.get(path.name)
        return f"{reason}: not imported" if reason else "a folder: nothing to import"
    reason = SKIPPED_FILES.get(path.name)
    return f"{reason}: not imported" if reason else None


def is_avatar(path: Path) -> bool:
    """An image in ``User Avatars``: a persona's avatar."""
    return path.parent.name == AVATARS and path.suffix.lower() in IMAGES


def read_settings(path: Path) -> Mapping[str, Any]:
    """A ``settings.json`` parsed; an unreadable one raises ``InputError`` naming it."""
    try:
        data = read_json(path)
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise InputError(str(path), "not a SillyTavern settings file (not an object)")
    return data


def persona_imports(
    data: Mapping[str, Any], avatars: Path
) -> list[tuple[PersonaImport, STPersona]]:
    """The personas of ``settings.json``, their avatars read from ``avatars``."""
    known = personas_from_settings(data)
    found = []
    for spec in known.personas:
        image = avatars / spec.avatar_file
        avatar = image.read_bytes() if image.is_file() else None
        default = spec.avatar_file == known.default_file
        persona = PersonaImport(spec.name, spec.description, spec.position, avatar, default)
        found.append((persona, spec))
    return found


def selected_preset(
    data: Mapping[str, Any], path: Path
) -> tuple[Preset | None, ImportReport | None]:
    """The sampler preset in use in ``settings.json``, named after the selected one."""
    key = active_sampler_key(data)
    section = data.get(key) if key is not None else None
    if not isinstance(section, dict):
        return None, None
    selected = data.get("preset_settings") if key == "kai_settings" else section.get("preset")
    name = selected if isinstance(selected, str) and selected.strip() else "SillyTavern"
    return import_sillytavern_data(data, source=path.name, name=name)
