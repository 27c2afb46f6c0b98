"""The chat service: chats and their messages, and every reply written for them.

Opening, listing, searching, renaming, trashing and configuring chats; send, swipe,
regenerate, continue, impersonate, edit, branch and delete.

The only place that orchestrates: UI, API and CLI call it; it calls storage, the prompt
builder, presets and the engine (through :class:`~app.chat.turns.TurnRunner`).
Writes are per message: a user message is committed before generation starts, a reply
when it ends or is stopped (its partial text kept, marked stopped); nothing rewrites a
whole chat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from app.cards.model import CharacterCard
from app.chat.group_context import member_named
from app.chat.reasoning_extra import continued, edited_extra, generated_extra, stored_thought
from app.chat.thinking import Thought
from app.chat.turns import ModelReasoning, Progress, TurnRunner
from app.chat.views import (
    DEFAULT_USER_NAME,
    ChatView,
    ContextUse,
    Participant,
    SettingChoices,
    ShownMessage,
    SwipeResult,
)
from app.errors import InputError, NotFound
from app.prompt.itemize import PromptPart, itemize
from app.prompt.types import BuiltPrompt, GenerationType
from app.storage.db import Database
from app.storage.types import (
    CharacterSummary,
    Chat,
    ChatSettings,
    GenInfo,
    Message,
    Role,
    SearchHit,
)

Persist = Callable[[Progress], Message | None]


class ChatService:
    """All chat operations; each reply streams as :class:`Progress` values."""

    def __init__(self, runner: TurnRunner, db: Database) -> None:
        self._runner = runner
        self._db = db
        self._stores = runner.stores

    # -- chats ---------------------------------------------------------------------

    def new_chat(self, character_id: int, *, persona_id: int | None = None) -> Chat:
        """A new chat opening with the greeting; alternate greetings become its swipes."""
        character = self._stores.characters.get(character_id)
        card = CharacterCard.from_document(character.card)
        greetings = [g for g in (card.first_mes, *card.alternate_greetings) if g.strip()]
        return self._stores.chats.create_chat(
            [character_id],
            persona_id=persona_id,
            title=f"Chat with {card.name}",
            greetings=greetings,
            greeting_speaker=card.name,
        )

    def start_chat(self, character_id: int) -> tuple[Chat, bool]:
        """A fresh chat with the character, and whether it was created just now.

        When the character's newest chat is still untouched (its greetings only, no
        settings changed), that one is returned instead of an identical twin.
        """
        latest = next(iter(self._stores.chats.list_chats(character_id)), None)
        if latest is not None and self._untouched(latest):
            return latest, False
        return self.new_chat(character_id), True

    def _untouched(self, chat: Chat) -> bool:
        chats = self._stores.chats
        path = chats.active_path(chat.id)
        if len(path) > 1 or chat.settings != ChatSettings():
            return False
        greetings = chats.siblings(path[0].id)[1] if path else 0
        return chats.count_messages(chat.id) == greetings

    def view(self, chat_id: int) -> ChatView:
        """The chat's active path with swipe counters, who is in it, and any warnings."""
        chats = self._stores.chats
        chat = chats.get_chat(chat_id)
        path = chats.active_path(chat_id)
        positions = chats.swipe_positions(chat_id)
        shown = [ShownMessage(m, *positions[m.id]) for m in path]
        character = self._character(chat)
        warnings = self._runner.setting_warnings(chat)
        group = self._stores.groups.of_chat(chat_id)
        self._runner.chat_opened(chat_id, path)
        return ChatView(
            chat, character.name, shown, character, self._user(chat), warnings,
            group_name=group.name if group else None,
        )  # fmt: skip

    def group_names(self) -> dict[int, str]:
        """Chat id → group name, for every group chat (the chat list names the group)."""
        return self._stores.groups.names_by_chat()

    def message(self, message_id: int) -> Message:
        """One message, or ``NotFound``."""
        return self._stores.chats.get_message(message_id)

    def count_tokens(self, text: str) -> int:
        """``text``'s length in the loaded model's tokens (``ModelNotLoaded`` without one)."""
        return self._runner.count_tokens(text)

    def chat(self, chat_id: int) -> Chat:
        """One chat (trashed ones too), or ``NotFound``."""
        return self._stores.chats.get_chat(chat_id)

    def avatar(self, who: Participant) -> bytes | None:
        """The avatar image of a chat participant (None: it has none)."""
        if who.id is None or who.avatar_stamp is None:
            return None
        if who.kind == "character":
            return self._stores.characters.avatar(who.id)
        return self._stores.personas.get(who.id).avatar

    def members(self, chat_id: int) -> list[Participant]:
        """The chat's characters (a group chat's members, in order) with their avatars."""
        chat = self._stores.chats.get_chat(chat_id)
        return [self._participant(i) for i in chat.character_ids]

    def _character(self, chat: Chat) -> Participant:
        return self._participant(chat.character_ids[0])

    def _participant(self, character_id: int) -> Participant:
        summary = self._stores.characters.summary(character_id)
        stamp = summary.modified_at if summary.has_avatar else None
        return Participant("character", summary.id, summary.name, stamp)

    def _user(self, chat: Chat) -> Participant:
        personas = self._stores.personas
        persona = personas.get(chat.persona_id) if chat.persona_id else personas.get_default()
        if persona is None:
            return Participant("persona", None, DEFAULT_USER_NAME)
        stamp = persona.modified_at if persona.avatar else None
        return Participant("persona", persona.id, persona.name, stamp)

    def characters(self) -> list[CharacterSummary]:
        """Every character (not in the trash), by name."""
        return self._stores.characters.list_characters()

    def setting_choices(self) -> SettingChoices:
        """The presets, formats and personas a chat can choose from."""
        personas = [(p.name, p.id) for p in self._stores.personas.list_personas()]
        return SettingChoices(
            self._runner.preset_names(), self._runner.format_names(), personas,
            self._runner.reasoning_names(), self._runner.model_reasoning(),
        )  # fmt: skip

    def context_use(self, chat_id: int) -> ContextUse:
        """The next reply's prompt size against the context (``ModelNotLoaded`` without one)."""
        prompt = self.prompt(chat_id)
        return ContextUse(prompt.n_tokens, self._runner.n_ctx())

    def busy(self) -> bool:
        """Whether a chat reply is being written right now."""
        return self._runner.busy()

    def chats_of(self, character_id: int) -> list[Chat]:
        """The character's chats (not in the trash), most recently used first."""
        return self._stores.chats.list_chats(character_id)

    def recent_chats(self) -> list[Chat]:
        """Every chat not in the trash, most recently used first."""
        return self._stores.chats.list_chats()

    def trashed_chats(self) -> list[Chat]:
        """Chats in the trash, most recently trashed first."""
        return self._stores.chats.list_trash()

    def open_character(self, character_id: int) -> Chat:
        """The character's most recent chat, or a new one with its greeting."""
        chats = self._stores.chats.list_chats(character_id)
        return chats[0] if chats else self.new_chat(character_id)

    def rename(self, chat_id: int, title: str) -> Chat:
        """Give a chat a new title."""
        return self._stores.chats.rename(chat_id, title.strip())

    def duplicate(self, chat_id: int) -> Chat:
        """A copy of the chat with all its branches and swipes."""
        return self._stores.chats.duplicate(chat_id)

    def trash(self, chat_id: int) -> Chat:
        """Move a chat to the trash (it can be restored)."""
        return self._stores.chats.trash(chat_id)

    def restore(self, chat_id: int) -> Chat:
        """Bring a chat back from the trash."""
        return self._stores.chats.restore(chat_id)

    def search(self, query: str, *, character_id: int | None = None) -> list[SearchHit]:
        """Messages matching every word of ``query``, newest first; one character's or all."""
        return self._stores.chats.search(query, character_id=character_id)

    def reveal(self, message_id: int) -> Message:
        """Make the branch holding ``message_id`` the shown one (for a search hit)."""
        chats = self._stores.chats
        with self._db.transaction() as session:
            message = chats.get_message(message_id, session=session)
            chats.show_path_to(message_id, session=session)
        return message

    def save_settings(
        self,
        chat_id: int,
        settings: ChatSettings,
        *,
        persona_id: int | None,
        model_reasoning: ModelReasoning | None = None,
    ) -> Chat:
        """Store the chat's author's note, overrides and persona, in one transaction.

        ``model_reasoning`` also chooses the reasoning template of a model (its ``chosen``
        None: detect it again).
        """
        model_choice = model_reasoning.chosen if model_reasoning is not None else None
        self._runner.check_choices(settings, model_choice)
        chats = self._stores.chats
        with self._db.transaction() as session:
            chats.update_settings(chat_id, settings, session=session)
            if model_reasoning is not None:
                self._stores.preferences.set_reasoning_template(
                    model_reasoning.model, model_reasoning.chosen, session=session
                )
            return chats.set_persona(chat_id, persona_id, session=session)

    def branch(self, message_id: int) -> Chat:
        """A new chat sharing the path up to (and including) ``message_id``."""
        message = self._stores.chats.get_message(message_id)
        return self._stores.chats.branch(message.chat_id, message_id)

    # -- generation ----------------------------------------------------------------

    def send(self, chat_id: int, text: str) -> Iterator[Progress]:
        """Commit the user's message, then stream the character's reply to it.

        An empty ``text`` asks for another reply without a user message.
        """
        chat = self._stores.chats.get_chat(chat_id)
        if text.strip():
            self.add_user_message(chat_id, text)
        path = self._stores.chats.active_path(chat_id)
        parent = path[-1].id if path else None
        yield from self._generate(chat, path, "normal", self._new_reply(chat_id, parent))

    def add_user_message(self, chat_id: int, text: str) -> Message:
        """Store the user's message (macros substituted as SillyTavern does) after the
        shown path."""
        chat = self._stores.chats.get_chat(chat_id)
        path = self._stores.chats.active_path(chat_id)
        context = self._runner.context(chat, path, "normal")
        return self._stores.chats.add_message(
            chat_id,
            path[-1].id if path else None,
            role=Role.USER,
            speaker=context.request.persona.name,
            content=self._runner.substitute(text, context),
        )

    def reply_as(self, chat_id: int, character_id: int) -> Iterator[Progress]:
        """Stream the next reply of one member of a group chat (``speak now``)."""
        chat = self._stores.chats.get_chat(chat_id)
        path = self._stores.chats.active_path(chat_id)
        persist = self._new_reply(chat_id, path[-1].id if path else None, character_id)
        yield from self._generate(chat, path, "normal", persist, speaker_id=character_id)

    def regenerate(self, chat_id: int) -> Iterator[Progress]:
        """A new alternative for the last reply (kept as a swipe; the old one stays)."""
        chat = self._stores.chats.get_chat(chat_id)
        path = self._stores.chats.active_path(chat_id)
        if not path or path[-1].role == Role.USER:
            yield from self.send(chat_id, "")
            return
        last = path[-1]
        speaker = self._member_id(chat, last.speaker)
        yield from self._generate(
            chat, path[:-1], "regenerate", self._new_swipe(last), speaker_id=speaker
        )

    def swipe(self, message_id: int, direction: int) -> SwipeResult:
        """Show the previous or next alternative of any message.

        Swiping right past the last alternative of a reply generates a new one (streamed
        in ``replies``; ``InputError`` when the reply is no longer on the shown branch);
        each alternative keeps its own continuation.
        """
        chats = self._stores.chats
        message = chats.get_message(message_id)
        index, count = chats.siblings(message_id)
        target = index + (1 if direction > 0 else -1)
        if 0 <= target < count:
            return SwipeResult(shown=chats.select_sibling(message_id, target))
        if target < 0 or message.role == Role.USER:
            return SwipeResult()
        chat = chats.get_chat(message.chat_id)
        path = chats.active_path(message.chat_id)
        shown_ids = [m.id for m in path]
        if message_id not in shown_ids:  # another tab switched the branch meanwhile
            raise InputError("swipe", "that message is no longer on the shown branch")
        history = path[: shown_ids.index(message_id)]
        speaker = self._member_id(chat, message.speaker)
        replies = self._generate(
            chat, history, "swipe", self._new_swipe(message), speaker_id=speaker
        )
        return SwipeResult(replies=replies)

    def continue_reply(self, chat_id: int) -> Iterator[Progress]:
        """Make the last reply longer; the added text is saved onto the same message."""
        chat = self._stores.chats.get_chat(chat_id)
        path = self._stores.chats.active_path(chat_id)
        if not path or path[-1].role == Role.USER:
            raise InputError("continue", "the last message is not a reply to continue")
        last = path[-1]
        before = stored_thought(last.extra)
        in_block = bool(before.text) and not last.content

        def persist(done: Progress) -> Message:
            info = done.gen_info or GenInfo()
            extra = {**last.extra, **generated_extra(done.thought)} if in_block else None
            return self._stores.chats.finish_message(
                last.id, done.text, info, stopped=info.stopped, extra=extra
            )

        speaker = self._member_id(chat, last.speaker)
        yield from self._generate(chat, path, "continue", persist, before, speaker_id=speaker)

    def impersonate(self, chat_id: int) -> Iterator[Progress]:
        """Write the user's next message for them (not stored: it goes to the input box)."""
        chat = self._stores.chats.get_chat(chat_id)
        path = self._stores.chats.active_path(chat_id)
        yield from self._generate(chat, path, "impersonate", lambda done: None)

    def prompt(
        self, chat_id: int, *, extra_user_message: str | None = None, speaker: str | None = None
    ) -> BuiltPrompt:
        """The exact prompt the next reply in this chat would get.

        With ``extra_user_message``, the prompt ``send(chat_id, text)`` would build: the
        text (macros substituted as ``send`` does) as a new user message, never stored.
        ``speaker`` names the character who replies; it must be the chat's character.
        """
        chat = self._stores.chats.get_chat(chat_id)
        speaker_id = self._member_id(chat, speaker) if speaker is not None else None
        if speaker is not None and speaker_id is None:
            self._check_speaker(chat, speaker)
        path = self._stores.chats.active_path(chat_id)
        if extra_user_message and extra_user_message.strip():
            path = [*path, self._unsaved_user_message(chat, path, extra_user_message)]
        context = self._runner.context(chat, path, "normal", speaker_id=speaker_id)
        return self._runner.build(context)

    def find_chat(self, id_or_title: str) -> Chat:
        """A chat by id, or by title (case-insensitive; chats in the trash are left out)."""
        chats = self._stores.chats
        if id_or_title.isdigit():
            return chats.get_chat(int(id_or_title))
        wanted = id_or_title.casefold()
        found = [chat for chat in chats.list_chats() if chat.title.casefold() == wanted]
        if not found:
            raise NotFound("chat", id_or_title)
        if len(found) > 1:
            ids = ", ".join(str(chat.id) for chat in found)
            raise InputError(id_or_title, f"{len(found)} chats have this title: ids {ids}")
        return found[0]

    def prompt_parts(self, prompt: BuiltPrompt) -> list[PromptPart]:
        """How ``prompt`` splits into story string, examples, lore, history …, in tokens."""
        return itemize(prompt, self._runner.count_tokens)

    def prompt_for(
        self, chat: Chat, history: Sequence[Message], *, user_name: str | None = None
    ) -> BuiltPrompt:
        """The exact prompt for an unsaved chat (``parlor prompt``).

        A preset or format the chat names must exist (``NotFound``): an unsaved chat has
        no stored choice to fall back from.
        """
        self._runner.check_choices(chat.settings)
        context = self._runner.context(chat, history, "normal", user_name=user_name)
        return self._runner.build(context)

    def stop(self) -> None:
        """Stop the running reply; what was generated so far is kept."""
        self._runner.abort()

    # -- edits -----------------------------------------------------------------------

    def edit(self, message_id: int, text: str, *, as_swipe: bool = False) -> Message:
        """Change a message's text in place, or keep the old text and add a new swipe."""
        chats = self._stores.chats
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

    def set_reasoning(self, message_id: int, text: str) -> Message:
        """Edit a message's reasoning block; an empty ``text`` deletes it (the answer stays)."""
        chats = self._stores.chats
        with self._db.transaction() as session:
            message = chats.get_message(message_id, session=session)
            extra = edited_extra(message.extra, text)
            chats.update_message_extra(message_id, extra, session=session)
            return chats.get_message(message_id, session=session)

    def delete(self, message_id: int) -> int:
        """Delete a message and everything below it; returns how many were removed."""
        return self._stores.chats.delete_message(message_id)

    # -- internals -----------------------------------------------------------------

    def _generate(
        self,
        chat: Chat,
        history: Sequence[Message],
        kind: GenerationType,
        persist: Persist,
        before: Thought | None = None,
        *,
        speaker_id: int | None = None,
    ) -> Iterator[Progress]:
        """Stream a reply and store it when it ends (``before``: a continued one's reasoning;
        ``speaker_id``: the group member who replies)."""
        context = self._runner.context(chat, history, kind, speaker_id=speaker_id)
        prompt = self._runner.build(context, record=True)
        for progress in self._runner.stream(context, prompt):
            if before is not None:
                progress = replace(progress, thought=continued(before, progress.thought))
            if not progress.done:
                yield progress
                continue
            # A stopped reply keeps its partial text (marked stopped); an empty one is dropped.
            message = persist(progress) if progress.written else None
            yield replace(progress, message=message)

    def _new_reply(
        self, chat_id: int, parent_id: int | None, speaker_id: int | None = None
    ) -> Persist:
        def persist(done: Progress) -> Message:
            card_name = self._speaker(chat_id, speaker_id)
            return self._stores.chats.add_message(
                chat_id,
                parent_id,
                role=Role.ASSISTANT,
                speaker=card_name,
                content=done.text,
                gen_info=done.gen_info,
                extra=generated_extra(done.thought),
            )

        return persist

    def _new_swipe(self, sibling: Message) -> Persist:
        def persist(done: Progress) -> Message:
            return self._stores.chats.add_swipe(
                sibling.chat_id,
                sibling.parent_id,
                role=sibling.role,
                speaker=sibling.speaker,
                content=done.text,
                gen_info=done.gen_info,
                extra=generated_extra(done.thought),
            )

        return persist

    def _check_speaker(self, chat: Chat, speaker: str) -> None:
        names = [self._stores.characters.get(i).name for i in chat.character_ids]
        if speaker.casefold() not in (name.casefold() for name in names):
            who = ", ".join(names)
            raise InputError("speaker", f"{speaker!r} is not a character of chat {chat.id} ({who})")

    def _unsaved_user_message(self, chat: Chat, path: Sequence[Message], text: str) -> Message:
        """The user message ``send`` would store for ``text``, but not stored."""
        context = self._runner.context(chat, path, "normal")
        return Message(
            id=0,
            chat_id=chat.id,
            parent_id=path[-1].id if path else None,
            role=Role.USER,
            speaker=context.request.persona.name,
            content=self._runner.substitute(text, context),
            created_at=datetime.now(UTC),
            gen_info=GenInfo(),
            extra={},
            active_child_id=None,
            sibling_index=0,
        )

    def _speaker(self, chat_id: int, speaker_id: int | None = None) -> str:
        chat = self._stores.chats.get_chat(chat_id)
        return self._stores.characters.get(speaker_id or chat.character_ids[0]).name

    def _member_id(self, chat: Chat, name: str) -> int | None:
        """In a group chat, the id of the member called ``name`` (None: one-to-one)."""
        group = self._stores.groups.of_chat(chat.id)
        return member_named(self._stores.characters, group, name) if group else None
