"""``parlor import``: detect what a file is by its content and store it.

Cards, SillyTavern World Info files, sampler presets, instruct/context/system-prompt
templates and SillyTavern chats; a folder (such as a SillyTavern user data folder with
``characters/``, ``chats/``, ``worlds/``) is walked.  One failing item never stops the
rest, and nothing of a failed item is stored.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.chat.library import CharacterLibrary
from app.errors import InputError, ParlorError
from app.presets.library import PresetLibrary
from app.presets.sillytavern import import_sillytavern
from app.prompt.registry import FormatRegistry
from app.prompt.st_import import import_st_file

log = logging.getLogger(__name__)

ItemKind = Literal["card", "lorebook", "preset", "template", "chat"]
#: Stores a SillyTavern chat file (for the named character, or the one in its header).
ChatImporter = Callable[[Path, str | None], str]
_SUFFIXES = {".png", ".json", ".charx", ".jsonl", ".yaml", ".yml"}
_MAX_SNIFF = 64 * 1024 * 1024
_TEMPLATE_KEYS = {"input_sequence", "story_string", "output_sequence", "system_sequence"}
_PRESET_KEYS = {"temp", "rep_pen", "temperature", "top_p", "min_p", "sampler_order", "samplers"}


@dataclass(frozen=True)
class ImportResult:
    """What happened to one file."""

    path: Path
    kind: ItemKind | None
    name: str = ""
    error: str | None = None
    report: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the item was stored."""
        return self.error is None


class Importer:
    """Imports files of every supported kind into Parlor's stores."""

    def __init__(
        self,
        library: CharacterLibrary,
        presets: PresetLibrary,
        formats: FormatRegistry,
        templates_dir: Path,
        chat_importer: ChatImporter | None = None,
    ) -> None:
        self._library = library
        self._presets = presets
        self._formats = formats
        self._templates_dir = templates_dir
        self._chats = chat_importer

    def files(self, paths: list[Path]) -> list[Path]:
        """Every importable file under ``paths`` (folders walked, sorted)."""
        found: list[Path] = []
        for path in paths:
            if path.is_dir():
                found += sorted(p for p in path.rglob("*") if p.suffix.lower() in _SUFFIXES)
            else:
                found.append(path)
        return found

    def import_file(self, path: Path, *, character: str | None = None) -> ImportResult:
        """Import one file; errors are returned, not raised."""
        kind: ItemKind | None = None
        try:
            kind = detect_kind(path)
            name, report = self._store(kind, path, character)
        except ParlorError as exc:
            return ImportResult(path, kind, error=str(exc))
        except OSError as exc:
            return ImportResult(path, kind, error=f"{path}: {exc.strerror or exc}")
        return ImportResult(path, kind, name, report=report)

    def _store(
        self, kind: ItemKind, path: Path, character: str | None
    ) -> tuple[str, tuple[str, ...]]:
        if kind == "card":
            return self._library.import_card(path).name, ()
        if kind == "lorebook":
            return self._library.import_world(path).name, ()
        if kind == "preset":
            preset, report = import_sillytavern(path)
            self._presets.save(preset)
            return preset.name, tuple(report.lines())
        if kind == "template":
            fmt = import_st_file(path).to_format()
            self._templates_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self._templates_dir / f"{fmt.name}.json")
            self._formats.add(fmt)
            return fmt.name, ()
        if self._chats is None:
            raise InputError(str(path), "chat import is not available")
        return self._chats(path, character), ()


def detect_kind(path: Path) -> ItemKind:
    """What ``path`` holds, judged by its content (and, for JSONL, its suffix)."""
    suffix = path.suffix.lower()
    if suffix in (".png", ".charx", ".yaml", ".yml"):
        return "card"
    if suffix == ".jsonl":
        return "chat"
    if path.stat().st_size > _MAX_SNIFF:
        raise InputError(str(path), "file is too large to import")
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(path), f"not a JSON file ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise InputError(str(path), "not a card, lorebook, preset or template (not an object)")
    return _kind_of(data, path)


def _kind_of(data: dict[str, object], path: Path) -> ItemKind:
    keys = set(data)
    if str(data.get("spec", "")).startswith("chara_card") or {"name", "first_mes"} <= keys:
        return "card"
    if isinstance(data.get("entries"), dict) or data.get("spec") == "lorebook_v3":
        return "lorebook"
    sections = {"instruct", "context", "sysprompt"} & keys
    if keys & _TEMPLATE_KEYS or sections or {"name", "content"} <= keys:
        return "template"
    if keys & _PRESET_KEYS or keys & {"preset", "textgen", "textgenerationwebui_settings"}:
        return "preset"
    raise InputError(str(path), "not a card, lorebook, preset, template or chat")


def load_user_templates(formats: FormatRegistry, folder: Path) -> Iterator[str]:
    """Add imported SillyTavern templates kept in ``folder``; yields the errors."""
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            formats.add(import_st_file(path).to_format())
        except ParlorError as exc:
            log.warning("%s", exc)
            yield str(exc)
