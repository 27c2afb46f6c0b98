"""The World Info of one turn: the group's own lorebooks, then the speaker's.

SillyTavern has no group lorebook (ST#1211, #2185); the nearest it has is a chat-bound
lorebook, which every member's turn scans and which ``getSortedEntries`` puts first.
Parlor's group books are scanned the same way (``source="chat"``), beside the speaker's
own book, which is left out when one of the group's books is that same book (as
``getCharacterLore`` skips a book already active as the chat's).
"""

from __future__ import annotations

from dataclasses import replace

from app.chat.convert import lore_entries
from app.errors import NotFound
from app.prompt.worldinfo import WIEntry
from app.storage.group_types import Group
from app.storage.repositories import LorebookRepository
from app.storage.types import Lorebook


def group_books(lorebooks: LorebookRepository, group: Group) -> list[Lorebook]:
    """The group's lorebooks that still exist, in the group's order."""
    books: list[Lorebook] = []
    for book_id in group.settings.lorebook_ids:
        try:
            books.append(lorebooks.get(book_id))
        except NotFound:
            continue  # a deleted book drops out of its groups
    return books


def turn_lore(
    lorebooks: LorebookRepository, character_id: int, name: str, group: Group | None
) -> list[WIEntry]:
    """Every entry one speaker's turn scans: the group's books', then its own book's."""
    shared = group_books(lorebooks, group) if group is not None else []
    entries = [
        replace(entry, source="chat")
        for book in shared
        for entry in lore_entries((e.data for e in book.entries), world=book.name)
    ]
    own = lorebooks.for_character(character_id)
    if own is not None and own.id not in {book.id for book in shared}:
        entries += lore_entries((e.data for e in own.entries), world=own.name or name)
    return entries
