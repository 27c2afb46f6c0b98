"""The group service: groups of characters, their chats and who replies in them.

Members, their order and muting, the reply strategy and the prompt mode are the group's;
each reply is a one-member turn through :meth:`ChatService.reply_as`, so swipes,
regenerate, continue, edit, delete, branch and search work in group chats as in
one-to-one chats.  After each round the waiting members' KV slots are filled in the
background (:mod:`app.chat.prefill`).  Every write is one transaction per user
action.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app.chat.convert import persona_info
from app.chat.greetings import GreetingMacros
from app.chat.group_context import candidates, group_prompt, member_cards, turns
from app.chat.group_strategy import reply_order
from app.chat.prefill import IdlePrefill
from app.chat.service import ChatService
from app.chat.st_groups import GroupFiles
from app.chat.turns import Progress, Stores
from app.errors import InputError
from app.storage.db import Database
from app.storage.group_types import Group, GroupMember, GroupSettings
from app.storage.types import Chat, Role

#: At least this many characters make a new group.
MIN_MEMBERS = 2


@dataclass(frozen=True)
class MemberReply:
    """A group member's reply as it streams."""

    character_id: int
    name: str
    progress: Progress


class GroupService:
    """Groups and the replies of their members."""

    def __init__(
        self,
        db: Database,
        stores: Stores,
        chat: ChatService,
        files: GroupFiles,
        greetings: GreetingMacros,
        prefill: IdlePrefill | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._stores = stores
        self._chat = chat
        self._files = files
        self._greetings = greetings
        #: Fills the waiting members' KV slots after each round (None: never).
        self.prefill = prefill
        self._rng = rng or random.Random()

    # -- groups ----------------------------------------------------------------------

    def groups(self) -> list[Group]:
        """Every group, by name."""
        return self._stores.groups.list_groups()

    def group(self, group_id: int) -> Group:
        """One group, or ``NotFound``."""
        return self._stores.groups.get(group_id)

    def find(self, id_or_name: str) -> Group:
        """A group by id or by name (case-insensitive)."""
        if id_or_name.isdigit():
            return self.group(int(id_or_name))
        found = [g for g in self.groups() if g.name.casefold() == id_or_name.casefold()]
        if len(found) != 1:
            what = "no group" if not found else f"{len(found)} groups"
            raise InputError("group", f"{what} called {id_or_name!r}")
        return found[0]

    def create(
        self, name: str, character_ids: Sequence[int], settings: GroupSettings | None = None
    ) -> Group:
        """A new group of two or more characters (in order, none muted)."""
        if not name.strip():
            raise InputError("name", "a group needs a name")
        if len(set(character_ids)) < MIN_MEMBERS:
            raise InputError("members", f"a group needs at least {MIN_MEMBERS} characters")
        self._check_books(settings)
        members = [GroupMember(i) for i in character_ids]
        return self._stores.groups.create(name.strip(), members, settings)

    def update(
        self, group_id: int, *, name: str | None = None, settings: GroupSettings | None = None
    ) -> Group:
        """Rename a group or change its settings (strategy, prompt mode, join text …)."""
        if name is not None and not name.strip():
            raise InputError("name", "a group needs a name")
        self._check_books(settings)
        return self._stores.groups.update(
            group_id, name=name.strip() if name else None, settings=settings
        )

    def set_members(self, group_id: int, members: Sequence[GroupMember]) -> Group:
        """Reorder, mute, add or remove members (also in the middle of a chat)."""
        if not members:
            raise InputError("members", "a group needs at least one character")
        with self._db.transaction() as session:
            group = self._stores.groups.update(group_id, members=members, session=session)
            for chat_id in self._stores.groups.chat_ids(group_id, session=session):
                self._stores.chats.set_characters(chat_id, group.member_ids, session=session)
            return group

    def mute(self, group_id: int, character_id: int, muted: bool) -> Group:
        """Mute or unmute one member."""
        members = [
            replace(m, muted=muted) if m.character_id == character_id else m
            for m in self.group(group_id).members
        ]
        return self.set_members(group_id, members)

    def delete(self, group_id: int) -> None:
        """Delete a group; its chats stay, as chats of its members."""
        self._stores.groups.delete(group_id)

    def export(self, group_id: int, folder: Path) -> list[Path]:
        """The group and its chats as SillyTavern keeps them, under ``folder``."""
        return self._files.export_group(self.group(group_id), folder)

    def lorebook_choices(self) -> list[tuple[str, int]]:
        """(name, id) of every lorebook a group can use, by name."""
        return [(book.name, book.id) for book in self._stores.lorebooks.list_lorebooks()]

    def member_names(self, group: Group) -> list[tuple[int, str]]:
        """(character id, name) of each member, in order."""
        cards = member_cards(self._stores.characters, group)
        return [(i, card.name) for i, card in zip(group.member_ids, cards, strict=True)]

    # -- chats -----------------------------------------------------------------------

    def new_chat(self, group_id: int) -> Chat:
        """A new chat of the group, opening with each member's greeting in turn.

        A member's first greeting is shown; its alternate and group-only greetings are
        that message's swipes.
        """
        group = self.group(group_id)
        cards = member_cards(self._stores.characters, group)
        prompt = group_prompt(self._stores.characters, group)
        persona = persona_info(self._stores.personas.get_default())
        stores = self._stores
        with self._db.transaction() as session:
            chat = stores.chats.create_chat(
                group.member_ids, title=f"Group chat: {group.name}", session=session
            )
            stores.groups.attach_chat(chat.id, group.id, session=session)
            parent: int | None = None
            shown = 0
            for card in cards:
                texts = self._greetings.greetings(card, prompt, persona)
                for index, text in enumerate(texts):
                    message = stores.chats.add_message(
                        chat.id, parent, role=Role.ASSISTANT, speaker=card.name,
                        content=text, activate=index == 0, session=session,
                    )  # fmt: skip
                    shown = message.id if index == 0 else shown
                if texts:
                    parent = shown
            return stores.chats.get_chat(chat.id, session=session)

    def group_of(self, chat_id: int) -> Group | None:
        """The group a chat belongs to (None: a one-to-one chat)."""
        return self._stores.groups.of_chat(chat_id)

    def chat_groups(self) -> dict[int, str]:
        """Chat id → group name, for every group chat."""
        return self._stores.groups.names_by_chat()

    # -- replies ---------------------------------------------------------------------

    def next_speakers(self, chat_id: int, text: str = "") -> list[int]:
        """Who answers next under the group's strategy (``text``: the user's new
        message; empty: the members go on among themselves)."""
        group = self._require_group(chat_id)
        path = self._stores.chats.active_path(chat_id)
        history = turns(path)
        visible = [m for m in path if m.role != Role.SYSTEM]
        activation = text if text.strip() else (visible[-1].content if visible else "")
        settings = group.settings
        return reply_order(
            settings.strategy,
            candidates(self._stores.characters, group),
            history,
            activation,
            allow_self=settings.allow_self_responses,
            user_input=bool(text.strip()),
            rng=self._rng,
        )

    def send(self, chat_id: int, text: str) -> Iterator[MemberReply]:
        """Store the user's message, then stream each chosen member's reply in turn."""
        speakers = self.next_speakers(chat_id, text)
        if text.strip():
            self._chat.add_user_message(chat_id, text)
        yield from self._round(chat_id, speakers)

    def auto_turn(self, chat_id: int) -> Iterator[MemberReply]:
        """One round without the user (auto mode): the strategy picks who goes on."""
        yield from self._round(chat_id, self.next_speakers(chat_id))

    def speak(self, chat_id: int, character_id: int) -> Iterator[MemberReply]:
        """One member replies now (muted members too)."""
        group = self._require_group(chat_id)
        if character_id not in group.member_ids:
            raise InputError("speaker", f"character {character_id} is not in {group.name!r}")
        yield from self._round(chat_id, [character_id])

    def _round(self, chat_id: int, speakers: Sequence[int]) -> Iterator[MemberReply]:
        """Each speaker replies in turn; then the others' slots are filled while the user
        reads (the fill gives way to the next reply)."""
        if self.prefill is not None:
            self.prefill.pause()
        for character_id in speakers:
            name = self._stores.characters.get(character_id).name
            for progress in self._chat.reply_as(chat_id, character_id):
                yield MemberReply(character_id, name, progress)
        if self.prefill is not None and speakers:
            self.prefill.schedule_members(chat_id, speakers[-1])

    def _require_group(self, chat_id: int) -> Group:
        group = self.group_of(chat_id)
        if group is None:
            raise InputError("chat", f"chat {chat_id} is not a group chat")
        return group

    def _check_books(self, settings: GroupSettings | None) -> None:
        """``NotFound`` unless every lorebook ``settings`` names exists."""
        for book_id in settings.lorebook_ids if settings else ():
            self._stores.lorebooks.get(book_id)
