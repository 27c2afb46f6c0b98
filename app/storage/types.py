"""Domain value types the repositories return: frozen dataclasses, never ORM rows.

Other layers import these and nothing from :mod:`app.storage.models`, so the schema can
change without touching the chat service or the UI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

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


#: Where an author's note goes (SillyTavern ``note_position``): after the story string,
#: in the chat at a depth, or before the whole prompt.
NotePosition = Literal["after_story", "in_chat", "before_prompt"]
#: Who "speaks" an in-chat author's note (SillyTavern ``note_role``).
NoteRole = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class AuthorNoteSettings:
    """A chat's author's note, as the user set it (SillyTavern ``note_*`` keys)."""

    text: str = ""
    depth: int = 4
    #: Every N-th user message (1: always, 0: never).
    interval: int = 1
    position: NotePosition = "in_chat"
    role: NoteRole = "system"


#: Whether the model should think: as its template decides, always, or never.
ThinkingMode = Literal["auto", "on", "off"]
THINKING_MODES: tuple[ThinkingMode, ...] = ("auto", "on", "off")


@dataclass(frozen=True)
class ReasoningSettings:
    """A chat's reasoning choices: shown or hidden, template, prompts, thinking, budget."""

    show: bool = True
    #: The reasoning template's name (None: the model's choice, else detected).
    template: str | None = None
    #: Add the reasoning of this many of the newest messages to prompts (0: none).
    add_to_prompts: int = 0
    thinking: ThinkingMode = "auto"
    #: Reasoning tokens after which the closing tag is forced (None: no limit).
    budget: int | None = None

    def to_json(self) -> JSONDict:
        """The object stored under ``reasoning`` (defaults left out)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != f.default
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReasoningSettings:
        """Read :meth:`to_json`'s object; values of the wrong type fall back to defaults."""
        budget = data.get("budget")
        thinking = data.get("thinking")
        return cls(
            show=data.get("show") is not False,
            template=_text_or_none(data.get("template")),
            add_to_prompts=whole_number(data.get("add_to_prompts"), 0),
            thinking=thinking if thinking in THINKING_MODES else "auto",
            budget=None if budget is None else whole_number(budget, 0),
        )


@dataclass(frozen=True)
class ChatSettings:
    """What the user chose for one chat: author's note and per-chat overrides.

    ``preset`` and ``format`` name a sampler preset and a prompt format (None: the
    character's or the model's default).  ``other`` keeps keys a newer version wrote.
    """

    author_note: AuthorNoteSettings = AuthorNoteSettings()
    preset: str | None = None
    format: str | None = None
    reasoning: ReasoningSettings = ReasoningSettings()
    other: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> JSONDict:
        """The JSON object stored in ``chats.settings`` (defaults left out)."""
        data: JSONDict = dict(self.other)
        note = {
            f.name: getattr(self.author_note, f.name)
            for f in fields(AuthorNoteSettings)
            if getattr(self.author_note, f.name) != f.default
        }
        if note:
            data["author_note"] = note
        for key in ("preset", "format"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        reasoning = self.reasoning.to_json()
        if reasoning:
            data["reasoning"] = reasoning
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ChatSettings:
        """Read :meth:`to_json`'s object; values of the wrong type fall back to defaults."""
        if not data:
            return cls()
        known = ("author_note", "preset", "format", "reasoning")
        other = {k: v for k, v in data.items() if k not in known}
        note = data.get("author_note")
        reasoning = data.get("reasoning")
        return cls(
            author_note=_author_note(note if isinstance(note, Mapping) else {}),
            preset=_text_or_none(data.get("preset")),
            format=_text_or_none(data.get("format")),
            reasoning=ReasoningSettings.from_json(
                reasoning if isinstance(reasoning, Mapping) else {}
            ),
            other=other,
        )


#: The note positions and roles, in SillyTavern's numbering (0, 1, 2).
NOTE_POSITIONS: tuple[NotePosition, ...] = ("after_story", "in_chat", "before_prompt")
NOTE_ROLES: tuple[NoteRole, ...] = ("system", "user", "assistant")


def _author_note(data: Mapping[str, Any]) -> AuthorNoteSettings:
    default = AuthorNoteSettings()
    position = data.get("position")
    role = data.get("role")
    return AuthorNoteSettings(
        text=data["text"] if isinstance(data.get("text"), str) else "",
        depth=whole_number(data.get("depth"), default.depth),
        interval=whole_number(data.get("interval"), default.interval),
        position=position if position in NOTE_POSITIONS else default.position,
        role=role if role in NOTE_ROLES else default.role,
    )


def whole_number(value: object, default: int) -> int:
    """A stored count (``"4"``, ``4.0`` or ``4``) as a non-negative int; else ``default``."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return max(0, int(value))


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Chat:
    """A chat: its title, characters (in order), persona and metadata."""

    id: int
    title: str
    character_ids: tuple[int, ...]
    persona_id: int | None
    #: Free-form JSON kept for SillyTavern: ``chat_metadata`` (``integrity``, extension
    #: keys) and ``st_header`` (an imported file's header).  Parlor's own per-chat
    #: choices are :attr:`settings`.
    metadata: JSONDict
    #: First message of the active path (the shown greeting), or None for an empty chat.
    active_root_id: int | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    settings: ChatSettings = ChatSettings()


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
