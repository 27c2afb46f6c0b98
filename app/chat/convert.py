"""Stored things (cards, personas, messages, lorebook entries) as the prompt builder sees them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.cards.model import CharacterCard
from app.engine.base import ModelInfo as EngineModelInfo
from app.prompt.formats import Role
from app.prompt.types import (
    CharacterInfo,
    ChatMessage,
    DepthPrompt,
    ModelInfo,
    Persona,
    PersonaPosition,
)
from app.prompt.worldinfo import SelectiveLogic, WIEntry, WIPosition
from app.storage.types import Message
from app.storage.types import Persona as StoredPersona
from app.storage.types import Role as StoredRole

_ROLES = {0: Role.SYSTEM, 1: Role.USER, 2: Role.ASSISTANT}


def character_info(card: CharacterCard) -> CharacterInfo:
    """The card fields the prompt uses."""
    note = card.depth_prompt
    depth = (
        DepthPrompt(note.prompt, note.depth, _ROLES.get(_role_index(note.role), Role.SYSTEM))
        if note is not None
        else DepthPrompt()
    )
    return CharacterInfo(
        name=card.name,
        description=card.description,
        personality=card.personality,
        scenario=card.scenario,
        examples=card.mes_example,
        system_prompt=card.system_prompt,
        post_history_instructions=card.post_history_instructions,
        depth_prompt=depth,
        creator_notes=card.creator_notes,
        version=card.character_version,
    )


def persona_info(persona: StoredPersona | None) -> Persona:
    """The user's persona (``User`` with no description when none is chosen)."""
    if persona is None:
        return Persona()
    try:
        position = PersonaPosition(persona.description_position)
    except ValueError:
        position = PersonaPosition.IN_PROMPT
    return Persona(name=persona.name, description=persona.description, position=position)


def chat_history(messages: Sequence[Message], user_name: str) -> list[ChatMessage]:
    """The active path as prompt messages; user turns carry the persona's name."""
    history = []
    for message in messages:
        is_user = message.role == StoredRole.USER
        name = user_name if is_user else message.speaker
        history.append(
            ChatMessage(
                name=name,
                text=message.content,
                is_user=is_user,
                # SillyTavern's ``is_system`` messages ("Group chat created …") are shown,
                # never sent; its narrator messages go in with the system sequences.
                hidden=message.role == StoredRole.SYSTEM,
                narrator=message.role == StoredRole.NARRATOR,
                sent_at=message.created_at,
                reasoning=reasoning_of(message),
            )
        )
    return history


def reasoning_of(message: Message) -> str:
    """A message's reasoning block (SillyTavern's ``extra.reasoning``), or ""."""
    value = message.extra.get("reasoning")
    return value if isinstance(value, str) else ""


def model_info(info: EngineModelInfo) -> ModelInfo:
    """The model facts the prompt builder needs (for auto-detecting the format)."""
    return ModelInfo(
        name=info.name,
        chat_template=info.chat_template,
        bos_token=info.bos_token,
        eos_token=info.eos_token,
    )


def lore_entries(entries: Iterable[Mapping[str, Any]], *, world: str) -> list[WIEntry]:
    """SillyTavern world-file entries (as stored) as World Info entries."""
    return [_entry(e, index, world) for index, e in enumerate(entries)]


def _entry(e: Mapping[str, Any], index: int, world: str) -> WIEntry:
    return WIEntry(
        uid=e.get("uid", index),
        keys=tuple(str(k) for k in e.get("key") or ()),
        content=str(e.get("content") or ""),
        secondary_keys=tuple(str(k) for k in e.get("keysecondary") or ()),
        comment=str(e.get("comment") or ""),
        constant=bool(e.get("constant")),
        selective=bool(e.get("selective", True)),
        selective_logic=SelectiveLogic(int(e.get("selectiveLogic") or 0)),
        order=int(e.get("order", 100) or 0),
        position=WIPosition(int(e.get("position") or 0)),
        depth=int(e.get("depth", 4) if e.get("depth") is not None else 4),
        role=_ROLES.get(int(e.get("role") or 0), Role.SYSTEM),
        enabled=not bool(e.get("disable")),
        probability=int(e.get("probability", 100) if e.get("probability") is not None else 100),
        use_probability=bool(e.get("useProbability", True)),
        scan_depth=_opt_int(e.get("scanDepth")),
        case_sensitive=_opt_bool(e.get("caseSensitive")),
        match_whole_words=_opt_bool(e.get("matchWholeWords")),
        group=str(e.get("group") or ""),
        exclude_recursion=bool(e.get("excludeRecursion")),
        prevent_recursion=bool(e.get("preventRecursion")),
        ignore_budget=bool(e.get("ignoreBudget")),
        world=world,
        vectorized=_vectorized(e),
    )


def _vectorized(e: Mapping[str, Any]) -> bool:
    """SillyTavern's vectorized flag: on a world-file entry, or in a card book's extensions."""
    extensions = e.get("extensions")
    nested = extensions.get("vectorized") if isinstance(extensions, Mapping) else None
    return bool(e.get("vectorized") or nested)


def _role_index(role: object) -> int:
    if isinstance(role, int):
        return role
    return {"system": 0, "user": 1, "assistant": 2}.get(str(role), 0)


def _opt_int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None
