"""What every part of the chat page shares: its components and "show this chat".

Handlers return ``{component: value}`` dicts (Gradio leaves the components a dict does
not name untouched), so each one says exactly what it changes.
"""

from __future__ import annotations

import html
from dataclasses import replace
from typing import Any

import gradio as gr

from app.chat.service import ChatService
from app.context import AppContext
from app.errors import ModelNotLoaded, NotFound, ParlorError
from app.storage.types import Chat
from app.ui.render import ChatHtml, Shown, meter_html, status_html
from app.ui.state import ChatReader, Selection

Updates = dict[Any, Any]
#: Dropdown value meaning "no per-chat override".
AUTO = "(auto)"
#: Persona dropdown value meaning "the default persona".
DEFAULT_PERSONA = 0


class ChatBase:
    """Components of the chat page (created by ``ChatPage.render``) and shared helpers."""

    # -- state -------------------------------------------------------------------------
    selection: Any
    remembered: Any
    location: Any
    edit_target: Any
    # -- sidebar -----------------------------------------------------------------------
    character: Any
    new_chat_button: Any
    chat_list: Any
    title_box: Any
    rename_button: Any
    duplicate_button: Any
    trash_button: Any
    trash_list: Any
    restore_button: Any
    search_box: Any
    search_results: Any
    # -- conversation ------------------------------------------------------------------
    header: Any
    meter: Any
    chat_html: Any
    live_html: Any
    status: Any
    edit_group: Any
    edit_box: Any
    edit_save: Any
    edit_swipe: Any
    edit_cancel: Any
    delete_group: Any
    delete_note: Any
    delete_confirm: Any
    delete_cancel: Any
    input_box: Any
    send_button: Any
    stop_button: Any
    regenerate_button: Any
    continue_button: Any
    impersonate_button: Any
    # -- chat settings and prompt ------------------------------------------------------
    note_text: Any
    note_depth: Any
    note_interval: Any
    preset_choice: Any
    template_choice: Any
    persona_choice: Any
    settings_save: Any
    prompt_button: Any
    prompt_accordion: Any
    prompt_info: Any
    prompt_view: Any

    def __init__(self, context: AppContext, chat_html: ChatHtml, reader: ChatReader) -> None:
        self.context = context
        self.html = chat_html
        self.reader = reader

    @property
    def service(self) -> ChatService:
        """The chat service every handler goes through."""
        return self.context.chat

    # -- outputs -----------------------------------------------------------------------

    def screen_outputs(self) -> list[Any]:
        """Every component a chat-page handler may update."""
        return [
            self.selection, self.remembered, self.location, self.edit_target,
            self.character, self.chat_list, self.title_box, self.trash_list,
            self.search_results, self.header, self.chat_html, self.live_html, self.status,
            self.edit_group, self.edit_box, self.delete_group, self.delete_note,
            self.input_box, self.note_text, self.note_depth, self.note_interval,
            self.preset_choice, self.template_choice, self.persona_choice,
        ]  # fmt: skip

    def error(self, exc: ParlorError) -> Updates:
        """Show ``exc`` on the status line."""
        return {self.status: status_html(str(exc), error=True)}

    # -- resolving and showing a selection ---------------------------------------------

    def resolve(self, wanted: Selection) -> Selection:
        """The selection that can be shown: existing ids, defaults where missing."""
        stores = self.context.stores
        characters = {c.id for c in stores.characters.list_characters()}
        chat = self._live_chat(wanted.chat_id, characters)
        if chat is not None:
            return Selection(chat.character_ids[0], chat.id)
        character_id = wanted.character_id if wanted.character_id in characters else None
        if character_id is not None:
            chats = stores.chats.list_chats(character_id)
            return Selection(character_id, chats[0].id if chats else None)
        recent = [c for c in stores.chats.list_chats() if c.character_ids]
        if recent and recent[0].character_ids[0] in characters:
            return Selection(recent[0].character_ids[0], recent[0].id)
        return Selection(min(characters) if characters else None, None)

    def _live_chat(self, chat_id: int | None, characters: set[int]) -> Chat | None:
        """The chat, unless it is trashed, gone, or its character is."""
        if chat_id is None:
            return None
        try:
            chat = self.context.stores.chats.get_chat(chat_id)
        except NotFound:
            return None
        if chat.deleted_at is not None or not chat.character_ids:
            return None
        return chat if chat.character_ids[0] in characters else None

    def screen(
        self,
        wanted: Selection,
        prev: Selection | None = None,
        *,
        status: str = "",
        failed: bool = False,
        earlier: int = 0,
    ) -> Updates:
        """Everything on the chat page for ``wanted`` (after :meth:`resolve`).

        ``prev`` is the selection the browser had, whose chat pane is patched rather than
        redrawn when it shows the same chat; ``earlier`` adds that many older messages.
        """
        sel = self.resolve(wanted)
        chat_updates, shown = self.chat_updates(sel, prev.shown if prev else None, earlier)
        sel = replace(sel, shown=shown)
        updates: Updates = {
            self.selection: sel,
            self.remembered: sel.to_json(),
            self.location: sel.query(),
            self.character: gr.update(choices=self.character_choices(), value=sel.character_id),
            self.chat_list: gr.update(choices=self.chat_choices(sel), value=sel.chat_id),
            self.live_html: "",
            self.edit_group: gr.update(visible=False),
            self.delete_group: gr.update(visible=False),
            self.edit_target: None,
            self.status: status_html(status, error=failed),
        }
        updates.update(chat_updates)
        return updates

    def chat_updates(
        self, sel: Selection, before: Shown | None, earlier: int = 0
    ) -> tuple[Updates, Shown]:
        """The conversation, header, title and per-chat settings of ``sel``'s chat."""
        if sel.chat_id is None:
            hint = (
                "Pick a character and start a chat."
                if sel.character_id
                else ("Import or create a character on the Characters tab.")
            )
            patch, shown = self.html.notice(hint)
            updates: Updates = {
                self.chat_html: patch,
                self.header: '<div class="chat-header">No chat open</div>',
                self.title_box: "",
            }
            return updates, shown
        view = self.service.view(sel.chat_id)
        names = self.reader.names(view.chat)
        patch, shown = self.html.patch(view, names, before, earlier=earlier)
        updates = {
            self.chat_html: patch,
            self.header: (
                f'<div class="chat-header"><span class="char-name">{html.escape(names.char)}'
                f'</span> · <span class="chat-title">{html.escape(view.chat.title)}</span></div>'
            ),
            self.title_box: view.chat.title,
        }
        updates.update(self.settings_updates(view.chat))
        return updates, shown

    def settings_updates(self, chat: Chat) -> Updates:
        """The author's note and override fields from the chat's metadata."""
        meta = chat.metadata
        note = meta.get("author_note") if isinstance(meta.get("author_note"), dict) else {}
        assert isinstance(note, dict)
        presets = [AUTO, *self.context.presets.names()]
        templates = [AUTO, *self.context.formats.names()]
        personas = [("Default persona", DEFAULT_PERSONA)] + [
            (p.name, p.id) for p in self.context.stores.personas.list_personas()
        ]
        preset = str(meta.get("preset") or AUTO)
        template = str(meta.get("template") or AUTO)
        return {
            self.note_text: str(note.get("text", "")),
            self.note_depth: _whole(note.get("depth"), 4),
            self.note_interval: _whole(note.get("interval"), 1),
            self.preset_choice: gr.update(
                choices=presets, value=preset if preset in presets else AUTO
            ),
            self.template_choice: gr.update(
                choices=templates, value=template if template in templates else AUTO
            ),
            self.persona_choice: gr.update(
                choices=personas, value=chat.persona_id or DEFAULT_PERSONA
            ),
        }

    def character_choices(self) -> list[tuple[str, int]]:
        """The character dropdown's entries."""
        return [(c.name, c.id) for c in self.context.stores.characters.list_characters()]

    def chat_choices(self, sel: Selection) -> list[tuple[str, int]]:
        """The chat list of the selected character, most recent first."""
        if sel.character_id is None:
            return []
        chats = self.context.stores.chats.list_chats(sel.character_id)
        return [(f"{c.title} · {c.updated_at:%Y-%m-%d %H:%M}", c.id) for c in chats]

    def meter_for(self, sel: Selection) -> str:
        """The token meter for the next reply in ``sel``'s chat."""
        if sel.chat_id is None:
            return meter_html(None, None)
        try:
            prompt = self.service.prompt(sel.chat_id)
            n_ctx = self.context.models.current().info.n_ctx
        except ModelNotLoaded:
            return meter_html(None, None, "No model loaded")
        except ParlorError as exc:
            return meter_html(None, None, f"Context: {exc}")
        return meter_html(prompt.n_tokens, n_ctx)


def _whole(value: object, default: int) -> int:
    """A stored number as an int (``default`` for anything else)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        return int(value)
    except ValueError:
        return default
