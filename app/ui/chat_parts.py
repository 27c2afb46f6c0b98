"""The chat page's components, grouped by the part of the page they make up.

Each part is a dataclass of typed Gradio components with a ``render`` that creates them
inside the current Blocks context; the controllers (navigation, streaming) and the page
wiring refer to components through these parts, never through loose attributes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import gradio as gr

from app.ui.assets import CHAT_ACTIONS_JS, CHAT_TEMPLATE
from app.ui.memory_panel import MemoryPanel
from app.ui.state import Selection

#: Key of the browser-storage entry remembering the last open chat.
STORAGE_KEY = "parlor-selection"
#: Not a credential: BrowserState merely needs a stable key so the entry survives restarts.
STORAGE_SECRET = "parlor-selection-v1"
#: Search scopes of the sidebar.
SCOPE_ALL = "All chats"
SCOPE_CHARACTER = "This character"
NOTE_POSITIONS = [
    ("In the chat, at a depth", "in_chat"),
    ("After the story string", "after_story"),
    ("Before the whole prompt", "before_prompt"),
]
NOTE_ROLES = [("System", "system"), ("User", "user"), ("Character", "assistant")]
#: Dropdown value meaning "no per-chat override".
AUTO = "(auto)"


@dataclass
class PageState:
    """Per-browser state: what is shown, and where it is remembered."""

    selection: gr.State
    remembered: gr.BrowserState
    location: gr.Textbox
    edit_target: gr.State
    #: The text of a sent message between "accepted" and "being answered".
    pending: gr.Textbox

    @classmethod
    def render(cls) -> PageState:
        """Create the state components."""
        return cls(
            selection=gr.State(Selection()),
            remembered=gr.BrowserState(None, storage_key=STORAGE_KEY, secret=STORAGE_SECRET),
            location=gr.Textbox(visible="hidden", elem_id="parlor-location"),
            edit_target=gr.State(None),
            pending=gr.Textbox(visible="hidden", elem_id="parlor-pending"),
        )


@dataclass
class Sidebar:
    """The character picker, chat list and chat management."""

    character: gr.Dropdown
    new_chat: gr.Button
    chat_list: gr.Radio
    title: gr.Textbox
    rename: gr.Button
    duplicate: gr.Button
    trash: gr.Button
    export: gr.Button
    export_file: gr.File
    import_files: gr.File
    import_report: gr.HTML
    search_box: gr.Textbox
    search_scope: gr.Radio
    search_results: gr.Radio
    trash_list: gr.Radio
    restore: gr.Button

    @classmethod
    def render(cls) -> Sidebar:
        """Create the sidebar inside the current column."""
        character = gr.Dropdown(
            label="Character", choices=[], elem_id="parlor-character", interactive=True
        )
        new_chat = gr.Button("New chat", elem_id="parlor-new-chat", size="sm")
        chat_list = gr.Radio(label="Chats", choices=[], elem_id="parlor-chat-list")
        with gr.Accordion("Manage chat", open=False, elem_id="parlor-manage"):
            title = gr.Textbox(label="Title", elem_id="parlor-title", max_lines=1)
            with gr.Row():
                rename = gr.Button("Rename", size="sm", elem_id="parlor-rename")
                duplicate = gr.Button("Duplicate", size="sm", elem_id="parlor-duplicate")
            export = gr.Button(
                "Export as SillyTavern JSONL", size="sm", elem_id="parlor-export-chat"
            )
            export_file = gr.File(
                label="Exported chat", visible=False, interactive=False,
                elem_id="parlor-export-file",
            )  # fmt: skip
            trash = gr.Button("Move to trash", size="sm", variant="stop", elem_id="parlor-trash")
            import_files = gr.File(
                label="Import SillyTavern chats (.jsonl) for this character",
                file_count="multiple",
                file_types=[".jsonl"],
                elem_id="parlor-import-chats",
            )
            import_report = gr.HTML(elem_id="parlor-import-chats-report")
        with gr.Accordion("Search chats", open=False, elem_id="parlor-search"):
            search_box = gr.Textbox(
                label="Search", max_lines=1, elem_id="parlor-search-box",
                placeholder="Words in your chats (Enter searches)",
            )  # fmt: skip
            search_scope = gr.Radio(
                [SCOPE_ALL, SCOPE_CHARACTER], value=SCOPE_ALL, show_label=False,
                elem_id="parlor-search-scope",
            )  # fmt: skip
            search_results = gr.Radio(label="Results", choices=[], elem_id="parlor-hits")
        with gr.Accordion("Trash", open=False, elem_id="parlor-trash-box"):
            trash_list = gr.Radio(label="Trashed chats", choices=[], elem_id="parlor-trashed")
            restore = gr.Button("Restore", size="sm", elem_id="parlor-restore")
        return cls(
            character, new_chat, chat_list, title, rename, duplicate, trash, export,
            export_file, import_files, import_report, search_box, search_scope, search_results,
            trash_list, restore,
        )  # fmt: skip


@dataclass
class Conversation:
    """The chat pane, the live pane under it, the message box and the reply buttons."""

    header: gr.HTML
    meter: gr.HTML
    chat_html: gr.HTML
    live_html: gr.HTML
    status: gr.HTML
    input_box: gr.Textbox
    send: gr.Button
    stop: gr.Button
    regenerate: gr.Button
    continue_reply: gr.Button
    impersonate: gr.Button
    show_prompt: gr.Button

    @classmethod
    def render(cls) -> Conversation:
        """Create the conversation inside the current column."""
        with gr.Row(equal_height=True):
            header = gr.HTML(elem_id="parlor-header")
            meter = gr.HTML(elem_id="parlor-meter")
        with gr.Column(elem_id="parlor-scroll"):
            chat_html = gr.HTML(
                None, html_template=CHAT_TEMPLATE, js_on_load=CHAT_ACTIONS_JS,
                elem_id="parlor-chat",
            )  # fmt: skip
            live_html = gr.HTML(elem_id="parlor-live")
        with gr.Row(equal_height=True):
            input_box = gr.Textbox(
                placeholder="Message (Enter sends, Shift+Enter for a new line)",
                show_label=False, lines=1, max_lines=10, scale=8, elem_id="parlor-input",
            )  # fmt: skip
            send = gr.Button("Send", variant="primary", scale=1, elem_id="parlor-send")
            stop = gr.Button("Stop", variant="stop", scale=1, elem_id="parlor-stop", visible=False)
        with gr.Row():
            regenerate = gr.Button("Regenerate", size="sm", elem_id="parlor-regen")
            continue_reply = gr.Button("Continue", size="sm", elem_id="parlor-continue")
            impersonate = gr.Button("Impersonate", size="sm", elem_id="parlor-impersonate")
            show_prompt = gr.Button("Show prompt", size="sm", elem_id="parlor-show-prompt")
        status = gr.HTML(elem_id="parlor-status")
        return cls(
            header, meter, chat_html, live_html, status, input_box, send, stop, regenerate,
            continue_reply, impersonate, show_prompt,
        )  # fmt: skip


@contextmanager
def _text_panel(elem_id: str, label: str) -> Iterator[tuple[gr.Group, gr.Textbox]]:
    """A hidden panel with a text box; its buttons go in the row the block opens."""
    with gr.Group(visible=False, elem_id=elem_id) as group:
        box = gr.Textbox(label=label, lines=4, max_lines=20, elem_id=f"{elem_id}-box")
        with gr.Row():
            yield group, box


@dataclass
class Editor:
    """The panels for editing and deleting one message."""

    edit_group: gr.Group
    edit_box: gr.Textbox
    save: gr.Button
    save_as_swipe: gr.Button
    cancel_edit: gr.Button
    delete_group: gr.Group
    delete_note: gr.HTML
    confirm_delete: gr.Button
    cancel_delete: gr.Button

    @classmethod
    def render(cls) -> Editor:
        """Create the (hidden) edit and delete panels."""
        with _text_panel("parlor-edit", "Edit message") as (edit_group, edit_box):
            save = gr.Button("Save", variant="primary", elem_id="parlor-edit-save")
            save_as_swipe = gr.Button("Save as new swipe", elem_id="parlor-edit-swipe")
            cancel_edit = gr.Button("Cancel", elem_id="parlor-edit-cancel")
        with gr.Group(visible=False, elem_id="parlor-delete") as delete_group:
            delete_note = gr.HTML()
            with gr.Row():
                confirm_delete = gr.Button(
                    "Delete", variant="stop", elem_id="parlor-delete-confirm"
                )
                cancel_delete = gr.Button("Cancel", elem_id="parlor-delete-cancel")
        return cls(
            edit_group, edit_box, save, save_as_swipe, cancel_edit, delete_group,
            delete_note, confirm_delete, cancel_delete,
        )  # fmt: skip


@dataclass
class ReasoningEditor:
    """The panel for editing or deleting one message's reasoning block."""

    group: gr.Group
    box: gr.Textbox
    save: gr.Button
    delete: gr.Button
    cancel: gr.Button

    @classmethod
    def render(cls) -> ReasoningEditor:
        """Create the (hidden) reasoning panel."""
        with _text_panel("parlor-reasoning-edit", "Reasoning") as (group, box):
            save = gr.Button("Save", variant="primary", elem_id="parlor-reasoning-save")
            delete = gr.Button(
                "Delete reasoning", variant="stop", elem_id="parlor-reasoning-delete"
            )
            cancel = gr.Button("Cancel", elem_id="parlor-reasoning-cancel")
        return cls(group, box, save, delete, cancel)


#: The thinking switch's choices.
THINKING_CHOICES = [
    ("As the model decides", "auto"),
    ("On: the reply starts inside a reasoning block", "on"),
    ("Off: an empty block, or the template's switch", "off"),
]


@dataclass
class ReasoningFields:
    """A chat's reasoning settings, and the loaded model's reasoning template."""

    show: gr.Checkbox
    template: gr.Dropdown
    model_template: gr.Dropdown
    thinking: gr.Dropdown
    budget: gr.Number
    add_to_prompts: gr.Number

    @classmethod
    def render(cls) -> ReasoningFields:
        """Create the (collapsed) reasoning settings inside the chat settings."""
        with gr.Accordion("Reasoning", open=False, elem_id="parlor-reasoning"):
            with gr.Row():
                show = gr.Checkbox(
                    label="Show reasoning", value=True, elem_id="parlor-reasoning-show"
                )
                template = gr.Dropdown(label="Reasoning format", elem_id="parlor-reasoning-format")
                model_template = gr.Dropdown(
                    label="Reasoning format of the loaded model", elem_id="parlor-reasoning-model"
                )
            with gr.Row():
                thinking = gr.Dropdown(
                    THINKING_CHOICES, value="auto", label="Thinking", elem_id="parlor-thinking"
                )
                budget = gr.Number(
                    label="Reasoning budget in tokens (empty: no limit)", precision=0,
                    minimum=0, value=None, elem_id="parlor-reasoning-budget",
                )  # fmt: skip
                add_to_prompts = gr.Number(
                    label="Add the reasoning of the last N replies to prompts", precision=0,
                    minimum=0, value=0, elem_id="parlor-reasoning-add",
                )  # fmt: skip
        return cls(show, template, model_template, thinking, budget, add_to_prompts)

    def inputs(self) -> list[gr.components.Component]:
        """The fields in :func:`app.ui.chat_reasoning.reasoning_settings` order."""
        return [self.show, self.template, self.model_template, self.thinking, self.budget,
                self.add_to_prompts]  # fmt: skip


@dataclass
class SettingsPanel:
    """The author's note and the per-chat preset, format and persona."""

    note_text: gr.Textbox
    note_depth: gr.Number
    note_interval: gr.Number
    note_position: gr.Dropdown
    note_role: gr.Dropdown
    preset: gr.Dropdown
    format: gr.Dropdown
    persona: gr.Dropdown
    reasoning: ReasoningFields
    save: gr.Button

    @classmethod
    def render(cls) -> SettingsPanel:
        """Create the chat settings accordion."""
        with gr.Accordion("Author's note and chat settings", open=False, elem_id="parlor-note"):
            note_text = gr.Textbox(
                label="Author's note", lines=2, elem_id="parlor-note-text",
                placeholder="Inserted into the prompt near the end, e.g. [Style: terse]",
            )  # fmt: skip
            with gr.Row():
                note_depth = gr.Number(label="Depth", value=4, precision=0, minimum=0)
                note_interval = gr.Number(
                    label="Every N user messages (0: never)", value=1, precision=0, minimum=0
                )
                note_position = gr.Dropdown(
                    NOTE_POSITIONS, value="in_chat", label="Position",
                    elem_id="parlor-note-position",
                )  # fmt: skip
                note_role = gr.Dropdown(
                    NOTE_ROLES, value="system", label="As", elem_id="parlor-note-role"
                )
            with gr.Row():
                preset = gr.Dropdown(label="Preset", elem_id="parlor-chat-preset")
                fmt = gr.Dropdown(label="Prompt format", elem_id="parlor-chat-template")
                persona = gr.Dropdown(label="Persona", elem_id="parlor-chat-persona")
            reasoning = ReasoningFields.render()
            save = gr.Button("Save chat settings", elem_id="parlor-note-save")
        return cls(
            note_text, note_depth, note_interval, note_position, note_role, preset, fmt,
            persona, reasoning, save,
        )  # fmt: skip


@dataclass
class PromptPanel:
    """The exact prompt of the next reply, and how it is made up."""

    accordion: gr.Accordion
    info: gr.HTML
    breakdown: gr.HTML
    text: gr.Textbox

    @classmethod
    def render(cls) -> PromptPanel:
        """Create the prompt accordion."""
        with gr.Accordion("Prompt", open=False, elem_id="parlor-prompt") as accordion:
            info = gr.HTML()
            breakdown = gr.HTML(elem_id="parlor-prompt-parts")
            text = gr.Textbox(
                label="Exact prompt of the next reply", lines=12, max_lines=40,
                interactive=False, elem_id="parlor-prompt-text",
            )  # fmt: skip
        return cls(accordion, info, breakdown, text)


@dataclass
class ChatParts:
    """Every part of the chat page."""

    state: PageState
    sidebar: Sidebar
    conversation: Conversation
    editor: Editor
    settings: SettingsPanel
    prompt: PromptPanel
    reasoning: ReasoningEditor
    memory: MemoryPanel

    @classmethod
    def render(cls) -> ChatParts:
        """Create the whole page inside the current tab."""
        state = PageState.render()
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=260):
                sidebar = Sidebar.render()
            with gr.Column(scale=4):
                conversation = Conversation.render()
                editor = Editor.render()
                reasoning = ReasoningEditor.render()
                settings = SettingsPanel.render()
                prompt = PromptPanel.render()
                memory = MemoryPanel.render()
        return cls(state, sidebar, conversation, editor, settings, prompt, reasoning, memory)

    def screen_outputs(self) -> list[gr.blocks.Block]:
        """Every component that showing a chat may update."""
        s, side, conv, ed, st = (
            self.state,
            self.sidebar,
            self.conversation,
            self.editor,
            self.settings,
        )
        return [
            s.selection, s.remembered, s.location, s.edit_target,
            side.character, side.chat_list, side.title, side.trash_list, side.search_results,
            conv.header, conv.chat_html, conv.live_html, conv.status, conv.input_box,
            conv.send, conv.stop,
            ed.edit_group, ed.edit_box, ed.delete_group, ed.delete_note,
            st.note_text, st.note_depth, st.note_interval, st.note_position, st.note_role,
            st.preset, st.format, st.persona, *st.reasoning.inputs(),
            self.reasoning.group, self.reasoning.box,
        ]  # fmt: skip
