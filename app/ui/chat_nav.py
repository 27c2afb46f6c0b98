"""Chat-page handlers that do not generate: open, list, rename, trash, search, settings.

Handlers call the chat service and end with the screen :class:`ChatScreen` builds; a
``ParlorError`` is turned into a status line by the page's error boundary.
"""

from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from app.chat.chatfiles import ChatFiles
from app.chat.imports import ImportResult
from app.chat.memory.service import MemoryService
from app.chat.service import ChatService
from app.errors import ParlorError
from app.storage.types import AuthorNoteSettings, ChatSettings
from app.ui.chat_parts import AUTO
from app.ui.chat_screen import ChatScreen, Focus, Updates
from app.ui.reasoning_fields import model_choice, reasoning_settings
from app.ui.render import prompt_parts_html, status_html, text_list_html
from app.ui.state import Selection
from app.ui.uploads import UploadGuard, import_uploads, report_lines


class ChatNavigation:
    """Opening and managing chats; every handler re-reads what it shows."""

    def __init__(
        self,
        service: ChatService,
        chat_files: ChatFiles,
        screen: ChatScreen,
        uploads: UploadGuard,
        memory: MemoryService,
    ) -> None:
        self.service = service
        self.memory = memory
        self.chat_files = chat_files
        self.screen = screen
        self.parts = screen.parts
        self.uploads = uploads

    def on_load(self, remembered: Any, request: gr.Request) -> Updates:
        """First paint: the URL's selection, else this browser's last one, else the newest."""
        wanted = Selection.from_query(dict(request.query_params) if request else {})
        if wanted.empty:
            wanted = Selection.from_json(remembered)
        updates = self.screen.show(wanted)
        updates.update(self.screen.trash_updates())
        return updates

    def refresh(self, sel: Selection) -> Updates:
        """Re-read everything (when the Chat tab is shown again).

        Gradio also selects the tab while the page first loads; with nothing chosen yet
        that is left to :meth:`on_load`, which knows the URL's chat.
        """
        if sel.empty:
            return {}
        updates = self.screen.show(sel, sel)
        updates.update(self.screen.trash_updates())
        return updates

    def pick_character(self, character_id: int | None, sel: Selection) -> Updates:
        """Show the character's most recent chat, or start one with its greeting."""
        if character_id is None:
            return {}
        return self.screen.show(Selection(int(character_id), None), sel)

    def new_chat(self, sel: Selection) -> Updates:
        """A new chat with the selected character, opening with its greeting."""
        if sel.character_id is None:
            return self.screen.status("Pick a character first.", error=True)
        chat, created = self.service.start_chat(sel.character_id)
        note = (
            "New chat started." if created else "This chat is still new: write the first message."
        )
        return self.screen.show(Selection(sel.character_id, chat.id), sel, status=note)

    def open_chat(self, chat_id: int | None, sel: Selection) -> Updates:
        """Show another chat of the list."""
        if chat_id is None:
            return {}
        return self.screen.show(Selection(None, int(chat_id)), sel)

    def open_hit(self, message_id: int | None, sel: Selection) -> Updates:
        """Open a search hit: its chat, with the message shown, in view and highlighted."""
        if message_id is None:
            return {}
        message = self.service.reveal(int(message_id))
        return self.screen.show(Selection(None, message.chat_id), sel, focus=Focus(message.id))

    def rename(self, title: str, sel: Selection) -> Updates:
        """Give the open chat a new title."""
        if sel.chat_id is None:
            return {}
        self.service.rename(sel.chat_id, title)
        return self.screen.show(sel, sel, status="Chat renamed.")

    def duplicate(self, sel: Selection) -> Updates:
        """Copy the open chat with all its branches and swipes, and open the copy."""
        if sel.chat_id is None:
            return {}
        copy = self.service.duplicate(sel.chat_id)
        return self.screen.show(
            Selection(sel.character_id, copy.id), sel, status="Chat duplicated."
        )

    def trash(self, sel: Selection) -> Updates:
        """Move the open chat to the trash and show the character's next chat."""
        if sel.chat_id is None:
            return {}
        chat = self.service.trash(sel.chat_id)
        updates = self.screen.show(
            Selection(sel.character_id, None),
            status=f"“{chat.title}” moved to the trash (restore it from Trash).",
        )
        updates.update(self.screen.trash_updates())
        return updates

    def restore(self, chat_id: int | None, sel: Selection) -> Updates:
        """Bring a chat back from the trash and open it."""
        if chat_id is None:
            return self.screen.status("Pick a chat in the trash first.", error=True)
        chat = self.service.restore(int(chat_id))
        updates = self.screen.show(
            Selection(None, chat.id), sel, status=f"“{chat.title}” restored."
        )
        updates.update(self.screen.trash_updates())
        return updates

    def search(self, query: str, scope: str | None, sel: Selection) -> Updates:
        """Full-text search over all chats, or the selected character's."""
        results = self.parts.sidebar.search_results
        if not query.strip():
            return {results: gr.update(choices=[], value=None)}
        character_id = sel.character_id if scope == "This character" else None
        hits = self.service.search(query, character_id=character_id)
        choices = [(f"{hit.chat_title} · {hit.speaker}: {hit.snippet[:120]}", hit.message_id)
                   for hit in hits]  # fmt: skip
        chats = len({hit.chat_id for hit in hits})
        note = f"{len(hits)} matching messages in {chats} chats." if hits else "No matches."
        return {results: gr.update(choices=choices, value=None), **self.screen.status(note)}

    def save_settings(self, *values: Any) -> Updates:
        """Store the author's note, the per-chat preset, format, persona and reasoning."""
        text, depth, interval, position, role, preset, fmt, persona, *rest = values
        *reasoning, sel = rest
        if sel.chat_id is None:
            return {}
        stored = self.service.chat(sel.chat_id).settings
        note = AuthorNoteSettings(
            text=str(text or "") if str(text or "").strip() else "",
            depth=max(0, int(depth or 0)),
            interval=max(0, int(interval if interval is not None else 1)),
            position=position or "in_chat",
            role=role or "system",
        )
        settings = ChatSettings(
            author_note=note,
            preset=preset if preset and preset != AUTO else None,
            format=fmt if fmt and fmt != AUTO else None,
            reasoning=reasoning_settings(reasoning) if reasoning else stored.reasoning,
            other=stored.other,
        )
        model = model_choice(reasoning, self.service.setting_choices()) if reasoning else None
        self.service.save_settings(
            sel.chat_id, settings, persona_id=int(persona) or None, model_reasoning=model
        )
        return self.screen.show(sel, sel, status="Chat settings saved.")

    def update_meter(self, sel: Selection) -> Updates:
        """The token meter (run after the chat is on screen: building a prompt takes a moment)."""
        return {self.parts.conversation.meter: self.screen.meter(sel)}

    def show_prompt(self, sel: Selection) -> Updates:
        """The exact prompt the next reply would get, and its parts with token counts."""
        panel = self.parts.prompt
        if sel.chat_id is None:
            return {panel.text: "", panel.info: "", panel.breakdown: ""}
        try:
            prompt = self.service.prompt(sel.chat_id)
            parts = self.service.prompt_parts(prompt)
        except ParlorError as exc:
            return {
                panel.info: status_html(str(exc), error=True),
                panel.accordion: gr.update(open=True),
            }
        info = (
            f"{prompt.n_tokens:,} tokens · format {prompt.format_name} · "
            f"{prompt.messages_in_context} messages and {prompt.examples_in_context} examples "
            f"in context"
        )
        return {
            panel.text: prompt.text,
            panel.info: f'<div class="status">{html.escape(info)}</div>',
            panel.breakdown: prompt_parts_html(parts),
            panel.accordion: gr.update(open=True),
        }

    def import_chats(
        self,
        files: list[Any] | None,
        sel: Selection,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented pattern
    ) -> Updates:
        """Import SillyTavern chat files for the selected character, one line per file;
        each chat is embedded for long-term memory at once, with a progress bar."""
        report = self.parts.sidebar.import_report
        if not files:
            return {}
        if sel.character_id is None:
            return self.screen.status("Pick a character first.", error=True)
        character = str(sel.character_id)

        def import_one(path: Path) -> ImportResult:
            chat = self.chat_files.import_chat(path, character)
            self.memory.index_imported(
                chat.id,
                lambda done, total: progress(
                    (done, total), desc=f"Embedding {chat.title} for memory", unit="messages"
                ),
            )
            return ImportResult(path, "chat", chat.title)

        results = import_uploads(self.uploads, files, import_one)
        titles = [r.name for r in results if r.ok]
        updates = self.screen.show(sel, sel, status=f"Imported “{titles[-1]}”." if titles else "")
        updates[report] = text_list_html(report_lines(results), title="Chat import")
        updates[self.parts.sidebar.import_files] = None
        return updates

    def export_chat(self, sel: Selection) -> Updates:
        """The open chat as a SillyTavern JSONL file to download."""
        if sel.chat_id is None:
            return self.screen.status("Open a chat first.", error=True)
        folder = Path(tempfile.mkdtemp(prefix="parlor-export-"))
        path = self.chat_files.export_chat(sel.chat_id, folder)
        return {
            self.parts.sidebar.export_file: gr.update(value=str(path), visible=True),
            **self.screen.status(f"Exported {path.name}."),
        }
