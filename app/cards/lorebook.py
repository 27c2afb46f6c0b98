"""Lorebooks: the spec ``character_book`` shape and SillyTavern World Info files.

Two JSON shapes describe the same thing (research notes §1.5):

* the spec ``character_book`` inside a card: ``{"name", ..., "entries": [{"keys", ...}]}``;
* SillyTavern's World Info file: ``{"entries": {"<uid>": {"key", ...}}}``, optionally with
  ``"originalData"`` holding the character book it was converted from.

:class:`Lorebook` keeps the first shape losslessly (every key, unknown ones and nested
``extensions`` included).  :meth:`Lorebook.to_world` is SillyTavern's
``convertCharacterBook()`` and :meth:`Lorebook.from_world` its
``convertWorldInfoToCharacterBook()``; when the world file still carries ``originalData``
and an entry is unchanged, the original entry comes back byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from app.cards._util import JSONDict, deep_copy, is_number, is_str_list, type_name
from app.errors import LorebookError

#: Largest world file :func:`read_world_file` accepts.
MAX_WORLD_BYTES: Final = 32 * 1024 * 1024

_UNDEF: Final = object()  # JavaScript ``undefined``: the key is left out of the output

#: ``createDefaultWorldInfoEntry()`` / ``newWorldInfoEntryDefinition`` defaults, in order.
WORLD_ENTRY_DEFAULTS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "key": (),
        "keysecondary": (),
        "comment": "",
        "content": "",
        "constant": False,
        "vectorized": False,
        "selective": True,
        "selectiveLogic": 0,
        "addMemo": False,
        "order": 100,
        "position": 0,
        "disable": False,
        "ignoreBudget": False,
        "excludeRecursion": False,
        "preventRecursion": False,
        "matchPersonaDescription": False,
        "matchCharacterDescription": False,
        "matchCharacterPersonality": False,
        "matchCharacterDepthPrompt": False,
        "matchScenario": False,
        "matchCreatorNotes": False,
        "delayUntilRecursion": 0,
        "probability": 100,
        "useProbability": True,
        "depth": 4,
        "outletName": "",
        "group": "",
        "groupOverride": False,
        "groupWeight": 100,
        "scanDepth": None,
        "caseSensitive": None,
        "matchWholeWords": None,
        "useGroupScoring": None,
        "automationId": "",
        "role": 0,
        "sticky": None,
        "cooldown": None,
        "delay": None,
        "triggers": (),
    }
)

#: card -> world: (world field, ``extensions`` key, default used for null/undefined).
_TO_WORLD: Final[tuple[tuple[str, str, Any], ...]] = (
    ("excludeRecursion", "exclude_recursion", False),
    ("preventRecursion", "prevent_recursion", False),
    ("delayUntilRecursion", "delay_until_recursion", False),
    ("probability", "probability", 100),
    ("useProbability", "useProbability", True),
    ("depth", "depth", 4),
    ("selectiveLogic", "selectiveLogic", 0),
    ("outletName", "outlet_name", ""),
    ("group", "group", ""),
    ("groupOverride", "group_override", False),
    ("groupWeight", "group_weight", 100),
    ("scanDepth", "scan_depth", None),
    ("caseSensitive", "case_sensitive", None),
    ("matchWholeWords", "match_whole_words", None),
    ("useGroupScoring", "use_group_scoring", None),
    ("automationId", "automation_id", ""),
    ("role", "role", 0),
    ("vectorized", "vectorized", False),
    ("sticky", "sticky", None),
    ("cooldown", "cooldown", None),
    ("delay", "delay", None),
    ("matchPersonaDescription", "match_persona_description", False),
    ("matchCharacterDescription", "match_character_description", False),
    ("matchCharacterPersonality", "match_character_personality", False),
    ("matchCharacterDepthPrompt", "match_character_depth_prompt", False),
    ("matchScenario", "match_scenario", False),
    ("matchCreatorNotes", "match_creator_notes", False),
)

#: world -> card: (``extensions`` key, world field, default; ``_UNDEF`` = no default).
_TO_BOOK: Final[tuple[tuple[str, str, Any], ...]] = (
    ("position", "position", _UNDEF),
    ("exclude_recursion", "excludeRecursion", _UNDEF),
    ("display_index", "displayIndex", _UNDEF),
    ("probability", "probability", None),
    ("useProbability", "useProbability", False),
    ("depth", "depth", 4),
    ("selectiveLogic", "selectiveLogic", 0),
    ("outlet_name", "outletName", ""),
    ("group", "group", ""),
    ("group_override", "groupOverride", False),
    ("group_weight", "groupWeight", None),
    ("prevent_recursion", "preventRecursion", False),
    ("delay_until_recursion", "delayUntilRecursion", False),
    ("scan_depth", "scanDepth", None),
    ("match_whole_words", "matchWholeWords", None),
    ("use_group_scoring", "useGroupScoring", False),
    ("case_sensitive", "caseSensitive", None),
    ("automation_id", "automationId", ""),
    ("role", "role", 0),
    ("vectorized", "vectorized", False),
    ("sticky", "sticky", None),
    ("cooldown", "cooldown", None),
    ("delay", "delay", None),
    ("match_persona_description", "matchPersonaDescription", False),
    ("match_character_description", "matchCharacterDescription", False),
    ("match_character_personality", "matchCharacterPersonality", False),
    ("match_character_depth_prompt", "matchCharacterDepthPrompt", False),
    ("match_scenario", "matchScenario", False),
    ("match_creator_notes", "matchCreatorNotes", False),
    ("triggers", "triggers", []),
    ("ignore_budget", "ignoreBudget", False),
)

_BOOK_STR_FIELDS: Final = ("name", "description")
_BOOK_NUM_FIELDS: Final = ("scan_depth", "token_budget")
_ENTRY_STR_FIELDS: Final = ("content", "comment", "name", "position")
_ENTRY_BOOL_FIELDS: Final = ("enabled", "constant", "selective", "use_regex", "case_sensitive")
_ENTRY_NUM_FIELDS: Final = ("insertion_order", "priority")


# --------------------------------------------------------------------------- validation


def _entry_problem(entry: object, where: str) -> str | None:
    """Return the first thing wrong with one spec lorebook entry, or None."""
    if not isinstance(entry, dict):
        return f"{where} must be an object, got {type_name(entry)}"
    for field in ("keys", "secondary_keys"):
        if entry.get(field) is not None and not is_str_list(entry[field]):
            return f"{where}.{field} must be a list of strings"
    for field in _ENTRY_STR_FIELDS:
        if entry.get(field) is not None and not isinstance(entry[field], str):
            return f"{where}.{field} must be a string, got {type_name(entry[field])}"
    for field in _ENTRY_BOOL_FIELDS:
        if entry.get(field) is not None and not isinstance(entry[field], bool):
            return f"{where}.{field} must be true or false, got {type_name(entry[field])}"
    for field in _ENTRY_NUM_FIELDS:
        if entry.get(field) is not None and not is_number(entry[field]):
            return f"{where}.{field} must be a number, got {type_name(entry[field])}"
    uid = entry.get("id")
    if uid is not None and not (isinstance(uid, str) or is_number(uid)):
        return f"{where}.id must be a number or a string, got {type_name(uid)}"
    if entry.get("extensions") is not None and not isinstance(entry["extensions"], dict):
        return f"{where}.extensions must be an object, got {type_name(entry['extensions'])}"
    return None


def book_problem(book: object) -> str | None:
    """Return the first thing wrong with a spec ``character_book`` object, or None.

    Checks only types; missing optional fields are fine (accessors supply defaults).
    """
    if not isinstance(book, dict):
        return f"must be an object, got {type_name(book)}"
    entries = book.get("entries")
    if not isinstance(entries, list):
        return f"entries must be a list, got {type_name(entries)}"
    for field in _BOOK_STR_FIELDS:
        if book.get(field) is not None and not isinstance(book[field], str):
            return f"{field} must be a string, got {type_name(book[field])}"
    for field in _BOOK_NUM_FIELDS:
        if book.get(field) is not None and not is_number(book[field]):
            return f"{field} must be a number, got {type_name(book[field])}"
    if book.get("recursive_scanning") is not None and not isinstance(
        book["recursive_scanning"], bool
    ):
        return "recursive_scanning must be true or false"
    if book.get("extensions") is not None and not isinstance(book["extensions"], dict):
        return f"extensions must be an object, got {type_name(book['extensions'])}"
    for index, entry in enumerate(entries):
        problem = _entry_problem(entry, f"entries[{index}]")
        if problem:
            return problem
    return None


def _world_entry_problem(entry: object, where: str) -> str | None:
    """Return the first thing wrong with one World Info entry, or None."""
    if not isinstance(entry, dict):
        return f"{where} must be an object, got {type_name(entry)}"
    for field in ("key", "keysecondary"):
        if entry.get(field) is not None and not is_str_list(entry[field]):
            return f"{where}.{field} must be a list of strings"
    for field in ("content", "comment"):
        if entry.get(field) is not None and not isinstance(entry[field], str):
            return f"{where}.{field} must be a string, got {type_name(entry[field])}"
    uid = entry.get("uid")
    if uid is not None and not (isinstance(uid, str) or is_number(uid)):
        return f"{where}.uid must be a number or a string, got {type_name(uid)}"
    order = entry.get("order")
    if order is not None and not is_number(order):
        return f"{where}.order must be a number, got {type_name(order)}"
    return None


def world_problem(world: object) -> str | None:
    """Return the first thing wrong with a World Info file object, or None."""
    if not isinstance(world, dict):
        return f"must be a JSON object, got {type_name(world)}"
    entries = world.get("entries")
    if not isinstance(entries, dict):
        return f"entries must be an object keyed by uid, got {type_name(entries)}"
    for uid, entry in entries.items():
        problem = _world_entry_problem(entry, f"entries[{uid!r}]")
        if problem:
            return problem
    if "originalData" in world and world["originalData"] is not None:
        problem = book_problem(world["originalData"])
        if problem:
            return f"originalData: {problem}"
    return None


# --------------------------------------------------------------------------- JS semantics


def _js_truthy(value: object) -> bool:
    """JavaScript truthiness for JSON values."""
    if value is None or value is False or value is _UNDEF:
        return False
    if is_number(value):
        return value != 0
    return value != ""


def _js_or(value: object, default: object) -> object:
    """``value || default``."""
    return value if _js_truthy(value) else default


def _js_loose_zero(value: object) -> bool:
    """``value == 0`` with JavaScript's loose equality, for JSON values."""
    if isinstance(value, bool):
        return value is False
    if is_number(value):
        return bool(value == 0)
    if isinstance(value, str):
        try:
            return float(value.strip() or "0") == 0
        except ValueError:
            return False
    return False


def _js_key_order(keys: list[str]) -> list[str]:
    """Order object keys as JavaScript iterates them: array indices first, ascending."""
    indices = sorted(
        (k for k in keys if k.isdigit() and str(int(k)) == k and int(k) < 2**32 - 1), key=int
    )
    index_set = set(indices)
    return indices + [k for k in keys if k not in index_set]


def _put(target: JSONDict, key: str, value: object) -> None:
    """Set ``target[key]``, or drop the key when the value is JavaScript ``undefined``."""
    if value is _UNDEF:
        target.pop(key, None)
    else:
        target[key] = value


def _nullish(value: object, default: object) -> object:
    """``value ?? default``."""
    return default if value is None or value is _UNDEF else value


# --------------------------------------------------------------------------- conversions


def _entry_to_world(entry: JSONDict, uid: object, index: int) -> JSONDict:
    """One ``convertCharacterBook()`` entry: spec entry -> World Info entry."""
    ext = entry.get("extensions")
    ext = ext if isinstance(ext, dict) else {}
    out: JSONDict = {
        k: list(v) if isinstance(v, tuple) else v for k, v in WORLD_ENTRY_DEFAULTS.items()
    }
    out["uid"] = uid
    _put(out, "key", deep_copy_value(entry.get("keys", _UNDEF)))
    out["keysecondary"] = deep_copy_value(_js_or(entry.get("secondary_keys"), []))
    out["comment"] = _js_or(entry.get("comment"), "")
    _put(out, "content", entry.get("content", _UNDEF))
    out["constant"] = _js_or(entry.get("constant"), False)
    out["selective"] = _js_or(entry.get("selective"), False)
    _put(out, "order", entry.get("insertion_order", _UNDEF))
    out["position"] = _nullish(
        ext.get("position"), 0 if entry.get("position") == "before_char" else 1
    )
    out["disable"] = not _js_truthy(entry.get("enabled", _UNDEF))
    out["addMemo"] = _js_truthy(entry.get("comment"))
    out["displayIndex"] = _nullish(ext.get("display_index"), index)
    for world_key, ext_key, default in _TO_WORLD:
        out[world_key] = deep_copy_value(_nullish(ext.get(ext_key), default))
    out["extensions"] = deep_copy_value(_nullish(entry.get("extensions"), {}))
    out["triggers"] = deep_copy_value(_js_or(ext.get("triggers"), []))
    out["ignoreBudget"] = _nullish(ext.get("ignore_budget"), False)
    return out


def _entry_from_world(entry: JSONDict) -> JSONDict:
    """One ``convertWorldInfoToCharacterBook()`` entry: World Info entry -> spec entry."""
    out: JSONDict = {}
    for key, world_key in (
        ("id", "uid"),
        ("keys", "key"),
        ("secondary_keys", "keysecondary"),
        ("comment", "comment"),
        ("content", "content"),
        ("constant", "constant"),
        ("selective", "selective"),
        ("insertion_order", "order"),
    ):
        _put(out, key, deep_copy_value(entry.get(world_key, _UNDEF)))
    out["enabled"] = not _js_truthy(entry.get("disable", _UNDEF))
    out["position"] = "before_char" if _js_loose_zero(entry.get("position")) else "after_char"
    out["use_regex"] = True
    ext_in = entry.get("extensions")
    ext: JSONDict = deep_copy_value(ext_in) if isinstance(ext_in, dict) else {}
    for ext_key, world_key, default in _TO_BOOK:
        value = entry.get(world_key, _UNDEF)
        _put(
            ext, ext_key, deep_copy_value(value if default is _UNDEF else _nullish(value, default))
        )
    out["extensions"] = ext
    return out


def deep_copy_value(value: Any) -> Any:
    """Deep-copy a JSON value (lists and objects); other values are returned as they are."""
    if isinstance(value, dict | list):
        return deep_copy({"v": value})["v"]
    return value


def _book_to_world_entries(book: JSONDict) -> dict[str, JSONDict]:
    """``convertCharacterBook()`` entries, keyed by ``str(uid)`` in book order."""
    entries: list[JSONDict] = book.get("entries", [])
    used = {str(e["id"]) for e in entries if e.get("id") is not None}
    next_id = 0
    result: dict[str, JSONDict] = {}
    for index, entry in enumerate(entries):
        uid = entry.get("id")
        if uid is None:
            while str(next_id) in used:
                next_id += 1
            uid = next_id
            used.add(str(uid))
            next_id += 1
        result[_uid_key(uid)] = _entry_to_world(entry, uid, index)
    return result


def _uid_key(uid: object) -> str:
    """The object key JavaScript uses for a uid (``String(uid)``)."""
    if isinstance(uid, float) and uid.is_integer():
        return str(int(uid))
    return str(uid)


# --------------------------------------------------------------------------- models


@dataclass(eq=True)
class LoreEntry:
    """One spec lorebook entry; ``data`` keeps every key of the original object."""

    data: JSONDict

    @property
    def keys(self) -> list[str]:
        """Primary keys."""
        return list(self.data.get("keys") or [])

    @property
    def secondary_keys(self) -> list[str]:
        """Secondary (filter) keys."""
        return list(self.data.get("secondary_keys") or [])

    @property
    def content(self) -> str:
        """Text inserted into the prompt when the entry activates."""
        return str(self.data.get("content") or "")

    @property
    def comment(self) -> str:
        """Title / memo; never sent to the model."""
        return str(self.data.get("comment") or "")

    @property
    def name(self) -> str:
        """Optional entry name; never sent to the model."""
        return str(self.data.get("name") or "")

    @property
    def id(self) -> int | float | str | None:
        """Entry id (becomes the World Info uid)."""
        value = self.data.get("id")
        return value if isinstance(value, int | float | str) else None

    @property
    def enabled(self) -> bool:
        """Whether the entry may activate (spec default: true)."""
        return self.data.get("enabled") is not False

    @property
    def constant(self) -> bool:
        """Always active (within the budget)."""
        return self.data.get("constant") is True

    @property
    def selective(self) -> bool:
        """Whether secondary keys must also match."""
        return self.data.get("selective") is True

    @property
    def use_regex(self) -> bool:
        """Whether keys are regular expressions (V3)."""
        return self.data.get("use_regex") is True

    @property
    def case_sensitive(self) -> bool | None:
        """Per-entry case sensitivity, or None for the global setting."""
        value = self.data.get("case_sensitive")
        return value if isinstance(value, bool) else None

    @property
    def insertion_order(self) -> float:
        """Insertion order (ST ``order``); default 100."""
        value = self.data.get("insertion_order")
        return value if is_number(value) else 100

    @property
    def priority(self) -> float | None:
        """Budget priority, if given."""
        value = self.data.get("priority")
        return value if is_number(value) else None

    @property
    def position(self) -> str:
        """``before_char`` or ``after_char`` (default ``before_char``)."""
        value = self.data.get("position")
        return value if isinstance(value, str) else "before_char"

    @property
    def extensions(self) -> JSONDict:
        """Application data (ST keeps its World Info fields here)."""
        value = self.data.get("extensions")
        return value if isinstance(value, dict) else {}


@dataclass(eq=True)
class Lorebook:
    """A spec ``character_book``, kept losslessly in ``data``.

    Build one with :meth:`from_dict` (validates) or :meth:`from_world`.
    """

    data: JSONDict

    @classmethod
    def from_dict(cls, book: object, *, source: str = "character_book") -> Lorebook:
        """Validate a spec lorebook object and wrap a deep copy of it.

        Raises :class:`~app.errors.LorebookError` naming ``source`` when a field has the
        wrong type.
        """
        problem = book_problem(book)
        if problem:
            raise LorebookError(source, problem)
        assert isinstance(book, dict)
        return cls(deep_copy(book))

    @classmethod
    def from_world(cls, world: Mapping[str, Any], *, name: str, source: str = "") -> Lorebook:
        """Convert a World Info file object to a spec lorebook (ST's reverse conversion).

        ``name`` is the world's name (ST uses the file name).  Entries unchanged since
        the world was made from ``originalData`` come back exactly as they were.
        """
        problem = world_problem(dict(world))
        if problem:
            raise LorebookError(source or name, problem)
        original = world.get("originalData")
        entries: dict[str, JSONDict] = world["entries"]
        if isinstance(original, dict):
            return cls(_merge_with_original(entries, original, name))
        book: JSONDict = {"entries": [], "name": name}
        for key in _js_key_order(list(entries)):
            book["entries"].append(_entry_from_world(entries[key]))
        return cls(book)

    def to_dict(self) -> JSONDict:
        """Return a deep copy of the spec object."""
        return deep_copy(self.data)

    def to_world(self) -> JSONDict:
        """Convert to SillyTavern's World Info shape, keeping ``originalData``."""
        return {"entries": _book_to_world_entries(self.data), "originalData": self.to_dict()}

    @property
    def name(self) -> str:
        """Book name (not used in prompts)."""
        return str(self.data.get("name") or "")

    @property
    def description(self) -> str:
        """Book description (not used in prompts)."""
        return str(self.data.get("description") or "")

    @property
    def scan_depth(self) -> float | None:
        """Messages to scan; ST ignores this and uses its global setting."""
        value = self.data.get("scan_depth")
        return value if is_number(value) else None

    @property
    def token_budget(self) -> float | None:
        """Token budget; ST ignores this and uses its global setting."""
        value = self.data.get("token_budget")
        return value if is_number(value) else None

    @property
    def recursive_scanning(self) -> bool | None:
        """Whether entry content may trigger other entries, if set."""
        value = self.data.get("recursive_scanning")
        return value if isinstance(value, bool) else None

    @property
    def extensions(self) -> JSONDict:
        """Application data of the book."""
        value = self.data.get("extensions")
        return value if isinstance(value, dict) else {}

    @property
    def entries(self) -> list[LoreEntry]:
        """The entries, as views on the same dicts (edits write through)."""
        return [LoreEntry(e) for e in self.data.get("entries", [])]

    def __iter__(self) -> Iterator[LoreEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.data.get("entries", []))


def _merge_with_original(entries: dict[str, JSONDict], original: JSONDict, name: str) -> JSONDict:
    """Reverse-convert a world that carries ``originalData``, keeping what did not change."""
    expected = _book_to_world_entries(original)
    originals: dict[str, JSONDict] = {}
    for entry in original.get("entries", []):
        if entry.get("id") is not None:
            originals[_uid_key(entry["id"])] = entry
    if list(expected) == list(entries) and all(expected[k] == entries[k] for k in entries):
        return deep_copy(original)
    book: JSONDict = {k: deep_copy_value(v) for k, v in original.items() if k != "entries"}
    book.setdefault("name", name)
    book["entries"] = []
    for key in _js_key_order(list(entries)):
        before = originals.get(key)
        if before is not None and expected.get(key) == entries[key]:
            book["entries"].append(deep_copy(before))
            continue
        converted = _entry_from_world(entries[key])
        merged: JSONDict = deep_copy(before) if before is not None else {}
        base_ext = merged.get("extensions")
        if not isinstance(base_ext, dict):
            base_ext = {}
        merged.update(converted)
        merged["extensions"] = {**base_ext, **converted["extensions"]}
        book["entries"].append(merged)
    return book


@dataclass(eq=True)
class WorldInfo:
    """A SillyTavern World Info file: ``name`` (file stem) and the whole object."""

    name: str
    data: JSONDict

    @property
    def entries(self) -> dict[str, JSONDict]:
        """Entries keyed by uid (as strings)."""
        entries: dict[str, JSONDict] = self.data.get("entries", {})
        return entries

    def to_lorebook(self) -> Lorebook:
        """Convert to a spec lorebook (ST's ``convertWorldInfoToCharacterBook``)."""
        return Lorebook.from_world(self.data, name=self.name)

    @classmethod
    def from_lorebook(cls, book: Lorebook, *, name: str = "") -> WorldInfo:
        """Convert a spec lorebook to a World Info file (ST's ``convertCharacterBook``)."""
        return cls(name or book.name, book.to_world())

    @classmethod
    def from_entries(
        cls, name: str, fields: Mapping[str, Any], entries: Iterable[Mapping[str, Any]]
    ) -> WorldInfo:
        """A world from book-level ``fields`` and World Info ``entries`` (as stored).

        Each entry is keyed by its own ``uid``, as SillyTavern keys them, so that an
        entry meets its ``originalData`` twin again on export; an entry without a
        usable uid, or with one already taken, gets the next free number.
        """
        keyed: dict[str, JSONDict] = {}
        pending: list[JSONDict] = []
        for entry in entries:
            uid = entry.get("uid")
            key = _uid_key(uid) if isinstance(uid, int | float | str) else None
            if key is None or key in keyed:
                pending.append(deep_copy(dict(entry)))
            else:
                keyed[key] = deep_copy(dict(entry))
        next_uid = 0
        for entry in pending:
            while str(next_uid) in keyed:
                next_uid += 1
            keyed[str(next_uid)] = {**entry, "uid": next_uid}
        data = {k: deep_copy_value(v) for k, v in fields.items() if k != "entries"}
        return cls(name, {**data, "entries": keyed})


def _parse_world_json(raw: bytes, source: str) -> object:
    """Decode and parse a world file's bytes; raise LorebookError on bad input."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LorebookError(source, f"not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LorebookError(
            f"{source}:{exc.lineno}", f"invalid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    except RecursionError:
        raise LorebookError(source, "JSON is nested too deeply") from None


def read_world_file(path: Path | str, *, max_bytes: int = MAX_WORLD_BYTES) -> WorldInfo:
    """Read a World Info JSON file (``{"entries": {uid: {...}}}``).

    Also accepts a standalone spec lorebook (``{"spec": "lorebook_v3", "data": {...}}``)
    or a bare ``character_book`` object, converted to the World Info shape.  Raises
    :class:`~app.errors.LorebookError` naming the file for anything it cannot use.
    """
    path = Path(path)
    source = path.name
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LorebookError(source, f"file is {size} bytes, more than the {max_bytes} allowed")
        raw = path.read_bytes()
    except OSError as exc:
        raise LorebookError(source, f"cannot read file: {exc.strerror or exc}") from None
    obj = _parse_world_json(raw, source)
    name = path.stem
    if isinstance(obj, dict) and obj.get("spec") == "lorebook_v3":
        book = Lorebook.from_dict(obj.get("data"), source=f"{source}: data")
        return WorldInfo.from_lorebook(book, name=name)
    if isinstance(obj, dict) and isinstance(obj.get("entries"), list):
        book = Lorebook.from_dict(obj, source=source)
        return WorldInfo.from_lorebook(book, name=name)
    problem = world_problem(obj)
    if problem:
        raise LorebookError(source, problem)
    assert isinstance(obj, dict)
    return WorldInfo(name, obj)
