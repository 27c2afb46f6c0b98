"""The chat service: send, swipe, regenerate, continue, impersonate, edit, branch.

The only place that orchestrates: UI, API and CLI call it; it calls storage, the prompt
builder, presets and the engine (through :class:`~app.chat.turns.TurnRunner`).
Writes are per message: a user message is committed before generation starts, a reply
when it ends or is stopped (its partial text kept, marked stopped); nothing rewrites a
whole chat.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from app.cards.model import CharacterCard
from app.chat.turns import Progress, Stores, TurnRunner
from app.errors import InputError
from app.prompt.types import BuiltPrompt, GenerationType
from app.storage.types import Chat, GenInfo, Message, Role

Persist = Callable[[Progress], Message | None]


@dataclass(frozen=True)
class ShownMessage:
    """A message on the active path, with its swipe position among its siblings."""

    message: Message
    swipe_index: int
    swipe_count: int


@dataclass(frozen=True)
class ChatView:
    """A chat as the UI shows it: the active path from the first message down."""

    chat: Chat
    character_name: str
    messages: list[ShownMessage]


class ChatService:
    """All chat operations; each reply streams as :class:`Progress` values."""

    def __init__(self, runner: TurnRunner) -> None:
        self._runner = runner

    @property
    def stores(self) -> Stores:
        """The repositories (for read-only listing by the UI and CLI)."""
        return self._runner.stores

    # -- chats ---------------------------------------------------------------------

    def new_chat(self, character_id: int, *, persona_id: int | None = None) -> Chat:
        """A new chat opening with the greeting; alternate greetings become its swipes."""
        character = self.stores.characters.get(character_id)
        card = CharacterCard.from_document(character.card)
        greetings = [g for g in (card.first_mes, *card.alternate_greetings) if g.strip()]
        return self.stores.chats.create_chat(
            [character_id],
            persona_id=persona_id,
            title=f"Chat with {card.name}",
            greetings=greetings,
            greeting_speaker=card.name,
        )

    def view(self, chat_id: int) -> ChatView:
        """The chat's active path with swipe counters."""
        chats = self.stores.chats
        chat = chats.get_chat(chat_id)
        path = chats.active_path(chat_id)
        positions = chats.swipe_positions(chat_id)
        shown = [ShownMessage(m, *positions[m.id]) for m in path]
        name = self.stores.characters.get(chat.character_ids[0]).name
        return ChatView(chat, name, shown)

    def branch(self, message_id: int) -> Chat:
        """A new chat sharing the path up to (and including) ``message_id``."""
        message = self.stores.chats.get_message(message_id)
        return self.stores.chats.branch(message.chat_id, message_id)

    # -- generation ----------------------------------------------------------------

    def send(self, chat_id: int, text: str) -> Iterator[Progress]:
        """Commit the user's message, then stream the character's reply to it.

        An empty ``text`` asks for another reply without a user message.
        """
        chat = self.stores.chats.get_chat(chat_id)
        path = self.stores.chats.active_path(chat_id)
        if text.strip():
            context = self._runner.context(chat, path, "normal")
            user = self.stores.chats.add_message(
                chat_id,
                path[-1].id if path else None,
                role=Role.USER,
                speaker=context.request.persona.name,
                content=self._runner.substitute(text, context),
            )
            path = [*path, user]
        parent = path[-1].id if path else None
        yield from self._generate(chat, path, "normal", self._new_reply(chat_id, parent))

    def regenerate(self, chat_id: int) -> Iterator[Progress]:
        """A new alternative for the last reply (kept as a swipe; the old one stays)."""
        chat = self.stores.chats.get_chat(chat_id)
        path = self.stores.chats.active_path(chat_id)
        if not path or path[-1].role == Role.USER:
            yield from self.send(chat_id, "")
            return
        last = path[-1]
        yield from self._generate(chat, path[:-1], "regenerate", self._new_swipe(last))

    def swipe(self, message_id: int, direction: int) -> Iterator[Progress]:
        """Show the previous or next alternative of any message.

        Swiping right past the last alternative of a reply generates a new one; each
        alternative keeps its own continuation.
        """
        chats = self.stores.chats
        message = chats.get_message(message_id)
        index, count = chats.siblings(message_id)
        target = index + (1 if direction > 0 else -1)
        if 0 <= target < count:
            shown = chats.select_sibling(message_id, target)
            yield Progress(shown.content, True, "stop", message=shown)
            return
        if target < 0 or message.role == Role.USER:
            return
        chat = chats.get_chat(message.chat_id)
        path = chats.active_path(message.chat_id)
        history = path[: [m.id for m in path].index(message_id)]
        yield from self._generate(chat, history, "swipe", self._new_swipe(message))

    def continue_reply(self, chat_id: int) -> Iterator[Progress]:
        """Make the last reply longer; the added text is saved onto the same message."""
        chat = self.stores.chats.get_chat(chat_id)
        path = self.stores.chats.active_path(chat_id)
        if not path or path[-1].role == Role.USER:
            raise InputError("continue", "the last message is not a reply to continue")
        last = path[-1]

        def persist(done: Progress) -> Message:
            info = done.gen_info or GenInfo()
            return self.stores.chats.finish_message(
                last.id, last.content + done.text, info, stopped=info.stopped
            )

        for progress in self._generate(chat, path, "continue", persist):
            yield Progress(
                last.content + progress.text,
                progress.done,
                progress.finish_reason,
                progress.gen_info,
                progress.message,
                progress.prompt_tokens,
            )

    def impersonate(self, chat_id: int) -> Iterator[Progress]:
        """Write the user's next message for them (not stored: it goes to the input box)."""
        chat = self.stores.chats.get_chat(chat_id)
        path = self.stores.chats.active_path(chat_id)
        yield from self._generate(chat, path, "impersonate", lambda done: None)

    def prompt(self, chat_id: int) -> BuiltPrompt:
        """The exact prompt the next reply in this chat would get."""
        chat = self.stores.chats.get_chat(chat_id)
        path = self.stores.chats.active_path(chat_id)
        return self._runner.build(self._runner.context(chat, path, "normal"))

    def prompt_for(
        self, chat: Chat, history: Sequence[Message], *, user_name: str | None = None
    ) -> BuiltPrompt:
        """The exact prompt for an unsaved chat (``parlor prompt``)."""
        context = self._runner.context(chat, history, "normal", user_name=user_name)
        return self._runner.build(context)

    def stop(self) -> None:
        """Stop the running reply; what was generated so far is kept."""
        self._runner.abort()

    # -- edits -----------------------------------------------------------------------

    def edit(self, message_id: int, text: str, *, as_swipe: bool = False) -> Message:
        """Change a message's text in place, or keep the old text and add a new swipe."""
        chats = self.stores.chats
        message = chats.get_message(message_id)
        if as_swipe:
            return chats.add_swipe(
                message.chat_id,
                message.parent_id,
                role=message.role,
                speaker=message.speaker,
                content=text,
            )
        chats.update_message_content(message_id, text)
        return chats.get_message(message_id)

    def delete(self, message_id: int) -> int:
        """Delete a message and everything below it; returns how many were removed."""
        return self.stores.chats.delete_message(message_id)

    # -- internals -----------------------------------------------------------------

    def _generate(
        self, chat: Chat, history: Sequence[Message], kind: GenerationType, persist: Persist
    ) -> Iterator[Progress]:
        context = self._runner.context(chat, history, kind)
        prompt = self._runner.build(context)
        for progress in self._runner.stream(context, prompt):
            if not progress.done:
                yield progress
                continue
            # A stopped reply keeps its partial text (marked stopped); an empty one is dropped.
            message = persist(progress) if progress.text.strip() else None
            yield Progress(
                progress.text,
                True,
                progress.finish_reason,
                progress.gen_info,
                message,
                progress.prompt_tokens,
            )

    def _new_reply(self, chat_id: int, parent_id: int | None) -> Persist:
        def persist(done: Progress) -> Message:
            card_name = self._speaker(chat_id)
            return self.stores.chats.add_message(
                chat_id,
                parent_id,
                role=Role.ASSISTANT,
                speaker=card_name,
                content=done.text,
                gen_info=done.gen_info,
            )

        return persist

    def _new_swipe(self, sibling: Message) -> Persist:
        def persist(done: Progress) -> Message:
            return self.stores.chats.add_swipe(
                sibling.chat_id,
                sibling.parent_id,
                role=sibling.role,
                speaker=sibling.speaker,
                content=done.text,
                gen_info=done.gen_info,
            )

        return persist

    def _speaker(self, chat_id: int) -> str:
        chat = self.stores.chats.get_chat(chat_id)
        return self.stores.characters.get(chat.character_ids[0]).name


_MACRO = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(BOT|USER)>", re.IGNORECASE)


def display_text(text: str, *, char: str, user: str) -> str:
    """``{{char}}``/``{{user}}`` (and legacy ``<BOT>``/``<USER>``) filled in for display."""

    def fill(match: re.Match[str]) -> str:
        word = (match.group(1) or match.group(2)).lower()
        return char if word in ("char", "bot") else user

    return _MACRO.sub(fill, text)
