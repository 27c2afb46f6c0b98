"""Importing files: ``parlor import`` and the UI's import buttons take this one path.

Cards, SillyTavern World Info files, sampler presets, instruct/context/system-prompt
templates, reasoning templates, SillyTavern chats, persona avatars and SillyTavern's
``settings.json`` are recognised by their content and stored persistently; a folder
(such as a SillyTavern user data folder) is walked.  One failing item never stops the
rest, nothing of a failed item is stored, and no import silently replaces an existing
item: an identical one is reported as already there, a different one of the same name
is stored beside it (see :mod:`app.chat.format_files` for formats and
:mod:`app.chat.reasoning_files` for reasoning templates).

A SillyTavern data folder comes over as the user had it (:mod:`app.chat.st_setup`:
``settings.json`` selects the defaults); folders Parlor has no use for are skipped with
one line each.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from app.cards import read_card, read_world_file
from app.chat.format_files import FormatFiles, Stored, read_json
from app.chat.library import CharacterLibrary, PersonaImport
from app.chat.preset_files import store_preset
from app.chat.reasoning_files import ReasoningTemplates
from app.chat.st_folder import (
    SETTINGS,
    import_order,
    is_avatar,
    read_settings,
    skip_reason,
    walk,
)
from app.chat.st_groups import GROUP_CHATS_FOLDER, GroupFiles
from app.chat.st_personas import STPersonas, personas_from_settings
from app.chat.st_setup import SetupImport
from app.errors import InputError, ParlorError
from app.presets.library import PresetLibrary
from app.presets.model import Preset
from app.presets.sillytavern import ImportReport, import_sillytavern
from app.prompt.registry import FormatRegistry
from app.prompt.st_import import import_st_data
from app.prompt.st_reasoning import TEMPLATE_KEYS, master_reasoning, reasoning_from_st
from app.storage.repositories import PreferencesRepository
from app.storage.types import Chat

ItemKind = Literal[
    "card",
    "lorebook",
    "preset",
    "template",
    "reasoning",
    "chat",
    "group",
    "group chat",
    "persona",
    "settings",
    "folder",
]
#: Stores a SillyTavern chat file (for the named character, or the one in its header).
ChatImporter = Callable[[Path, str | None], Chat]
_MAX_SNIFF = 64 * 1024 * 1024
_TEMPLATE_KEYS = {"input_sequence", "story_string", "output_sequence", "system_sequence"}
_PRESET_KEYS = {"temp", "rep_pen", "temperature", "top_p", "min_p", "sampler_order", "samplers"}


@dataclass(frozen=True)
class ImportResult:
    """What happened to one file (or skipped folder)."""

    path: Path
    kind: ItemKind | None
    name: str = ""
    error: str | None = None
    report: tuple[str, ...] = ()
    #: Why nothing was stored though nothing failed (a folder Parlor has no use for,
    #: an item that is already there).
    skipped: str | None = None
    #: The id of the stored character, lorebook or persona (or of the identical one
    #: already there), for a page to show it; None for kinds kept in files.
    item_id: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the item did not fail (stored, or skipped for a reason)."""
        return self.error is None

    def line(self) -> str:
        """The one line a user sees for this item."""
        if self.error is not None:
            return f"failed: {self.error}"
        if self.skipped is not None:
            return f"skipped {self.path}: {self.skipped}"
        return f"imported {self.kind} {self.name!r} from {self.path}"


@dataclass(frozen=True)
class _Done:
    """The outcome of storing one item."""

    name: str
    report: tuple[str, ...] = ()
    skipped: str | None = None
    item_id: int | None = None


class Importer:
    """Imports files of every supported kind into Parlor's stores.

    Built once, by the composition root (:mod:`app.context`): ``parlor import`` and the
    Characters, Lorebooks and Presets pages use the same one.
    """

    def __init__(
        self,
        library: CharacterLibrary,
        presets: PresetLibrary,
        formats: FormatRegistry,
        templates_dir: Path,
        *,
        chat_importer: ChatImporter,
        preferences: PreferencesRepository,
        reasoning: ReasoningTemplates,
        groups: GroupFiles | None = None,
    ) -> None:
        self._library = library
        self._presets = presets
        self._formats = FormatFiles(formats, templates_dir)
        self._reasoning = reasoning
        self._chats = chat_importer
        self._groups = groups
        self._setup = SetupImport(library, presets, self._formats, reasoning, preferences)
        self._settings_cache: dict[Path, STPersonas | None] = {}

    def files(self, paths: list[Path]) -> list[Path]:
        """Every importable file under ``paths``, plus each skipped folder (a directory).

        Folders are walked; chats come last (their characters first) and
        ``settings.json`` just before them (the templates and presets it selects first).
        """
        found: list[Path] = []
        for path in paths:
            found += list(walk(path)) if path.is_dir() else [path]
        return sorted(found, key=import_order)

    def import_file(
        self,
        path: Path,
        *,
        character: str | None = None,
        only: Collection[ItemKind] | None = None,
        source_name: str | None = None,
    ) -> ImportResult:
        """Import one file; errors are returned, not raised.

        With ``only``, a file of any other kind is refused (a page that imports just
        some kinds).  ``source_name`` is what a stored card remembers as its file (by
        default the path; a page passes the uploaded file's own name).
        """
        skipped = skip_reason(path)
        if skipped is not None:
            return ImportResult(path, "folder" if path.is_dir() else None, skipped=skipped)
        kind: ItemKind | None = None
        try:
            kind = detect_kind(path)
            if only is not None and kind not in only:
                wanted = " or ".join(only)
                raise InputError(
                    path.name, f"is a {kind}, not a {wanted}; import it on its own page"
                )
            done = self._store(kind, path, character, source_name or str(path))
        except ParlorError as exc:
            return ImportResult(path, kind, error=str(exc))
        except OSError as exc:
            return ImportResult(path, kind, error=f"{path}: {exc.strerror or exc}")
        except RecursionError:
            return ImportResult(path, kind, error=f"{path}: JSON is nested too deeply")
        return ImportResult(
            path, kind, done.name, report=done.report, skipped=done.skipped, item_id=done.item_id
        )

    def _store(self, kind: ItemKind, path: Path, character: str | None, source_name: str) -> _Done:
        if kind == "card":
            return self._card(path, source_name)
        if kind == "lorebook":
            return self._world(path)
        if kind == "preset":
            preset, report = import_sillytavern(path)
            return self._preset(preset, report)
        if kind == "template":
            return self._template(path)
        if kind == "reasoning":
            return self._reasoning_file(path)
        if kind == "persona":
            return self._persona(path)
        if kind == "settings":
            return self._settings(path)
        if kind in ("group", "group chat"):
            return self._group_item(kind, path)
        chat = self._chats(path, character)
        return _Done(chat.title, item_id=chat.id)

    def _group_item(self, kind: ItemKind, path: Path) -> _Done:
        if self._groups is None:
            raise InputError(str(path), "groups cannot be imported here")
        if kind == "group":
            return _Done(self._groups.import_group(path))
        return _Done(self._groups.import_chat(path))

    # -- one method per kind ---------------------------------------------------------

    def _card(self, path: Path, source_name: str) -> _Done:
        card = read_card(path, source_name=source_name)
        existing = self._library.identical(card)
        if existing is not None:
            note = f"already there: character {existing.name!r}"
            return _Done(existing.name, skipped=note, item_id=existing.id)
        stored = self._library.store_card(card)
        return _Done(stored.name, item_id=stored.id)

    def _world(self, path: Path) -> _Done:
        world = read_world_file(path)
        existing = self._library.identical_world(world)
        if existing is not None:
            note = f"already there: lorebook {existing.name!r}"
            return _Done(existing.name, skipped=note, item_id=existing.id)
        stored = self._library.store_world(world)
        return _Done(stored.name, item_id=stored.id)

    def _template(self, path: Path) -> _Done:
        """Templates (a master export's reasoning template, too) from one file."""
        data = _json_object(path)
        parts = import_st_data(data, source=str(path))
        reasoning = master_reasoning(data, str(path))
        if reasoning is None:
            return _outcome(self._formats.store(parts), parts.report)
        fmt = self._formats.plan(parts)
        done = self._setup.default_reasoning(reasoning, fmt)
        lines = (*parts.report, *fmt.stored.lines, *done.lines)
        unchanged = not (done.changed or fmt.stored.changed)
        return _Done(fmt.stored.name, lines, fmt.stored.lines[0] if unchanged else None)

    def _reasoning_file(self, path: Path) -> _Done:
        """A reasoning template file, or a master export holding only one (the default)."""
        data = _json_object(path)
        reasoning = master_reasoning(data, str(path))
        if reasoning is not None:
            return _outcome(self._setup.default_reasoning(reasoning, None), ())
        stored = self._reasoning.store(reasoning_from_st(data, str(path)))
        return _outcome(stored, ())

    def _preset(self, preset: Preset, report: ImportReport) -> _Done:
        return _outcome(store_preset(self._presets, preset), tuple(report.lines()))

    def _persona(self, path: Path) -> _Done:
        known = self._settings_of(path.parent.parent / SETTINGS)
        spec = known.by_file(path.name) if known else None
        persona = PersonaImport(
            spec.name if spec else path.stem,
            spec.description if spec else "",
            spec.position if spec else 0,
            path.read_bytes(),
            default=known is not None and known.default_file == path.name,
        )
        stored, created = self._library.import_persona(persona)
        lines = (*spec.report,) if spec else ()
        skipped = None if created else f"already there: persona {stored.name!r}"
        return _Done(stored.name, lines, skipped, stored.id)

    def _settings(self, path: Path) -> _Done:
        """The active setup of ``settings.json``, all or nothing (:mod:`app.chat.st_setup`)."""
        stored = self._setup.settings(path)
        return _Done(stored.name, stored.lines)

    def _settings_of(self, path: Path) -> STPersonas | None:
        if path not in self._settings_cache:
            try:
                found = personas_from_settings(read_settings(path)) if path.is_file() else None
            except InputError:
                found = None
            self._settings_cache[path] = found
        return self._settings_cache[path]


def _outcome(stored: Stored, report: tuple[str, ...]) -> _Done:
    lines = (*report, *stored.lines)
    return _Done(stored.name, lines, None if stored.changed else stored.lines[0])


def detect_kind(path: Path) -> ItemKind:
    """What ``path`` holds, judged by its content (and, for JSONL, its suffix).

    An image in a ``User Avatars`` folder is a persona avatar, as SillyTavern keeps them.
    """
    suffix = path.suffix.lower()
    if is_avatar(path):
        return "persona"
    if suffix in (".png", ".charx", ".yaml", ".yml"):
        return "card"
    if suffix == ".jsonl":
        return "group chat" if path.parent.name == GROUP_CHATS_FOLDER else "chat"
    if path.stat().st_size > _MAX_SNIFF:
        raise InputError(str(path), "file is too large to import")
    return _kind_of(_json_object(path), path)


def _json_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(str(path), "not a card, lorebook, preset or template (not an object)")
    return data


def _kind_of(data: dict[str, object], path: Path) -> ItemKind:
    keys = set(data)
    if str(data.get("spec", "")).startswith("chara_card") or {"name", "first_mes"} <= keys:
        return "card"
    if isinstance(data.get("members"), list) and "name" in keys:
        return "group"
    if isinstance(data.get("entries"), dict) or data.get("spec") == "lorebook_v3":
        return "lorebook"
    if isinstance(data.get("power_user"), dict):
        return "settings"
    sections = {"instruct", "context", "sysprompt"} & keys
    if keys & _TEMPLATE_KEYS or sections or {"name", "content"} <= keys:
        return "template"
    if keys & _PRESET_KEYS or keys & {"preset", "textgen", "textgenerationwebui_settings"}:
        return "preset"
    if keys >= TEMPLATE_KEYS or isinstance(data.get("reasoning"), dict):
        return "reasoning"
    raise InputError(str(path), "not a card, lorebook, preset, template or chat")


__all__ = ["ImportResult", "Importer", "ItemKind", "detect_kind"]
