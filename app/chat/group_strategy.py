"""Who replies in a group chat: SillyTavern's natural, list, manual and pooled orders.

Pure functions over the members (in order) and the chat so far; the dice come from an
injected :class:`random.Random`, so a test can pin them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.storage.group_types import ReplyStrategy

#: A member's ``extensions.talkativeness`` where the card sets none (SillyTavern's).
DEFAULT_TALKATIVENESS = 0.5
_WORD = re.compile(r"\b\w+\b", re.ASCII)


@dataclass(frozen=True)
class Candidate:
    """A member as the strategies see them."""

    character_id: int
    name: str
    muted: bool = False
    talkativeness: float = DEFAULT_TALKATIVENESS


@dataclass(frozen=True)
class Turn:
    """A message of the chat so far: who wrote it."""

    speaker: str
    is_user: bool
    hidden: bool = False


def words(text: str) -> list[str]:
    """``extractAllWords``: the lower-cased words of ``text``."""
    return [w.lower() for w in _WORD.findall(text)]


def natural_order(
    members: Sequence[Candidate],
    text: str,
    last: Turn | None,
    *,
    allow_self: bool,
    user_input: bool,
    rng: random.Random,
) -> list[int]:
    """``activateNaturalOrder``: members ``text`` mentions, then a talkativeness roll each
    (in shuffled order); one at random when nobody is drawn.  The last speaker is left out
    unless self-responses are allowed."""
    banned = None
    if not user_input and last is not None and not last.is_user and not allow_self:
        banned = last.speaker
    chosen: list[int] = []
    for word in words(text):
        for member in members:
            if member.name != banned and word in words(member.name):
                chosen.append(member.character_id)
                break
    shuffled = list(members)
    rng.shuffle(shuffled)
    chatty: list[Candidate] = []
    for member in shuffled:
        if member.name == banned:
            continue
        if member.talkativeness >= rng.random():
            chosen.append(member.character_id)
        if member.talkativeness > 0:
            chatty.append(member)
    pool = chatty or list(members)
    if not chosen and pool:
        chosen.append(pool[rng.randrange(len(pool))].character_id)
    return list(dict.fromkeys(chosen))


def pooled_order(
    members: Sequence[Candidate], history: Sequence[Turn], rng: random.Random
) -> list[int]:
    """One member, at random, among those who have not spoken since the user's last
    message (everyone when all have; the last speaker is avoided when possible)."""
    if not members:
        return []
    spoken: set[str] = set()
    for turn in reversed(history):
        if turn.hidden:
            continue
        if turn.is_user:
            break
        spoken.add(turn.speaker)
    fresh = [m for m in members if m.name not in spoken]
    if not fresh:
        last = next((t.speaker for t in reversed(history) if not t.is_user and not t.hidden), None)
        fresh = [m for m in members if m.name != last] or list(members)
    return [fresh[rng.randrange(len(fresh))].character_id]


def reply_order(
    strategy: ReplyStrategy,
    members: Sequence[Candidate],
    history: Sequence[Turn],
    text: str,
    *,
    allow_self: bool,
    user_input: bool,
    rng: random.Random,
) -> list[int]:
    """The character ids that answer, in order; muted members never answer on their own.

    ``text`` is the user's new message (``user_input``), else the last message's text.
    """
    unmuted = [m for m in members if not m.muted]
    if strategy == ReplyStrategy.LIST:
        return [m.character_id for m in unmuted]
    if strategy == ReplyStrategy.MANUAL:
        return []
    if strategy == ReplyStrategy.POOLED:
        return pooled_order(unmuted, history, rng)
    visible = [t for t in history if not t.hidden]
    last = visible[-1] if visible else None
    return natural_order(unmuted, text, last, allow_self=allow_self, user_input=user_input, rng=rng)
