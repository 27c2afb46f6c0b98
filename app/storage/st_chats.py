"""SillyTavern chat files to and from Parlor's message tree, losslessly.

Import: each ST message becomes one row per swipe, siblings under the previous message's
shown row; ``swipe_id`` picks the shown one.  Each row keeps its ``swipe_info`` item and
its ST ``extra``; the shown row also keeps the message object itself (keys in file order,
unknown keys included) with the values Parlor owns (``mes``, ``swipes``, ``swipe_id``,
``swipe_info``, ``extra``) left out and marked *derived*.  Export puts those back from the
rows, so an unchanged chat is written byte for byte as it was read, and a chat changed in
Parlor (edits, new swipes, another swipe shown) is written as SillyTavern would.

The ``chat_metadata`` object goes to ``chats.metadata["chat_metadata"]`` and the rest of
the header to ``chats.metadata["st_header"]``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from app.chatfile.model import JSONDict, STChat, STMessage
from app.chatfile.timestamps import format_timestamp, parse_timestamp
from app.errors import NotFound
from app.storage.db import Database
from app.storage.models import (
    CharacterRow,
    ChatCharacterRow,
    ChatRow,
    GroupChatRow,
    MessageRow,
    PersonaRow,
    table_of,
    utcnow,
)
from app.storage.repositories._tree import next_message_id
from app.storage.repositories.chats import ChatRepository
from app.storage.st_keys import ST_MESSAGE, SWIPE_INFO
from app.storage.st_settings import settings_from_st, settings_to_st
from app.storage.types import Chat, ChatSettings, GenInfo, Message, Role

#: Chat metadata keys.
CHAT_METADATA = "chat_metadata"
ST_HEADER = "st_header"
_DERIVED = "derived"
_RAW = "raw"
_TIME_KEYS = ("send_date", "gen_started", "gen_finished")
_M = table_of(MessageRow).c


@dataclass
class _Plan:
    """Rows ready for one executemany, with their ids assigned in advance."""

    next_id: int
    rows: list[JSONDict] = field(default_factory=list)
    root: int | None = None


def import_st_chat(
    db: Database,
    parsed: STChat,
    character_id: int,
    *,
    title: str | None = None,
    persona_id: int | None = None,
    members: Sequence[int] = (),
    group_id: int | None = None,
) -> Chat:
    """Store a parsed SillyTavern chat as a new chat, all in one transaction.

    A group chat names its ``members`` (in order, ``character_id`` among them) and its
    ``group_id``.
    """
    with db.transaction() as s:
        character = s.get(CharacterRow, character_id)
        if character is None:
            raise NotFound("character", character_id)
        if persona_id is not None and s.get(PersonaRow, persona_id) is None:
            raise NotFound("persona", persona_id)
        # Rows point at later rows (active_child_id): check foreign keys at commit.
        s.execute(text("PRAGMA defer_foreign_keys = ON"))
        name = title or parsed.name or f"{character.name} (imported)"
        chat = _insert_chat(s, parsed, members or [character_id], name, persona_id)
        if group_id is not None:
            s.add(GroupChatRow(chat_id=chat.id, group_id=group_id))
        plan = _Plan(next_id=next_message_id(s))
        fallback = parsed.create_date or chat.created_at
        parent: JSONDict | None = None
        for message in parsed.messages:
            parent = _plan_message(plan, chat.id, parent, message, fallback)
        if plan.rows:
            s.execute(insert(table_of(MessageRow)), plan.rows)
        chat.active_root_id = plan.root
        s.flush()
        chat_id = chat.id
    return ChatRepository(db).get_chat(chat_id)


def export_st_chat(db: Database, chat_id: int) -> STChat:
    """Return a chat's shown path as a SillyTavern chat, ready for :func:`dump_chat`."""
    repo = ChatRepository(db)
    with db.read() as s:
        chat = repo.get_chat(chat_id, session=s)
        path = repo.active_path(chat_id, session=s)
        groups: dict[int | None, list[Message]] = defaultdict(list)
        for message in repo.messages(chat_id, session=s):
            groups[message.parent_id].append(message)
        query = select(_M.id, _M.st).where(_M.chat_id == chat_id, _M.st.is_not(None))
        st = {row_id: data for row_id, data in s.execute(query)}
    for siblings in groups.values():
        siblings.sort(key=lambda m: (m.sibling_index, m.id))
    exporter = _Exporter(st)
    messages = tuple(exporter.message(m, groups[m.parent_id]) for m in path)
    return STChat(header=_export_header(chat), messages=messages, name=chat.title)


# ------------------------------------------------------------------ import


def _insert_chat(
    s: Session, parsed: STChat, character_ids: Sequence[int], title: str, persona_id: int | None
) -> ChatRow:
    header = parsed.header
    metadata: JSONDict = {
        ST_HEADER: {k: (None if k == CHAT_METADATA else v) for k, v in header.items()}
    }
    if CHAT_METADATA in header:
        metadata[CHAT_METADATA] = header[CHAT_METADATA]
    dates = [m.send_date for m in parsed.messages if m.send_date is not None]
    created = parsed.create_date or (dates[0] if dates else None) or utcnow()
    chat_metadata = header.get(CHAT_METADATA)
    settings = settings_from_st(chat_metadata) if isinstance(chat_metadata, dict) else None
    row = ChatRow(
        title=title,
        persona_id=persona_id,
        meta=metadata,
        settings=(settings or ChatSettings()).to_json(),
        created_at=created,
        updated_at=max([created, *dates]),
    )
    s.add(row)
    s.flush()
    for position, character_id in enumerate(character_ids):
        s.add(ChatCharacterRow(chat_id=row.id, character_id=character_id, position=position))
    s.flush()
    return row


def _role(message: STMessage) -> Role:
    if message.is_user:
        return Role.USER
    if message.extra.get("type") == "narrator":
        return Role.NARRATOR
    return Role.SYSTEM if message.is_system else Role.ASSISTANT


def _gen_info(extra: object) -> JSONDict:
    if isinstance(extra, dict) and isinstance(extra.get("model"), str):
        return GenInfo(model=extra["model"]).to_json()
    return {}


def _alternatives(raw: JSONDict) -> tuple[list[str], int, list[str]]:
    """Return the swipe texts, the shown index and the keys export can rebuild."""
    mes = raw.get("mes")
    derived = ["mes"] if "mes" in raw else []
    swipes = raw.get("swipes")
    if not (isinstance(swipes, list) and swipes):
        return [mes if isinstance(mes, str) else ""], 0, derived
    swipe_id = raw.get("swipe_id")
    if isinstance(swipe_id, int) and not isinstance(swipe_id, bool) and 0 <= swipe_id < len(swipes):
        active = swipe_id
        derived.append("swipe_id")
    else:
        active = swipes.index(mes) if mes in swipes else 0
    derived.append("swipes")
    if mes != swipes[active] and "mes" in derived:
        derived.remove("mes")
    info = raw.get("swipe_info")
    if isinstance(info, list) and len(info) == len(swipes):
        derived.append("swipe_info")
    return list(swipes), active, derived


def _plan_message(
    plan: _Plan, chat_id: int, parent: JSONDict | None, message: STMessage, fallback: datetime
) -> JSONDict:
    """Add one ST message's rows to the plan; return the shown row."""
    raw = message.raw
    texts, active, derived = _alternatives(raw)
    if isinstance(raw.get("extra"), dict):
        derived.append("extra")
    info = raw.get("swipe_info") if "swipe_info" in derived else None
    sent = message.send_date or fallback
    envelope = {_RAW: {k: (None if k in derived else v) for k, v in raw.items()}, _DERIVED: derived}
    parent_id = parent["id"] if parent is not None else None
    rows: list[JSONDict] = []
    for index, content in enumerate(texts):
        item = info[index] if isinstance(info, list) else None
        created: datetime | None
        st: JSONDict = {SWIPE_INFO: item} if isinstance(info, list) else {}
        if index == active:
            st[ST_MESSAGE] = envelope
            extra = raw.get("extra")
            created = sent
        else:
            extra = item.get("extra") if isinstance(item, dict) else None
            created = parse_timestamp(item.get("send_date")) if isinstance(item, dict) else None
        rows.append(
            {
                "id": plan.next_id + index,
                "chat_id": chat_id,
                "parent_id": parent_id,
                "role": _role(message).value,
                "speaker": message.name,
                "content": content,
                "created_at": created or sent,
                "gen_info": _gen_info(extra),
                "extra": extra if isinstance(extra, dict) else {},
                "st": st or None,
                "active_child_id": None,
                "sibling_index": index,
                "token_count": None,
            }
        )
    plan.next_id += len(texts)
    plan.rows.extend(rows)
    shown = rows[active]
    if parent is None:
        plan.root = shown["id"]
    else:
        parent["active_child_id"] = shown["id"]
    return shown


# ------------------------------------------------------------------ export


def _export_header(chat: Chat) -> JSONDict:
    chat_metadata = _export_chat_metadata(chat)
    stored = chat.metadata.get(ST_HEADER)
    if not isinstance(stored, dict):
        return STChat.new_header(chat_metadata)
    header = dict(stored)
    if CHAT_METADATA in header or chat_metadata:
        header[CHAT_METADATA] = chat_metadata
    return header


def _export_chat_metadata(chat: Chat) -> JSONDict:
    """The imported ``chat_metadata``, its note keys updated where Parlor's note differs."""
    stored = chat.metadata.get(CHAT_METADATA)
    st_metadata: JSONDict = dict(stored) if isinstance(stored, dict) else {}
    if settings_from_st(st_metadata).author_note == chat.settings.author_note:
        return st_metadata
    return settings_to_st(chat.settings, st_metadata)


class _Exporter:
    """Rebuilds ST message objects from rows and their ``st`` bookkeeping."""

    def __init__(self, st: dict[int, JSONDict]) -> None:
        self._st = st

    def message(self, active: Message, siblings: list[Message]) -> STMessage:
        """The ST message object for ``active`` shown among ``siblings``."""
        owner = next((m for m in siblings if ST_MESSAGE in self._st.get(m.id, {})), None)
        if owner is None:
            return _native_message(active, siblings, self._swipe_info)
        envelope = self._st[owner.id][ST_MESSAGE]
        derived = set(envelope[_DERIVED])
        rebuilt = {
            "mes": active.content,
            "swipes": [m.content for m in siblings],
            "swipe_id": _position(siblings, active),
            "swipe_info": [self._swipe_info(m) for m in siblings],
            "extra": active.extra,
        }
        raw = {k: (rebuilt[k] if k in derived else v) for k, v in envelope[_RAW].items()}
        if len(siblings) > 1 and "swipes" not in derived:
            raw.update({k: rebuilt[k] for k in ("swipe_id", "swipes", "swipe_info")})
        if active.id != owner.id:
            self._show_other_swipe(raw, active)
        return STMessage(raw)

    def _show_other_swipe(self, raw: JSONDict, active: Message) -> None:
        """Dates come from the shown swipe's ``swipe_info``, as SillyTavern's swipe does."""
        raw["mes"] = active.content
        item = self._st.get(active.id, {}).get(SWIPE_INFO)
        for key in _TIME_KEYS:
            if key in raw and isinstance(item, dict) and key in item:
                raw[key] = item[key]
        if "send_date" in raw and not isinstance(item, dict):
            raw["send_date"] = format_timestamp(active.created_at)

    def _swipe_info(self, message: Message) -> Any:
        st = self._st.get(message.id, {})
        if SWIPE_INFO in st:
            return st[SWIPE_INFO]
        return {"send_date": format_timestamp(message.created_at), "extra": message.extra}


def _position(siblings: list[Message], message: Message) -> int:
    return [m.id for m in siblings].index(message.id)


def _native_message(
    active: Message, siblings: list[Message], swipe_info: Callable[[Message], Any]
) -> STMessage:
    extra = dict(active.extra)
    if active.role is Role.NARRATOR:
        extra.setdefault("type", "narrator")
    swipes = len(siblings) > 1 or active.role is Role.ASSISTANT
    return STMessage.create(
        name=active.speaker,
        mes=active.content,
        is_user=active.role is Role.USER,
        is_system=active.role in (Role.SYSTEM, Role.NARRATOR),
        send_date=active.created_at,
        extra=extra,
        swipes=[m.content for m in siblings] if swipes else None,
        swipe_id=_position(siblings, active) if swipes else None,
        swipe_info=[swipe_info(m) for m in siblings] if swipes else None,
    )
