"""The chat page: chat list, conversation, message box, and the events between them.

Per-browser state (which chat is open, which message is being edited) lives in
``gr.State``; the open chat is mirrored into the URL (``?character=..&chat=..``) and the
browser's storage so a reload shows the same screen, re-read from the database.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.ui.assets import CHAT_ACTIONS_JS, CHAT_TEMPLATE, LOCATION_JS
from app.ui.chat_nav import ChatNavigation
from app.ui.chat_stream import ChatStreaming
from app.ui.state import Selection

#: Key of the browser-storage entry remembering the last open chat.
STORAGE_KEY = "parlor-selection"
#: Not a credential: BrowserState merely needs a stable key so the entry survives restarts.
STORAGE_SECRET = "parlor-selection-v1"


class ChatPage(ChatStreaming, ChatNavigation):
    """Components and event wiring of the chat page."""

    def render(self) -> None:
        """Create the components inside the current ``gr.Blocks``/``gr.Tab``."""
        self.selection = gr.State(Selection())
        self.edit_target = gr.State(None)
        self.remembered = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=STORAGE_SECRET)
        self.location = gr.Textbox(visible="hidden", elem_id="parlor-location")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=260):
                self._render_sidebar()
            with gr.Column(scale=4):
                self._render_conversation()
        self._setup_events()

    def _render_sidebar(self) -> None:
        self.character = gr.Dropdown(
            label="Character", choices=[], elem_id="parlor-character", interactive=True
        )
        self.new_chat_button = gr.Button("New chat", elem_id="parlor-new-chat", size="sm")
        self.chat_list = gr.Radio(label="Chats", choices=[], elem_id="parlor-chat-list")
        with gr.Accordion("Manage chat", open=False, elem_id="parlor-manage"):
            self.title_box = gr.Textbox(label="Title", elem_id="parlor-title", max_lines=1)
            with gr.Row():
                self.rename_button = gr.Button("Rename", size="sm", elem_id="parlor-rename")
                self.duplicate_button = gr.Button(
                    "Duplicate", size="sm", elem_id="parlor-duplicate"
                )
            self.trash_button = gr.Button(
                "Move to trash", size="sm", variant="stop", elem_id="parlor-trash"
            )
        with gr.Accordion("Search chats", open=False, elem_id="parlor-search"):
            self.search_box = gr.Textbox(
                label="Search",
                max_lines=1,
                elem_id="parlor-search-box",
                placeholder="Words in this character's chats",
            )
            self.search_results = gr.Radio(label="Results", choices=[], elem_id="parlor-hits")
        with gr.Accordion("Trash", open=False, elem_id="parlor-trash-box"):
            self.trash_list = gr.Radio(label="Trashed chats", choices=[], elem_id="parlor-trashed")
            self.restore_button = gr.Button("Restore", size="sm", elem_id="parlor-restore")

    def _render_conversation(self) -> None:
        with gr.Row(equal_height=True):
            self.header = gr.HTML(elem_id="parlor-header")
            self.meter = gr.HTML(elem_id="parlor-meter")
        with gr.Column(elem_id="parlor-scroll"):
            self.chat_html = gr.HTML(
                None,
                html_template=CHAT_TEMPLATE,
                js_on_load=CHAT_ACTIONS_JS,
                elem_id="parlor-chat",
            )
            self.live_html = gr.HTML(elem_id="parlor-live")
        with gr.Group(visible=False, elem_id="parlor-edit") as self.edit_group:
            self.edit_box = gr.Textbox(
                label="Edit message", lines=4, max_lines=20, elem_id="parlor-edit-box"
            )
            with gr.Row():
                self.edit_save = gr.Button("Save", variant="primary", elem_id="parlor-edit-save")
                self.edit_swipe = gr.Button("Save as new swipe", elem_id="parlor-edit-swipe")
                self.edit_cancel = gr.Button("Cancel", elem_id="parlor-edit-cancel")
        with gr.Group(visible=False, elem_id="parlor-delete") as self.delete_group:
            self.delete_note = gr.HTML()
            with gr.Row():
                self.delete_confirm = gr.Button(
                    "Delete", variant="stop", elem_id="parlor-delete-confirm"
                )
                self.delete_cancel = gr.Button("Cancel", elem_id="parlor-delete-cancel")
        with gr.Row(equal_height=True):
            self.input_box = gr.Textbox(
                placeholder="Message (Enter sends, Shift+Enter for a new line)",
                show_label=False,
                lines=1,
                max_lines=10,
                scale=8,
                elem_id="parlor-input",
            )
            self.send_button = gr.Button("Send", variant="primary", scale=1, elem_id="parlor-send")
            self.stop_button = gr.Button("Stop", variant="stop", scale=1, elem_id="parlor-stop")
        with gr.Row():
            self.regenerate_button = gr.Button("Regenerate", size="sm", elem_id="parlor-regen")
            self.continue_button = gr.Button("Continue", size="sm", elem_id="parlor-continue")
            self.impersonate_button = gr.Button(
                "Impersonate", size="sm", elem_id="parlor-impersonate"
            )
            self.prompt_button = gr.Button("Show prompt", size="sm", elem_id="parlor-show-prompt")
        self.status = gr.HTML(elem_id="parlor-status")
        self._render_settings()

    def _render_settings(self) -> None:
        with gr.Accordion("Author's note and chat settings", open=False, elem_id="parlor-note"):
            self.note_text = gr.Textbox(
                label="Author's note",
                lines=2,
                elem_id="parlor-note-text",
                placeholder="Inserted into the prompt near the end, e.g. [Style: terse]",
            )
            with gr.Row():
                self.note_depth = gr.Number(label="Depth", value=4, precision=0, minimum=0)
                self.note_interval = gr.Number(
                    label="Every N replies", value=1, precision=0, minimum=1
                )
            with gr.Row():
                self.preset_choice = gr.Dropdown(label="Preset", elem_id="parlor-chat-preset")
                self.template_choice = gr.Dropdown(
                    label="Prompt format", elem_id="parlor-chat-template"
                )
                self.persona_choice = gr.Dropdown(label="Persona", elem_id="parlor-chat-persona")
            self.settings_save = gr.Button("Save chat settings", elem_id="parlor-note-save")
        with gr.Accordion("Prompt", open=False, elem_id="parlor-prompt") as self.prompt_accordion:
            self.prompt_info = gr.HTML()
            self.prompt_view = gr.Textbox(
                label="Exact prompt of the next reply",
                lines=12,
                max_lines=40,
                interactive=False,
                elem_id="parlor-prompt-text",
            )

    # -- events --------------------------------------------------------------------------

    def _setup_events(self) -> None:
        quick: dict[str, Any] = {"outputs": self.screen_outputs(), "show_progress": "hidden"}
        generate: dict[str, Any] = {
            **quick, "concurrency_limit": 1, "concurrency_id": "generation",
        }  # fmt: skip
        meter: dict[str, Any] = {
            "fn": self.update_meter, "inputs": [self.selection], "outputs": [self.meter],
            "show_progress": "hidden",
        }  # fmt: skip
        self.location.change(None, [self.location], None, js=LOCATION_JS)
        self._setup_navigation(quick, meter)
        self._setup_generation(generate, meter)
        for button in (self.edit_cancel, self.delete_cancel):
            button.click(self.cancel, [self.selection], **quick)
        self.chat_html.click(self.show_earlier, [self.selection], **quick)
        self.stop_button.click(self.stop, None, None, queue=False, show_progress="hidden")

    def _setup_navigation(self, quick: dict[str, Any], meter: dict[str, Any]) -> None:
        """Events that change which chat is shown, or its settings (no generation)."""
        sel = self.selection
        self.character.input(self.pick_character, [self.character, sel], **quick).then(**meter)
        self.new_chat_button.click(self.new_chat, [sel], **quick).then(**meter)
        self.chat_list.input(self.open_chat, [self.chat_list, sel], **quick).then(**meter)
        self.search_results.input(self.open_chat, [self.search_results, sel], **quick).then(**meter)
        self.rename_button.click(self.rename, [self.title_box, sel], **quick)
        self.duplicate_button.click(self.duplicate, [sel], **quick).then(**meter)
        self.trash_button.click(self.trash, [sel], **quick).then(**meter)
        self.restore_button.click(self.restore, [self.trash_list, sel], **quick).then(**meter)
        self.search_box.submit(self.search, [self.search_box, sel], **quick)
        self.settings_save.click(
            self.save_settings,
            [self.note_text, self.note_depth, self.note_interval, self.preset_choice,
             self.template_choice, self.persona_choice, sel],
            **quick,
        ).then(**meter)  # fmt: skip
        self.prompt_button.click(
            self.show_prompt, [sel], [self.prompt_view, self.prompt_info, self.prompt_accordion]
        )

    def _setup_generation(self, generate: dict[str, Any], meter: dict[str, Any]) -> None:
        """Events that generate or change messages: one at a time, in the generation queue."""
        sel = self.selection
        for trigger in (self.input_box.submit, self.send_button.click):
            trigger(self.send, [self.input_box, sel], **generate).then(**meter)
        self.regenerate_button.click(self.regenerate, [sel], **generate).then(**meter)
        self.continue_button.click(self.continue_reply, [sel], **generate).then(**meter)
        self.impersonate_button.click(self.impersonate, [sel], **generate)
        self.chat_html.click(self.act, [sel], trigger_mode="multiple", **generate).then(**meter)
        edit = [self.edit_box, self.edit_target, sel]
        self.edit_save.click(self.save_edit, edit, **generate).then(**meter)
        self.edit_swipe.click(self.save_edit_as_swipe, edit, **generate).then(**meter)
        self.delete_confirm.click(self.confirm_delete, [self.edit_target, sel], **generate).then(
            **meter
        )

    def wire_load(self, blocks: gr.Blocks) -> None:
        """Paint the page when a browser opens it."""
        blocks.load(
            self.on_load, [self.remembered], self.screen_outputs(), show_progress="hidden"
        ).then(self.update_meter, [self.selection], [self.meter], show_progress="hidden")
