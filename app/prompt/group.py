"""What a group chat adds to a prompt (SillyTavern's ``group-chats.js`` for one speaker).

In *swap* mode the prompt is the speaker's one-to-one prompt; the other members appear
through their name-prefixed messages, ``{{group}}``/``{{notChar}}`` and their names as
stop strings.  In *join* mode every member's description, personality, scenario and
examples are joined (``getGroupCharacterCards``), each wrapped in the group's join
prefix and suffix, and every member's depth prompt is injected
(``getGroupDepthPrompts``).  Muted members are left out of both unless they are the
speaker or the mode includes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from app.prompt.types import CharacterInfo, DepthPrompt

GroupMode = Literal["swap", "join", "join_muted"]
#: ``substitute(text, member_name)``: ``baseChatReplace`` with ``{{char}}`` as that member.
MemberSubstitute = Callable[[str, str], str]
_FIELDNAME = re.compile(r"<FIELDNAME>", re.IGNORECASE)


@dataclass(frozen=True)
class GroupMemberCard:
    """One member of the group as the prompt sees it."""

    character: CharacterInfo
    muted: bool = False


@dataclass(frozen=True)
class GroupPrompt:
    """The group a prompt is built for: its members in order and how they are joined."""

    members: tuple[GroupMemberCard, ...]
    mode: GroupMode = "swap"
    join_prefix: str = ""
    join_suffix: str = ""

    def names(self) -> list[str]:
        """Every member's name, in order."""
        return [m.character.name for m in self.members]

    def unmuted_names(self) -> list[str]:
        """The unmuted members' names, in order."""
        return [m.character.name for m in self.members if not m.muted]

    def others(self, speaker: str) -> list[str]:
        """The members' names but the speaker's (their stop strings)."""
        return [name for name in self.names() if name and name != speaker]

    def not_char(self, speaker: str, user: str) -> str:
        """``{{notChar}}``: everyone in the chat but the speaker."""
        return ", ".join([*self.others(speaker), user])

    def included(self, speaker: str) -> list[CharacterInfo]:
        """The members whose cards a join-mode prompt holds."""
        return [
            m.character
            for m in self.members
            if not m.muted or m.character.name == speaker or self.mode == "join_muted"
        ]


@dataclass(frozen=True)
class JoinedCards:
    """The card fields of a join-mode prompt (each member's, wrapped and joined)."""

    description: str
    personality: str
    scenario: str
    examples: str


def joined_cards(
    group: GroupPrompt, speaker: str, substitute: MemberSubstitute, *, wrap: bool
) -> JoinedCards:
    """``getGroupCharacterCards``: every included member's fields, prefixed and joined."""

    def prepared(value: str, name: str, field_name: str) -> str:
        value = value.strip()
        if not value:
            return ""

        def custom(text: str) -> str:
            return substitute(_FIELDNAME.sub(field_name, text).strip(), name) if text else ""

        prefix, suffix = custom(group.join_prefix), custom(group.join_suffix)
        separator = "\n" if wrap else ""
        body = custom(value)
        return f"{prefix + separator if prefix else ''}{body}{separator + suffix if suffix else ''}"

    def joined(pick: Callable[[CharacterInfo], str], field_name: str) -> str:
        parts = [prepared(pick(c), c.name, field_name) for c in group.included(speaker)]
        return "\n".join(part for part in parts if part)

    return JoinedCards(
        description=joined(lambda c: c.description, "Description"),
        personality=joined(lambda c: c.personality, "Personality"),
        scenario=joined(lambda c: c.scenario, "Scenario"),
        examples=joined(lambda c: c.examples, "Example Messages"),
    )


def member_depth_prompts(
    group: GroupPrompt, speaker: str, substitute: MemberSubstitute
) -> list[DepthPrompt]:
    """``getGroupDepthPrompts``: each included member's note (none in swap mode)."""
    if group.mode == "swap":
        return []
    prompts: list[DepthPrompt] = []
    for member in group.members:
        if member.muted and member.character.name != speaker:
            continue
        note = member.character.depth_prompt
        text = substitute(note.text.strip(), member.character.name) if note.text.strip() else ""
        if text:
            prompts.append(DepthPrompt(text, note.depth, note.role))
    return prompts
