"""Chat-page handlers that do not generate: open, list, rename, trash, search, settings."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from app.errors import ParlorError
from app.ui.chat_base import AUTO, ChatBase, Updates
from app.ui.render import status_html
from app.ui.state import Selection


class ChatNavigation(ChatBase):
    """Opening and managing chats; every handler re-reads what it shows from the stores."""

    def on_load(self, remembered: Any, request: gr.Request) -> Updates:
        """First paint: the URL's selection, else this browser's last one, else the newest."""
        wanted = Selection.from_query(dict(request.query_params) if request else {})
        if wanted.empty:
            wanted = Selection.from_json(remembered)
        updates = self.screen(wanted)
        updates.update(self.trash_updates())
        return updates

    def refresh(self, sel: Selection) -> Updates:
        """Re-read everything (when the Chat tab is shown again).

        Gradio also selects the tab while the page first loads; with nothing chosen yet
        that is left to :meth:`on_load`, which knows the URL's chat.
        """
        if sel.character_id is None and sel.chat_id is None:
            return {}
        try:
            updates = self.screen(sel)
        except ParlorError as exc:
            return self.error(exc)
        updates.pop(self.status)
        updates.update(self.trash_updates())
        return updates

    def pick_character(self, character_id: int | None, sel: Selection) -> Updates:
        """Show the character's most recent chat, or start one with its greeting."""
        if character_id is None:
            return self.screen(sel, sel)
        try:
            chats = self.context.stores.chats.list_chats(character_id)
            chat_id = chats[0].id if chats else self.service.new_chat(character_id).id
            return self.screen(Selection(character_id, chat_id), sel)
        except ParlorError as exc:
            return self.error(exc)

    def new_chat(self, sel: Selection) -> Updates:
        """A new chat with the selected character, opening with its greeting."""
        if sel.character_id is None:
            return {self.status: status_html("Pick a character first.", error=True)}
        try:
            chat = self.service.new_chat(sel.character_id)
            return self.screen(
                Selection(sel.character_id, chat.id), sel, status="New chat started."
            )
        except ParlorError as exc:
            return self.error(exc)

    def open_chat(self, chat_id: int | None, sel: Selection) -> Updates:
        """Show another chat (from the list or a search result)."""
        if chat_id is None:
            return {}
        try:
            return self.screen(Selection(None, int(chat_id)), sel)
        except ParlorError as exc:
            return self.error(exc)

    def rename(self, title: str, sel: Selection) -> Updates:
        """Give the open chat a new title."""
        if sel.chat_id is None:
            return {}
        try:
            self.context.stores.chats.rename(sel.chat_id, title.strip())
            return self.screen(sel, sel, status="Chat renamed.")
        except ParlorError as exc:
            return self.error(exc)

    def duplicate(self, sel: Selection) -> Updates:
        """Copy the open chat with all its branches and swipes, and open the copy."""
        if sel.chat_id is None:
            return {}
        try:
            copy = self.context.stores.chats.duplicate(sel.chat_id)
            return self.screen(Selection(sel.character_id, copy.id), sel, status="Chat duplicated.")
        except ParlorError as exc:
            return self.error(exc)

    def trash(self, sel: Selection) -> Updates:
        """Move the open chat to the trash and show the character's next chat."""
        if sel.chat_id is None:
            return {}
        try:
            chat = self.context.stores.chats.trash(sel.chat_id)
            updates = self.screen(
                Selection(sel.character_id, None),
                status=f"“{chat.title}” moved to the trash (restore it from Trash).",
            )
        except ParlorError as exc:
            return self.error(exc)
        updates.update(self.trash_updates())
        return updates

    def restore(self, chat_id: int | None, sel: Selection) -> Updates:
        """Bring a chat back from the trash and open it."""
        if chat_id is None:
            return {self.status: status_html("Pick a chat in the trash first.", error=True)}
        try:
            chat = self.context.stores.chats.restore(int(chat_id))
            updates = self.screen(Selection(None, chat.id), sel, status=f"“{chat.title}” restored.")
        except ParlorError as exc:
            return self.error(exc)
        updates.update(self.trash_updates())
        return updates

    def trash_updates(self) -> Updates:
        """The trash list."""
        chats = self.context.stores.chats.list_trash()
        names = {c.id: c.name for c in self.context.stores.characters.list_characters()}
        choices = [
            (f"{c.title} ({names.get(c.character_ids[0], '?') if c.character_ids else '?'})", c.id)
            for c in chats
        ]
        return {self.trash_list: gr.update(choices=choices, value=None)}

    def search(self, query: str, sel: Selection) -> Updates:
        """Full-text search over the selected character's chats."""
        if not query.strip():
            return {self.search_results: gr.update(choices=[], value=None)}
        try:
            hits = self.context.stores.chats.search(query, character_id=sel.character_id)
        except ParlorError as exc:
            return self.error(exc)
        seen: dict[int, str] = {}
        for hit in hits:
            seen.setdefault(hit.chat_id, f"{hit.chat_title}: {hit.snippet[:120]}")
        choices = [(label, chat_id) for chat_id, label in seen.items()]
        note = f"{len(hits)} matching messages in {len(seen)} chats." if hits else "No matches."
        return {
            self.search_results: gr.update(choices=choices, value=None),
            self.status: status_html(note),
        }

    def save_settings(
        self,
        note: str,
        depth: float | None,
        interval: float | None,
        preset: str | None,
        template: str | None,
        persona: int | None,
        sel: Selection,
    ) -> Updates:
        """Store the author's note and the per-chat preset, template and persona."""
        if sel.chat_id is None:
            return {}
        chats = self.context.stores.chats
        try:
            meta = dict(chats.get_chat(sel.chat_id).metadata)
            if note.strip():
                meta["author_note"] = {
                    "text": note,
                    "depth": max(0, int(depth or 0)),
                    "interval": max(1, int(interval or 1)),
                }
            else:
                meta.pop("author_note", None)
            for key, value in (("preset", preset), ("template", template)):
                if value and value != AUTO:
                    meta[key] = value
                else:
                    meta.pop(key, None)
            chats.update_metadata(sel.chat_id, meta)
            chats.set_persona(sel.chat_id, int(persona) if persona else None)
            return self.screen(sel, sel, status="Chat settings saved.")
        except ParlorError as exc:
            return self.error(exc)

    def update_meter(self, sel: Selection) -> str:
        """The token meter (run after the chat is on screen: building a prompt takes a moment)."""
        return self.meter_for(sel)

    def show_prompt(self, sel: Selection) -> Updates:
        """The exact prompt the next reply would get."""
        if sel.chat_id is None:
            return {self.prompt_view: "", self.prompt_info: ""}
        try:
            prompt = self.service.prompt(sel.chat_id)
        except ParlorError as exc:
            return {self.prompt_info: status_html(str(exc), error=True)}
        info = (
            f"{prompt.n_tokens:,} tokens · format {prompt.format_name} · "
            f"{prompt.messages_in_context} messages and {prompt.examples_in_context} examples "
            f"in context"
        )
        return {
            self.prompt_view: prompt.text,
            self.prompt_info: f'<div class="status">{html.escape(info)}</div>',
            self.prompt_accordion: gr.update(open=True),
        }
