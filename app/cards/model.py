"""The in-memory character card: lossless, validated, and storable as a JSON document.

A :class:`CharacterCard` keeps the complete V3-shaped ``data`` object (every key,
unknown ones and nested ``extensions`` included), the top-level keys a file carried
besides ``spec``/``spec_version``/``data`` and the mirrored V1 fields, the avatar PNG and
any CHARX assets.  Typed properties read the spec fields; the dict stays the truth.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Final

from app.cards import png
from app.cards._util import JSONDict, deep_copy, is_number, is_str_list, json_problem, type_name
from app.cards.lorebook import Lorebook, book_problem
from app.errors import CardError

#: String fields of ``data`` and their order in a new card (spec V2 + V3 order).
STRING_FIELDS: Final = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
)
#: List-of-string fields of ``data`` that must be present (empty by default).
LIST_FIELDS: Final = ("alternate_greetings", "tags", "group_only_greetings")
#: Field order used when a card is built from scratch (ST's order).
NEW_CARD_ORDER: Final = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "tags",
    "creator",
    "character_version",
    "alternate_greetings",
    "extensions",
    "character_book",
    "group_only_greetings",
)
#: V1 fields that ST writes at the top level of a V2 object, mirrored from ``data``.
V1_FIELDS: Final = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
#: Top-level keys the writers regenerate; they never live in :attr:`CharacterCard.extra`.
RESERVED_TOP_LEVEL: Final = frozenset(
    {*V1_FIELDS, "creatorcomment", "tags", "spec", "spec_version", "data"}
)

DOCUMENT_FORMAT: Final = "parlor-card"
DOCUMENT_VERSION: Final = 1

EMBEDDED_PREFIXES: Final = ("embeded://", "embedded://", "__asset:")


def new_card_data(name: str, **fields: Any) -> JSONDict:
    """Return a ``data`` object in ST's field order, with defaults for fields not given."""
    data: JSONDict = {"name": name}
    for key in NEW_CARD_ORDER[1:]:
        if key in fields:
            data[key] = fields.pop(key)
        elif key in STRING_FIELDS:
            data[key] = ""
        elif key in LIST_FIELDS:
            data[key] = []
        elif key == "extensions":
            data[key] = {}
    data.update(fields)
    return data


def embedded_path(uri: str) -> str | None:
    """Return the archive path of an ``embeded://`` (or ``embedded://``, ``__asset:``) URI."""
    for prefix in EMBEDDED_PREFIXES:
        if uri.startswith(prefix):
            return uri[len(prefix) :]
    return None


@dataclass(frozen=True)
class CardAsset:
    """A file embedded in a CHARX archive and listed in ``data.assets``."""

    type: str
    name: str
    uri: str
    ext: str
    data: bytes = field(repr=False)

    @property
    def path(self) -> str | None:
        """Path inside the archive, from the ``embeded://`` URI."""
        return embedded_path(self.uri)


@dataclass(frozen=True)
class DepthPrompt:
    """SillyTavern's "Character's Note" (``extensions.depth_prompt``)."""

    prompt: str
    depth: int
    role: str


@dataclass(eq=True)
class CharacterCard:
    """A lossless, validated character card.

    ``data`` is the V3-shaped object; construction deep-copies it, fills the spec's
    required fields that are missing (or null) with their defaults, and raises
    :class:`~app.errors.CardError` naming :attr:`source_name` for a missing name or a
    field of the wrong type.  Equality compares content (``data``, ``extra``, avatar,
    assets, extra files), not where the card came from.
    """

    data: JSONDict
    #: Unknown top-level keys of the source object (e.g. ST's ``avatar``, ``chat``).
    extra: JSONDict = field(default_factory=dict)
    #: Avatar image as PNG bytes, without ``chara``/``ccv3`` chunks; None = no image.
    avatar: bytes | None = field(default=None, repr=False)
    #: CHARX assets (the PNG main icon is :attr:`avatar` instead).
    assets: list[CardAsset] = field(default_factory=list)
    #: Other files of a CHARX archive (e.g. application data), kept verbatim.
    extra_files: dict[str, bytes] = field(default_factory=dict, repr=False)
    #: Order of the source object's top-level keys; writers keep it, as ST does.
    key_order: tuple[str, ...] = field(default=(), compare=False)
    spec: str = field(default="chara_card_v3", compare=False)
    spec_version: str = field(default="3.0", compare=False)
    #: ``png``, ``json``, ``charx``, ``yaml``, ``document`` or ``new``.
    source_format: str = field(default="new", compare=False)
    source_name: str = field(default="card", compare=False)

    def __post_init__(self) -> None:
        self.data = normalise_data(self.data, self.source_name)
        self.extra = _check_extra(self.extra, self.source_name)
        if self.avatar is not None:
            self.avatar = png.strip_card_chunks(self.avatar, f"{self.source_name} (avatar)")
        self.assets = list(self.assets)
        self.extra_files = dict(self.extra_files)
        self.key_order = tuple(str(key) for key in self.key_order)

    # ------------------------------------------------------------------ building

    @classmethod
    def create(cls, name: str, *, avatar: bytes | None = None, **fields: Any) -> CharacterCard:
        """Build a new V3 card from field values (``description=...``, ``tags=[...]``).

        Fields not given get the spec defaults; unknown field names are kept in ``data``.
        """
        return cls(new_card_data(name, **fields), avatar=avatar, source_name=name or "card")

    def updated(self, **fields: Any) -> CharacterCard:
        """Return a copy with some ``data`` fields replaced (validated again)."""
        data = deep_copy(self.data)
        data.update(fields)
        return dataclasses.replace(self, data=data)

    # ------------------------------------------------------------------ storage

    def to_document(self) -> JSONDict:
        """Return a JSON-able dict holding everything but the avatar, for storage."""
        return {
            "format": DOCUMENT_FORMAT,
            "version": DOCUMENT_VERSION,
            "spec": self.spec,
            "spec_version": self.spec_version,
            "source_format": self.source_format,
            "source_name": self.source_name,
            "key_order": list(self.key_order),
            "extra": deep_copy(self.extra),
            "data": deep_copy(self.data),
            "assets": [
                {
                    "type": a.type,
                    "name": a.name,
                    "uri": a.uri,
                    "ext": a.ext,
                    "data_base64": base64.b64encode(a.data).decode("ascii"),
                }
                for a in self.assets
            ],
            "extra_files": {
                path: base64.b64encode(blob).decode("ascii")
                for path, blob in self.extra_files.items()
            },
        }

    @classmethod
    def from_document(cls, doc: JSONDict, *, avatar: bytes | None = None) -> CharacterCard:
        """Rebuild a card from :meth:`to_document` output (plus the stored avatar bytes)."""
        if not isinstance(doc, dict) or doc.get("format") != DOCUMENT_FORMAT:
            raise CardError("stored card", "not a Parlor card document")
        source = str(doc.get("source_name") or "stored card")
        if doc.get("version") != DOCUMENT_VERSION:
            raise CardError(source, f"unsupported card document version {doc.get('version')!r}")
        try:
            assets = [
                CardAsset(
                    str(a["type"]),
                    str(a["name"]),
                    str(a["uri"]),
                    str(a["ext"]),
                    base64.b64decode(a["data_base64"], validate=True),
                )
                for a in doc.get("assets", [])
            ]
            extra_files = {
                str(p): base64.b64decode(b, validate=True)
                for p, b in doc.get("extra_files", {}).items()
            }
        except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise CardError(source, f"corrupt card document assets ({exc})") from None
        return cls(
            doc.get("data"),  # type: ignore[arg-type]  # normalise_data checks it
            extra=doc.get("extra") or {},
            avatar=avatar,
            assets=assets,
            extra_files=extra_files,
            key_order=tuple(doc.get("key_order") or ()),
            spec=str(doc.get("spec", "")),
            spec_version=str(doc.get("spec_version", "")),
            source_format=str(doc.get("source_format") or "document"),
            source_name=source,
        )

    # ------------------------------------------------------------------ accessors

    def _str(self, key: str) -> str:
        value = self.data.get(key)
        return value if isinstance(value, str) else ""

    def _list(self, key: str) -> list[str]:
        return list(self.data.get(key) or [])

    @property
    def name(self) -> str:
        """Character name."""
        return self._str("name")

    @property
    def description(self) -> str:
        """Description (the main character definition)."""
        return self._str("description")

    @property
    def personality(self) -> str:
        """Personality summary."""
        return self._str("personality")

    @property
    def scenario(self) -> str:
        """Scenario of the conversation."""
        return self._str("scenario")

    @property
    def first_mes(self) -> str:
        """First message (greeting)."""
        return self._str("first_mes")

    @property
    def mes_example(self) -> str:
        """Example dialogue, blocks starting with ``<START>``."""
        return self._str("mes_example")

    @property
    def creator_notes(self) -> str:
        """Notes for users; never part of a prompt."""
        return self._str("creator_notes")

    @property
    def system_prompt(self) -> str:
        """Card system prompt; empty means use the user's; may contain ``{{original}}``."""
        return self._str("system_prompt")

    @property
    def post_history_instructions(self) -> str:
        """Post-history instructions ("jailbreak"); may contain ``{{original}}``."""
        return self._str("post_history_instructions")

    @property
    def alternate_greetings(self) -> list[str]:
        """Other first messages, offered as swipes."""
        return self._list("alternate_greetings")

    @property
    def group_only_greetings(self) -> list[str]:
        """Greetings used only in group chats (V3)."""
        return self._list("group_only_greetings")

    @property
    def tags(self) -> list[str]:
        """Tags; not used in prompts."""
        return self._list("tags")

    @property
    def creator(self) -> str:
        """Card author."""
        return self._str("creator")

    @property
    def character_version(self) -> str:
        """Card version string."""
        return self._str("character_version")

    @property
    def nickname(self) -> str:
        """V3 nickname ("" when absent); replaces the name in ``{{char}}`` per the spec."""
        return self._str("nickname")

    @property
    def creator_notes_multilingual(self) -> dict[str, str]:
        """V3 creator notes by ISO 639-1 language code."""
        value = self.data.get("creator_notes_multilingual")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def character_book(self) -> Lorebook | None:
        """The embedded lorebook, as a view on ``data`` (edits write through), or None."""
        value = self.data.get("character_book")
        return Lorebook(value) if isinstance(value, dict) else None

    @property
    def extensions(self) -> JSONDict:
        """``data.extensions`` (the live dict)."""
        value: JSONDict = self.data["extensions"]
        return value

    @property
    def creation_date(self) -> int | float | None:
        """V3 creation time in Unix seconds (0 = unknown), or None."""
        value = self.data.get("creation_date")
        return value if is_number(value) else None

    @property
    def modification_date(self) -> int | float | None:
        """V3 modification time in Unix seconds (0 = unknown), or None."""
        value = self.data.get("modification_date")
        return value if is_number(value) else None

    @property
    def depth_prompt(self) -> DepthPrompt | None:
        """ST's Character's Note (``extensions.depth_prompt``) if it has text, else None."""
        value = self.extensions.get("depth_prompt")
        if not isinstance(value, dict) or not isinstance(value.get("prompt"), str):
            return None
        if not value["prompt"]:
            return None
        depth = value.get("depth")
        role = value.get("role")
        return DepthPrompt(
            value["prompt"],
            int(depth) if is_number(depth) else 4,
            role if isinstance(role, str) else "system",
        )

    @property
    def talkativeness(self) -> float:
        """ST group-chat talkativeness (``extensions.talkativeness``), default 0.5."""
        value = self.extensions.get("talkativeness")
        try:
            return float(value) if value is not None else 0.5
        except (TypeError, ValueError):
            return 0.5


# ---------------------------------------------------------------------- validation


def _check_extra(extra: object, source: str) -> JSONDict:
    """Validate the unknown top-level keys and return a deep copy."""
    if not isinstance(extra, dict):
        raise CardError(source, f"top-level extras must be an object, got {type_name(extra)}")
    for key in extra:
        if key in RESERVED_TOP_LEVEL:
            raise CardError(source, f"top-level key {key!r} is reserved and cannot be an extra")
    problem = json_problem(extra, "top level")
    if problem:
        raise CardError(source, problem)
    return deep_copy(extra)


def _check_optional(data: JSONDict) -> str | None:
    """Return the first type problem among the optional V3 fields, or None."""
    if data.get("nickname") is not None and not isinstance(data["nickname"], str):
        return f"data.nickname must be a string, got {type_name(data['nickname'])}"
    notes = data.get("creator_notes_multilingual")
    if notes is not None and not (
        isinstance(notes, dict) and all(isinstance(v, str) for v in notes.values())
    ):
        return "data.creator_notes_multilingual must be an object of strings"
    if data.get("source") is not None and not is_str_list(data["source"]):
        return "data.source must be a list of strings"
    for key in ("creation_date", "modification_date"):
        if data.get(key) is not None and not is_number(data[key]):
            return f"data.{key} must be a number, got {type_name(data[key])}"
    if data.get("character_book") is not None:
        problem = book_problem(data["character_book"])
        if problem:
            return f"data.character_book: {problem}"
    return _assets_problem(data.get("assets"))


def _assets_problem(assets: object) -> str | None:
    """Return the first type problem in ``data.assets``, or None."""
    if assets is None:
        return None
    if not isinstance(assets, list):
        return f"data.assets must be a list, got {type_name(assets)}"
    for index, asset in enumerate(assets):
        if not isinstance(asset, dict):
            return f"data.assets[{index}] must be an object, got {type_name(asset)}"
        for key in ("type", "uri", "name", "ext"):
            if asset.get(key) is not None and not isinstance(asset[key], str):
                return f"data.assets[{index}].{key} must be a string"
    return None


def _fill_required(out: JSONDict) -> str | None:
    """Give missing/null string and list fields their defaults; return a type problem."""
    for key in STRING_FIELDS:
        value = out.get(key)
        if value is None:
            out[key] = ""
        elif not isinstance(value, str):
            return f"data.{key} must be a string, got {type_name(value)}"
    for key in LIST_FIELDS:
        value = out.get(key)
        if value is None:
            out[key] = []
        elif not is_str_list(value):
            return f"data.{key} must be a list of strings"
    return None


def normalise_data(data: object, source: str) -> JSONDict:
    """Validate a card ``data`` object and return a deep copy with defaults filled in.

    Missing or null required fields get the spec defaults ("" / [] / {}); optional
    fields are type-checked when present.  Raises :class:`~app.errors.CardError`.
    """
    if not isinstance(data, dict):
        raise CardError(source, f"card data must be an object, got {type_name(data)}")
    problem = json_problem(data, "data")
    if problem:
        raise CardError(source, problem)
    out = deep_copy(data)
    problem = _fill_required(out)
    if problem:
        raise CardError(source, problem)
    if not out["name"].strip():
        raise CardError(source, "the card has no name (data.name is missing or empty)")
    if out.get("extensions") is None:
        out["extensions"] = {}
    elif not isinstance(out["extensions"], dict):
        raise CardError(
            source, f"data.extensions must be an object, got {type_name(out['extensions'])}"
        )
    problem = _check_optional(out)
    if problem:
        raise CardError(source, problem)
    return out
