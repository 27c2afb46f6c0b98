"""SillyTavern groups (``groups/<id>.json``) and group chats (``group chats/<id>.jsonl``)
in and out of Parlor, losslessly.

A group's members are matched by their card's file name (SillyTavern's ``avatar``);
the whole group object is kept, so export gives it back with Parlor's changes (name,
members, muting, strategy, mode, join text) written over the original values; the
group's lorebooks, which SillyTavern does not have, go by name under
``parlor_lorebooks``.  A group chat is read in both forms: SillyTavern 1.12's
messages-only file and the newer file with a ``chat_metadata`` header; each message
keeps ``original_avatar``, ``force_avatar``, ``extra.gen_id``, swipes and unknown
fields (:mod:`app.storage.st_chats`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path, PurePath
from typing import Any

from app.cards.model import CharacterCard
from app.chat.file_names import safe_file_name
from app.chat.group_lore import group_books
from app.chat.turns import Stores
from app.chatfile import read_chat_file, write_chat_file
from app.errors import InputError, NotFound
from app.storage.db import Database
from app.storage.group_types import Group, GroupMember, GroupSettings, PromptMode, ReplyStrategy
from app.storage.st_chats import export_st_chat, import_st_chat

#: The key of the group object that holds the group's lorebooks (their names, as
#: SillyTavern names world files); SillyTavern has no group lorebooks and ignores it.
LOREBOOKS_KEY = "parlor_lorebooks"
#: The folders of a SillyTavern data folder that hold groups and their chats.
GROUPS_FOLDER = "groups"
GROUP_CHATS_FOLDER = "group chats"


def settings_from_st(data: Mapping[str, Any]) -> GroupSettings:
    """A SillyTavern group object's settings (the object itself kept in ``st``)."""
    return GroupSettings(
        strategy=_strategy(data.get("activation_strategy")),
        mode=_mode(data.get("generation_mode")),
        allow_self_responses=bool(data.get("allow_self_responses", False)),
        auto_mode_delay=_int(data.get("auto_mode_delay"), 5),
        join_prefix=str(data.get("generation_mode_join_prefix") or ""),
        join_suffix=str(data.get("generation_mode_join_suffix") or ""),
        st=dict(data),
    )


def _strategy(value: object) -> ReplyStrategy:
    number = _int(value, ReplyStrategy.NATURAL)
    return ReplyStrategy(number) if number in set(ReplyStrategy) else ReplyStrategy.NATURAL


def _mode(value: object) -> PromptMode:
    number = _int(value, PromptMode.SWAP)
    return PromptMode(number) if number in set(PromptMode) else PromptMode.SWAP


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class GroupFiles:
    """Imports SillyTavern groups and group chats; exports a group as SillyTavern has it."""

    def __init__(self, db: Database, stores: Stores) -> None:
        self._db = db
        self._stores = stores

    # -- import --------------------------------------------------------------------------

    def import_group(self, path: Path) -> str:
        """Store the group in ``path``; its members must already be imported."""
        data = _read_object(path)
        name = data.get("name")
        members = data.get("members")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{path}: name", "a group needs a name")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise InputError(f"{path}: members", "must be a list of card file names")
        by_file = self._characters_by_file()
        missing = [m for m in members if m not in by_file]
        if missing:
            raise InputError(f"{path}: members", f"no imported character for {missing[0]!r}")
        disabled = set(data.get("disabled_members") or [])
        ordered = [GroupMember(by_file[m], m in disabled) for m in dict.fromkeys(members)]
        settings = replace(settings_from_st(data), lorebook_ids=self._books_named(path, data))
        group = self._stores.groups.create(name.strip(), ordered, settings)
        return group.name

    def import_chat(self, path: Path) -> str:
        """Store a group chat file under the group that lists it (by its file name)."""
        group = self._group_listing(path.stem)
        parsed = read_chat_file(path, headerless=True)
        chat = import_st_chat(
            self._db, parsed, group.member_ids[0], title=path.stem,
            members=group.member_ids, group_id=group.id,
        )  # fmt: skip
        return chat.title

    # -- export --------------------------------------------------------------------------

    def export_group(self, group: Group, folder: Path) -> list[Path]:
        """``groups/<id>.json`` and each chat as ``group chats/<name>.jsonl`` in ``folder``."""
        chats = [self._stores.chats.get_chat(i) for i in self._stores.groups.chat_ids(group.id)]
        chat_folder = folder / GROUP_CHATS_FOLDER
        chat_folder.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for chat in chats:
            target = chat_folder / f"{safe_file_name(chat.title, f'chat {chat.id}')}.jsonl"
            write_chat_file(target, export_st_chat(self._db, chat.id))
            written.append(target)
        data = self.group_object(group, [p.stem for p in written])
        group_folder = folder / GROUPS_FOLDER
        group_folder.mkdir(parents=True, exist_ok=True)
        stem = str(data.get("id") or safe_file_name(group.name, "group"))
        target = group_folder / f"{safe_file_name(stem, 'group')}.json"
        target.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return [target, *written]

    def group_object(self, group: Group, chat_names: list[str]) -> dict[str, Any]:
        """The SillyTavern group object: the imported one with Parlor's values over it."""
        settings = group.settings
        files = [self._file_of(i) for i in group.member_ids]
        muted = [f for f, m in zip(files, group.members, strict=True) if m.muted]
        data = dict(settings.st)
        data.update(
            name=group.name,
            members=files,
            disabled_members=muted,
            activation_strategy=int(settings.strategy),
            generation_mode=int(settings.mode),
            allow_self_responses=settings.allow_self_responses,
            auto_mode_delay=settings.auto_mode_delay,
            generation_mode_join_prefix=settings.join_prefix,
            generation_mode_join_suffix=settings.join_suffix,
        )
        data.pop(LOREBOOKS_KEY, None)
        if settings.lorebook_ids:
            books = group_books(self._stores.lorebooks, group)
            data[LOREBOOKS_KEY] = [book.name for book in books]
        if chat_names or "chats" in data:
            data["chats"] = chat_names
            current = data.get("chat_id")
            data["chat_id"] = current if current in chat_names else chat_names[-1:] or [""]
            if isinstance(data["chat_id"], list):
                data["chat_id"] = data["chat_id"][0]
        data.setdefault("id", str(group.id))
        return data

    # -- helpers -------------------------------------------------------------------------

    def _books_named(self, path: Path, data: Mapping[str, Any]) -> tuple[int, ...]:
        """The ids of the lorebooks the group object names (standalone books first)."""
        names = data.get(LOREBOOKS_KEY) or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError(f"{path}: {LOREBOOKS_KEY}", "must be a list of lorebook names")
        books = sorted(self._stores.lorebooks.list_lorebooks(), key=lambda b: b.character_id or 0)
        by_name: dict[str, int] = {}
        for book in books:
            by_name.setdefault(book.name, book.id)
        missing = [n for n in names if n not in by_name]
        if missing:
            raise InputError(f"{path}: {LOREBOOKS_KEY}", f"no lorebook called {missing[0]!r}")
        return tuple(by_name[n] for n in dict.fromkeys(names))

    def _characters_by_file(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for summary in self._stores.characters.list_characters():
            found.setdefault(self._file_of(summary.id), summary.id)
        return found

    def _file_of(self, character_id: int) -> str:
        """A character's card file name (SillyTavern's ``avatar``)."""
        character = self._stores.characters.get(character_id)
        source = CharacterCard.from_document(character.card).source_name
        name = PurePath(source.replace("\\", "/")).name
        return (
            name if name.lower().endswith((".png", ".json", ".charx")) else f"{character.name}.png"
        )

    def _group_listing(self, chat_name: str) -> Group:
        for group in self._stores.groups.list_groups():
            st = group.settings.st
            chats = st.get("chats")
            if st.get("chat_id") == chat_name or (isinstance(chats, list) and chat_name in chats):
                return group
        raise NotFound("group listing the chat", chat_name)


def _read_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(path), f"cannot read the group file: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(str(path), "not a SillyTavern group (not an object)")
    return data
