"""Domain value types the repositories return: frozen dataclasses, never ORM rows.

Other layers import these and nothing from :mod:`app.storage.models`, so the schema can
change without touching the chat service or the UI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

#: A JSON object as Python holds it.
JSONDict = dict[str, Any]


class Role(StrEnum):
    """Who a message is from."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    NARRATOR = "narrator"


@dataclass(frozen=True)
class GenInfo:
    """How a reply was generated; stored as JSON on the message, unknown keys kept."""

    model: str | None = None
    preset: str | None = None
    seed: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_reused: int | None = None
    tokens_evaluated: int | None = None
    #: Seconds or milliseconds per phase, as the engine reports them.
    timings: Mapping[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    #: True when the user stopped the reply before the model finished.
    stopped: bool = False
    #: Keys this version does not know, kept so nothing is lost.
    other: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> JSONDict:
        """Return the JSON object stored in ``messages.gen_info``, without empty fields."""
        data: JSONDict = {}
        for f in fields(self):
            if f.name == "other":
                continue
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = dict(value)
            if value is not None and value != {} and value is not False:
                data[f.name] = value
        return {**self.other, **data}

    @classmethod
    def from_json(cls, data: JSONDict | None) -> GenInfo:
        """Build from the stored JSON object, keeping unknown keys in :attr:`other`."""
        if not data:
            return cls()
        values: JSONDict = {**_GEN_INFO_DEFAULTS, "timings": {}, "other": {}}
        for key, value in data.items():
            if key in _GEN_INFO_DEFAULTS or key == "timings":
                values[key] = value
            else:
                values["other"][key] = value
        return trusted_build(cls, values)


#: Default values of GenInfo's plain fields (not the two mappings).
_GEN_INFO_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(GenInfo) if f.name not in ("other", "timings")
}

_T = TypeVar("_T")


def trusted_build(cls: type[_T], values: Mapping[str, Any]) -> _T:
    """Build a frozen dataclass without its per-field ``object.__setattr__`` calls.

    For the repositories only: several times faster when a long chat turns thousands of
    rows into :class:`Message` objects.  ``values`` must name every field, with values of
    the right types; the object stays frozen afterwards.
    """
    instance = object.__new__(cls)
    instance.__dict__.update(values)
    return instance


@dataclass(frozen=True)
class Message:
    """One message row: a node of the chat's tree.

    Swipes (alternatives) of a message are its siblings: rows with the same parent.
    The parent's :attr:`active_child_id` says which one is shown; each alternative keeps
    its own continuation below it.
    """

    id: int
    chat_id: int
    parent_id: int | None
    role: Role
    speaker: str
    content: str
    created_at: datetime
    gen_info: GenInfo
    #: SillyTavern's ``extra`` object of this alternative (reasoning, display_text,
    #: bias, api, model, extension keys), kept whole.
    extra: JSONDict
    active_child_id: int | None
    sibling_index: int
    token_count: int | None = None


@dataclass(frozen=True)
class Chat:
    """A chat: its title, characters (in order), persona and metadata."""

    id: int
    title: str
    character_ids: tuple[int, ...]
    persona_id: int | None
    #: Free-form JSON: ``chat_metadata`` (SillyTavern's, incl. author's note keys and
    #: ``integrity``), ``st_header`` (an imported file's header) and Parlor overrides.
    metadata: JSONDict
    #: First message of the active path (the shown greeting), or None for an empty chat.
    active_root_id: int | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class Character:
    """A character: the card's complete document, stored as it came from the cards layer."""

    id: int
    name: str
    card: JSONDict
    avatar: bytes | None
    tags: tuple[str, ...]
    created_at: datetime
    modified_at: datetime
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class CharacterSummary:
    """A character without its card and avatar, for lists."""

    id: int
    name: str
    tags: tuple[str, ...]
    has_avatar: bool
    modified_at: datetime
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class Persona:
    """The user's persona: name, description and where the description goes."""

    id: int
    name: str
    description: str
    avatar: bytes | None
    is_default: bool
    #: SillyTavern ``persona_description_position`` (0 = in prompt, 2 = top AN, ...).
    description_position: int
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class LorebookEntry:
    """One World Info entry; :attr:`data` is the full entry object, unknown keys kept."""

    id: int
    lorebook_id: int
    position: int
    data: JSONDict


@dataclass(frozen=True)
class Lorebook:
    """A lorebook (World Info book), standalone or embedded in a character's card."""

    id: int
    name: str
    description: str
    #: Book-level fields (scan_depth, token_budget, extensions, unknown keys).
    data: JSONDict
    character_id: int | None
    entries: tuple[LorebookEntry, ...]
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class SearchHit:
    """One full-text search result."""

    message_id: int
    chat_id: int
    chat_title: str
    role: Role
    speaker: str
    #: The matching text with the hits wrapped in ``[`` and ``]``.
    snippet: str
    created_at: datetime
