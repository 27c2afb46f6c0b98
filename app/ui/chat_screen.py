"""What the chat page shows for a selection: resolved from the chat service, as updates.

The database is the only source of truth; :class:`ChatScreen` turns "this browser wants
character C / chat K" into the updates that paint the sidebar, the conversation and the
chat settings.  Every handler ends by asking it for the screen it should show.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from app.chat.service import ChatService
from app.chat.views import ChatView, Participant
from app.errors import ModelNotLoaded, NotFound, ParlorError
from app.storage.types import Chat
from app.ui.chat_parts import AUTO, ChatParts
from app.ui.reasoning_fields import reasoning_updates
from app.ui.render import ChatHtml, ChatNames, Shown, meter_html, status_html
from app.ui.state import Selection, Thumbnails

Updates = dict[Any, Any]
#: Persona dropdown value meaning "the default persona".
DEFAULT_PERSONA = 0


@dataclass(frozen=True)
class Focus:
    """A message to bring into view and highlight (a search hit)."""

    message_id: int


class ChatScreen:
    """Builds the chat page's updates from the chat service."""

    def __init__(
        self, service: ChatService, parts: ChatParts, chat_html: ChatHtml, thumbnails: Thumbnails
    ) -> None:
        self.service = service
        self.parts = parts
        self.html = chat_html
        self.thumbnails = thumbnails

    # -- resolving a selection ---------------------------------------------------------

    def resolve(self, wanted: Selection) -> Selection:
        """The selection that can be shown: existing ids, else a sensible chat to open.

        A character with no chat gets one with its greeting, so a new user can type at
        once; nothing else is created.
        """
        characters = {c.id for c in self.service.characters()}
        chat = self._live_chat(wanted.chat_id, characters)
        if chat is not None:
            return Selection(chat.character_ids[0], chat.id)
        character_id = wanted.character_id if wanted.character_id in characters else None
        if character_id is None:
            recent = [c for c in self.service.recent_chats() if c.character_ids]
            if recent and recent[0].character_ids[0] in characters:
                return Selection(recent[0].character_ids[0], recent[0].id)
            character_id = min(characters) if characters else None
        if character_id is None:
            return Selection()
        return Selection(character_id, self.service.open_character(character_id).id)

    def _live_chat(self, chat_id: int | None, characters: set[int]) -> Chat | None:
        """The chat, unless it is trashed, gone, or its character is."""
        if chat_id is None:
            return None
        try:
            chat = self.service.chat(chat_id)
        except NotFound:
            return None
        if chat.deleted_at is not None or not chat.character_ids:
            return None
        return chat if chat.character_ids[0] in characters else None

    # -- the whole screen --------------------------------------------------------------

    def show(
        self,
        wanted: Selection,
        prev: Selection | None = None,
        *,
        status: str = "",
        failed: bool = False,
        earlier: int = 0,
        focus: Focus | None = None,
    ) -> Updates:
        """Everything on the chat page for ``wanted``.

        ``prev`` is the selection the browser had: its chat pane is patched rather than
        redrawn when it shows the same chat.  ``earlier`` adds that many older messages;
        ``focus`` makes sure a message is on the page and scrolls it into view.
        """
        p = self.parts
        sel = self.resolve(wanted)
        view = self.service.view(sel.chat_id) if sel.chat_id is not None else None
        chat_updates, shown = self._conversation(sel, view, prev, earlier, focus)
        sel = replace(sel, shown=shown)
        notes = [status, *(view.warnings if view else ())]
        updates: Updates = {
            p.state.selection: sel,
            p.state.remembered: sel.to_json(),
            p.state.location: sel.query(),
            p.state.edit_target: None,
            p.sidebar.character: gr.update(
                choices=self.character_choices(), value=sel.character_id
            ),
            p.sidebar.chat_list: gr.update(choices=self.chat_choices(sel), value=sel.chat_id),
            p.conversation.live_html: "",
            p.conversation.status: status_html(" ".join(n for n in notes if n), error=failed),
            p.editor.edit_group: gr.update(visible=False),
            p.editor.delete_group: gr.update(visible=False),
            p.reasoning.group: gr.update(visible=False),
        }
        updates.update(chat_updates)
        return updates

    def _conversation(
        self,
        sel: Selection,
        view: ChatView | None,
        prev: Selection | None,
        earlier: int,
        focus: Focus | None,
    ) -> tuple[Updates, Shown]:
        p = self.parts
        if view is None:
            patch, shown = self.html.notice("Import or create a character on the Characters tab.")
            return {
                p.conversation.chat_html: patch,
                p.conversation.header: '<div class="chat-header">No chat open</div>',
                p.sidebar.title: "",
            }, shown
        names = self.names(view)
        before = prev.shown if prev else None
        if focus is not None:
            patch, shown = self.html.focused(view, names, focus.message_id)
        else:
            patch, shown = self.html.patch(view, names, before, earlier=earlier)
        updates: Updates = {
            p.conversation.chat_html: patch,
            p.conversation.header: (
                f'<div class="chat-header"><span class="char-name">'
                f"{html.escape(view.group_name or names.char)}</span> · "
                f'<span class="chat-title">{html.escape(view.chat.title)}</span></div>'
            ),
            p.sidebar.title: view.chat.title,
        }
        updates.update(self.settings_updates(view.chat))
        return updates, shown

    def names(self, view: ChatView) -> ChatNames:
        """Who is who in the chat, with avatar thumbnails."""
        character = view.character or Participant("character", None, view.character_name)
        user = view.user or Participant("persona", None, "User")
        members: tuple[tuple[str, str], ...] = ()
        if len(view.chat.character_ids) > 1:
            everyone = self.service.members(view.chat.id)
            members = tuple((who.name, self._thumbnail(who)) for who in everyone)
        return ChatNames(
            character.name, user.name, self._thumbnail(character), self._thumbnail(user),
            members,
        )  # fmt: skip

    def _thumbnail(self, who: Participant) -> str:
        if who.id is None or who.avatar_stamp is None:
            return ""
        return self.thumbnails.get(
            who.kind, who.id, who.avatar_stamp, lambda: self.service.avatar(who)
        )

    def settings_updates(self, chat: Chat) -> Updates:
        """The author's note and override fields from the chat's settings."""
        st = self.parts.settings
        settings = chat.settings
        note = settings.author_note
        choices = self.service.setting_choices()
        presets = [AUTO, *choices.presets]
        formats = [AUTO, *choices.formats]
        personas = [("Default persona", DEFAULT_PERSONA), *choices.personas]
        return {
            st.note_text: note.text,
            st.note_depth: note.depth,
            st.note_interval: note.interval,
            st.note_position: note.position,
            st.note_role: note.role,
            st.preset: gr.update(
                choices=presets, value=settings.preset if settings.preset in presets else AUTO
            ),
            st.format: gr.update(
                choices=formats, value=settings.format if settings.format in formats else AUTO
            ),
            st.persona: gr.update(choices=personas, value=chat.persona_id or DEFAULT_PERSONA),
            **reasoning_updates(st.reasoning, settings.reasoning, choices),
        }

    def character_choices(self) -> list[tuple[str, int]]:
        """The character dropdown's entries."""
        return [(c.name, c.id) for c in self.service.characters()]

    def chat_choices(self, sel: Selection) -> list[tuple[str, int]]:
        """The chat list of the selected character, most recent first."""
        if sel.character_id is None:
            return []
        groups = self.service.group_names()
        return [
            (f"{group_label(groups.get(c.id))}{c.title} · {c.updated_at:%Y-%m-%d %H:%M}", c.id)
            for c in self.service.chats_of(sel.character_id)
        ]

    def trash_updates(self) -> Updates:
        """The trash list."""
        names = {c.id: c.name for c in self.service.characters()}
        groups = self.service.group_names()
        choices = [
            (f"{c.title} ({groups.get(c.id) or _first(names, c.character_ids)})", c.id)
            for c in self.service.trashed_chats()
        ]
        return {self.parts.sidebar.trash_list: gr.update(choices=choices, value=None)}

    def meter(self, sel: Selection) -> str:
        """The token meter for the next reply in ``sel``'s chat."""
        if sel.chat_id is None:
            return meter_html(None, None)
        try:
            use = self.service.context_use(sel.chat_id)
        except ModelNotLoaded:
            return meter_html(None, None, "No model loaded")
        except ParlorError as exc:
            return meter_html(None, None, f"Context: {exc}")
        return meter_html(use.prompt_tokens, use.n_ctx)

    def status(self, text: str, *, error: bool = False) -> Updates:
        """Only the status line."""
        return {self.parts.conversation.status: status_html(text, error=error)}


def group_label(group: str | None) -> str:
    """What a chat list puts before a group chat's title: the group's name."""
    return f"[{group}] " if group else ""


def _first(names: dict[int, str], character_ids: Sequence[int]) -> str:
    """The name of a chat's first character ('?' where it is gone)."""
    return names.get(character_ids[0], "?") if character_ids else "?"
