"""A group chat's members as the prompt and the reply strategies see them."""

from __future__ import annotations

from collections.abc import Sequence

from app.cards.model import CharacterCard
from app.chat.convert import character_info
from app.chat.group_strategy import Candidate, Turn
from app.errors import InputError
from app.prompt.group import GroupMemberCard, GroupMode, GroupPrompt
from app.storage.group_types import Group, PromptMode
from app.storage.repositories import CharacterRepository
from app.storage.types import Message, Role

_MODES: dict[PromptMode, GroupMode] = {
    PromptMode.SWAP: "swap",
    PromptMode.JOIN: "join",
    PromptMode.JOIN_WITH_MUTED: "join_muted",
}


def member_cards(characters: CharacterRepository, group: Group) -> list[CharacterCard]:
    """Every member's card, in the group's order."""
    return [CharacterCard.from_document(characters.get(i).card) for i in group.member_ids]


def group_prompt(characters: CharacterRepository, group: Group) -> GroupPrompt:
    """The group as the prompt builder takes it."""
    cards = member_cards(characters, group)
    members = tuple(
        GroupMemberCard(character_info(card), member.muted)
        for card, member in zip(cards, group.members, strict=True)
    )
    settings = group.settings
    return GroupPrompt(members, _MODES[settings.mode], settings.join_prefix, settings.join_suffix)


def candidates(characters: CharacterRepository, group: Group) -> list[Candidate]:
    """The members as the reply strategies see them."""
    cards = member_cards(characters, group)
    return [
        Candidate(member.character_id, card.name, member.muted, card.talkativeness)
        for card, member in zip(cards, group.members, strict=True)
    ]


def turns(path: Sequence[Message]) -> list[Turn]:
    """Who wrote each message of ``path``."""
    return [Turn(m.speaker, m.role == Role.USER, m.role == Role.SYSTEM) for m in path]


def member_named(characters: CharacterRepository, group: Group, name: str) -> int:
    """The id of the member called ``name`` (case-insensitive); ``InputError`` if none."""
    cards = member_cards(characters, group)
    for card, character_id in zip(cards, group.member_ids, strict=True):
        if card.name.casefold() == name.casefold():
            return character_id
    who = ", ".join(card.name for card in cards)
    raise InputError("speaker", f"{name!r} is not a member of group {group.name!r} ({who})")
