"""Imported prompt formats: one JSON file each in the data folder, and their names.

A format made from SillyTavern templates is kept as a master export with a top-level
``name`` (:meth:`STImport.to_saved`), so it reads back through the SillyTavern importer
at every start (:func:`load_user_templates`).

Naming policy (files of different kinds never overwrite each other, and no import
silently replaces anything):

* SillyTavern pairs an instruct and a context template by name, so a template goes into
  the imported format of its name when that format has no template of its kind yet;
* an import whose templates are all there already changes nothing and says so;
* a *different* template of a kind the format already has makes a new format,
  ``Name (2)`` (then ``(3)``, …), and the report says so;
* a bundled format of the same name is replaced by the user's, with a report line (it
  comes back if the user's file is removed); ``GGUF`` is never replaced.

The policy's helpers (numbered names, free file names, atomic JSON files) serve the
user's reasoning templates too (:mod:`app.chat.reasoning_files`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from app.errors import InputError, ParlorError
from app.prompt.registry import GGUF_FORMAT_NAME, FormatRegistry
from app.prompt.st_import import STImport, import_st_file

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^\w .,()&'+-]")
_Plan = TypeVar("_Plan")
_KINDS = ("instruct", "context", "sysprompt")
_KIND_NAMES = {"instruct": "instruct template", "context": "context template",
               "sysprompt": "system prompt"}  # fmt: skip


@dataclass(frozen=True)
class Stored:
    """Where an import went: the item's name, whether anything changed, report lines."""

    name: str
    changed: bool
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormatPlan:
    """What storing a format will do: the outcome, and what :meth:`FormatFiles.write` writes."""

    stored: Stored
    #: The templates to save (None: nothing changes).
    saved: STImport | None = None
    #: The file to write over (None: a new file).
    path: Path | None = None


def numbered(name: str, number: int) -> str:
    """``Name`` for 1, ``Name (2)`` for 2, …"""
    return name if number == 1 else f"{name} ({number})"


def first_fit(base: str, attempt: Callable[[str, bool], _Plan | None]) -> _Plan | None:
    """The first plan ``attempt`` makes of ``base``, ``base (2)``, … (its second argument:
    whether the name is ``base`` itself); None when every name is taken."""
    for number in range(1, 10_000):
        plan = attempt(numbered(base, number), number == 1)
        if plan is not None:
            return plan
    return None


def free_path(folder: Path, name: str, fallback: str) -> Path:
    """A new JSON file in ``folder`` named after ``name`` (``fallback`` if nothing is left)."""
    stem = _UNSAFE.sub("_", name).strip().lstrip(".") or fallback
    taken = {p.name.lower() for p in json_files(folder)}
    for number in range(1, 10_000):
        candidate = f"{numbered(stem, number)}.json"
        if candidate.lower() not in taken:
            return folder / candidate
    raise ParlorError(f"{folder}: no free file name for {name!r}")


def folder_time(folder: Path) -> int | None:
    """``folder``'s modification time (None: there is no folder): a file was added or
    removed when it changes."""
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return None


class FormatFiles:
    """The user's imported formats in ``folder``, served by ``formats``."""

    def __init__(self, formats: FormatRegistry, folder: Path) -> None:
        self._formats = formats
        self._folder = folder
        self._saved: dict[str, tuple[Path, STImport]] | None = None
        #: The folder's modification time when :attr:`_saved` was last in step with it.
        self._seen: int | None = None

    def store(self, parts: STImport) -> Stored:
        """Keep ``parts`` as a format under the naming policy; the registry serves it."""
        plan = self.plan(parts)
        self.write(plan)
        return plan.stored

    def plan(self, parts: STImport) -> FormatPlan:
        """Where ``parts`` would go under the naming policy; nothing is written yet."""
        base = parts.name or "Imported format"
        plan = first_fit(base, lambda name, first: self._try(name, parts, first=first))
        if plan is None:
            raise ParlorError(f"{parts.source}: too many formats named {base!r}")
        return plan

    def write(self, plan: FormatPlan) -> None:
        """Carry out ``plan``: write its file and serve the format (nothing if unchanged)."""
        if plan.saved is not None:
            self._write(plan.stored.name, plan.saved, plan.path)

    def _try(self, name: str, parts: STImport, *, first: bool) -> FormatPlan | None:
        """The plan storing ``parts`` as ``name`` if the policy allows; None: try the next."""
        saved = self._index().get(name.lower())
        if saved is not None:
            path, old = saved
            if old.holds_all_of(parts):
                return FormatPlan(Stored(name, False, (f"already there: format {name!r}",)))
            merged = old.merged(parts) if first else None
            if merged is None:
                return None
            note = f"added the {_kinds_of(parts, old)} to format {name!r}"
            return FormatPlan(Stored(name, True, (note,)), merged, path)
        if self._formats.has(name):
            if not first or name.lower() == GGUF_FORMAT_NAME.lower():
                return None
            note = f"replaces the bundled format {name!r} (removing the import restores it)"
            return FormatPlan(Stored(name, True, (note,)), parts)
        renamed = f"a different format named {parts.name!r} exists; imported as {name!r}"
        return FormatPlan(Stored(name, True, () if first else (renamed,)), parts)

    def _write(self, name: str, parts: STImport, path: Path | None) -> None:
        index = self._index()
        target = path or free_path(self._folder, name, "format")
        write_json(target, parts.to_saved(name))
        kept = replace(parts, source=str(target), report=(), format_name=name)
        index[name.lower()] = (target, kept)
        self._seen = folder_time(self._folder)
        self._formats.add(kept.to_format(name))

    def _index(self) -> dict[str, tuple[Path, STImport]]:
        """Saved formats by lower-case name, read again when another process wrote one."""
        if self._saved is None or self._seen != folder_time(self._folder):
            self._saved = {}
            for path, parts in _saved_formats(self._folder):
                self._saved.setdefault(parts.name.lower() or path.stem.lower(), (path, parts))
            self._seen = folder_time(self._folder)
        return self._saved


def _kinds_of(parts: STImport, old: STImport) -> str:
    added = [_KIND_NAMES[k] for k in _KINDS if getattr(old, k) is None and getattr(parts, k)]
    return " and ".join(added) or "templates"


def json_files(folder: Path) -> list[Path]:
    """The saved items' files in ``folder`` (none when there is no folder yet)."""
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _saved_formats(folder: Path) -> Iterator[tuple[Path, STImport]]:
    for path in json_files(folder):
        try:
            yield path, import_st_file(path)
        except ParlorError as exc:
            log.warning("%s", exc)


def read_json(path: Path) -> object:
    """A JSON file (UTF-8, a BOM allowed) parsed; one that is not raises ``InputError``."""
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(path), f"not a JSON file ({exc.__class__.__name__})") from None
    except RecursionError:
        raise InputError(str(path), "JSON is nested too deeply") from None


def write_json(path: Path, data: object) -> None:
    """Write atomically: a temporary file in the same folder, fsync, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=4, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def load_user_templates(formats: FormatRegistry, folder: Path) -> Iterator[str]:
    """Add the imported formats kept in ``folder``; yields the errors (one line each, for
    the caller to report)."""
    for path in json_files(folder):
        try:
            formats.add(import_st_file(path).to_format())
        except ParlorError as exc:
            yield str(exc)
