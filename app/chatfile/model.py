"""The pure structure of a SillyTavern chat file: one header and a list of messages.

Both keep the JSON object they were read from (``raw``), keys in file order and unknown
keys included, so writing them back reproduces the file.  The typed properties are checked
when a file is parsed (:mod:`app.chatfile.parse`), so reading them never fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.chatfile.timestamps import format_timestamp, parse_timestamp

#: A JSON object as Python holds it.
JSONDict = dict[str, Any]

#: Message keys SillyTavern itself reads and writes; all others are kept as unknown keys.
KNOWN_MESSAGE_KEYS = frozenset(
    {
        "name",
        "mes",
        "title",
        "is_user",
        "is_system",
        "is_name",
        "send_date",
        "gen_started",
        "gen_finished",
        "force_avatar",
        "original_avatar",
        "swipes",
        "swipe_id",
        "swipe_info",
        "extra",
    }
)


@dataclass(frozen=True)
class STMessage:
    """One chat message line (everything after line 0)."""

    raw: JSONDict

    @property
    def name(self) -> str:
        """The speaker's display name."""
        value = self.raw.get("name")
        return value if isinstance(value, str) else ""

    @property
    def mes(self) -> str:
        """The text shown for this message (the active swipe)."""
        value = self.raw.get("mes")
        return value if isinstance(value, str) else ""

    @property
    def is_user(self) -> bool:
        """True for a message the user (persona) sent."""
        return self.raw.get("is_user") is True

    @property
    def is_system(self) -> bool:
        """True for hidden, system and narrator messages (left out of prompts)."""
        return self.raw.get("is_system") is True

    @property
    def send_date(self) -> datetime | None:
        """When the message was sent, from any timestamp format SillyTavern used."""
        return parse_timestamp(self.raw.get("send_date"))

    @property
    def swipes(self) -> list[str] | None:
        """All alternatives of this message, or ``None`` when it has none."""
        value = self.raw.get("swipes")
        return list(value) if isinstance(value, list) else None

    @property
    def swipe_id(self) -> int | None:
        """Index of the shown alternative in :attr:`swipes`."""
        value = self.raw.get("swipe_id")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def swipe_info(self) -> list[JSONDict] | None:
        """Per-swipe ``{send_date, gen_started, gen_finished, extra}`` objects."""
        value = self.raw.get("swipe_info")
        return list(value) if isinstance(value, list) else None

    @property
    def extra(self) -> JSONDict:
        """SillyTavern's ``extra`` object (model, api, reasoning, bias, ...)."""
        value = self.raw.get("extra")
        return value if isinstance(value, dict) else {}

    @property
    def unknown(self) -> JSONDict:
        """Keys SillyTavern core does not define (extensions, newer versions)."""
        return {k: v for k, v in self.raw.items() if k not in KNOWN_MESSAGE_KEYS}

    @classmethod
    def create(
        cls,
        *,
        name: str,
        mes: str,
        is_user: bool,
        send_date: datetime,
        is_system: bool = False,
        extra: JSONDict | None = None,
        swipes: list[str] | None = None,
        swipe_id: int | None = None,
        swipe_info: list[JSONDict] | None = None,
    ) -> STMessage:
        """Build a message with the keys in the order SillyTavern 1.18 writes them."""
        raw: JSONDict = {
            "name": name,
            "is_user": is_user,
            "is_system": is_system,
            "send_date": format_timestamp(send_date),
            "mes": mes,
            "extra": dict(extra or {}),
        }
        if swipes is not None:
            raw["swipe_id"] = swipe_id or 0
            raw["swipes"] = list(swipes)
            raw["swipe_info"] = list(swipe_info or [])
        return cls(raw)


@dataclass(frozen=True)
class STChat:
    """A whole chat file: the header (line 0) and the messages, in order."""

    header: JSONDict
    messages: tuple[STMessage, ...] = ()
    #: The chat's name (the file name without ``.jsonl``), when read from a file.
    name: str | None = field(default=None, compare=False)

    @property
    def chat_metadata(self) -> JSONDict:
        """The header's ``chat_metadata`` (author's note, ``integrity``, extension keys)."""
        value = self.header.get("chat_metadata")
        return value if isinstance(value, dict) else {}

    @property
    def user_name(self) -> str | None:
        """The legacy header's user name (``"unused"`` in SillyTavern 1.18 files)."""
        value = self.header.get("user_name")
        return value if isinstance(value, str) else None

    @property
    def character_name(self) -> str | None:
        """The legacy header's character name (``"unused"`` in SillyTavern 1.18 files)."""
        value = self.header.get("character_name")
        return value if isinstance(value, str) else None

    @property
    def create_date(self) -> datetime | None:
        """The legacy header's ``create_date``, parsed."""
        return parse_timestamp(self.header.get("create_date"))

    @staticmethod
    def new_header(chat_metadata: JSONDict | None = None) -> JSONDict:
        """Return a header as SillyTavern 1.18 writes it."""
        return {
            "chat_metadata": dict(chat_metadata or {}),
            "user_name": "unused",
            "character_name": "unused",
        }
