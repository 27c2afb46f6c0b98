"""The Personas page: who the user is in chats (name, description, avatar, default).

The page holds the persona service only; every change goes through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import gradio as gr

from app.chat.personas import PersonaEdit, PersonaService
from app.errors import ParlorError
from app.storage.types import Persona
from app.ui.boundary import Boundary
from app.ui.images import avatar_preview, image_to_png
from app.ui.render import status_html
from app.ui.state import page_queue
from app.ui.uploads import UploadGuard

Updates = dict[Any, Any]
#: SillyTavern's persona description positions.
POSITIONS: Final = [
    ("In the prompt (story string)", 0),
    ("Top of the author's note", 2),
    ("Bottom of the author's note", 3),
    ("In the chat at depth", 4),
    ("Nowhere", 9),
]


@dataclass(frozen=True)
class PersonaEditor:
    """The persona list and the editor's fields and buttons."""

    listing: gr.Radio
    new: gr.Button
    avatar: gr.Image
    name: gr.Textbox
    position: gr.Dropdown
    default_note: gr.HTML
    description: gr.Textbox
    save: gr.Button
    make_default: gr.Button
    delete: gr.Button
    status: gr.HTML


def _render_editor() -> PersonaEditor:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            listing = gr.Radio(label="Personas", choices=[], elem_id="parlor-personas")
            new = gr.Button("New persona", elem_id="parlor-persona-new")
        with gr.Column(scale=3):
            with gr.Row():
                avatar = gr.Image(
                    label="Avatar", type="filepath", sources=["upload"], height=160, scale=1
                )
                with gr.Column(scale=3):
                    name = gr.Textbox(label="Name", max_lines=1, elem_id="parlor-persona-name")
                    position = gr.Dropdown(label="Description goes", choices=POSITIONS, value=0)
                    default_note = gr.HTML()
            description = gr.Textbox(
                label="Description", lines=5, max_lines=30, elem_id="parlor-persona-desc"
            )
            with gr.Row():
                save = gr.Button("Save", variant="primary", elem_id="parlor-persona-save")
                make_default = gr.Button("Make default", elem_id="parlor-persona-default")
                delete = gr.Button("Delete", variant="stop", elem_id="parlor-persona-del")
            status = gr.HTML(elem_id="parlor-persona-status")
    return PersonaEditor(listing, new, avatar, name, position, default_note, description, save,
                         make_default, delete, status)  # fmt: skip


class PersonasPage:
    """Components and handlers of the Personas page."""

    #: One queue for the page's events and its tab refresh (see ``page_queue``).
    QUEUE: Final[Mapping[str, Any]] = page_queue("personas")

    editor: PersonaEditor
    boundary: Boundary

    def __init__(self, personas: PersonaService, uploads: UploadGuard) -> None:
        self.personas = personas
        self.uploads = uploads

    def render(self) -> None:
        """Create the components inside the current tab."""
        self.selected = gr.State(None)
        self.avatar_new = gr.State(False)
        self.editor = _render_editor()
        self.boundary = Boundary(self.editor.status)
        self._setup_events()

    def outputs(self) -> list[Any]:
        """Every component a handler of this page may update."""
        e = self.editor
        return [
            self.selected, self.avatar_new, e.listing, e.avatar, e.name, e.position,
            e.default_note, e.description, e.status,
        ]  # fmt: skip

    def wire_tab(self, tab: gr.Tab) -> None:
        """Re-read the personas whenever ``tab`` is shown."""
        tab.select(self.boundary.guard(self.refresh), [self.selected], self.outputs(),
                   show_progress="hidden", **self.QUEUE)  # fmt: skip

    def _setup_events(self) -> None:
        guard, e = self.boundary.guard, self.editor
        common: dict[str, Any] = {"outputs": self.outputs(), "show_progress": "hidden",
                                  **self.QUEUE}  # fmt: skip
        e.listing.input(guard(self.pick), [e.listing], **common)
        # The fields are cleared in the browser at once, so a late answer from the server
        # cannot wipe what the user starts typing; the server only forgets the selection.
        e.new.click(None, None, [e.name, e.description, e.position, e.avatar, e.default_note],
                    js='() => ["", "", 0, null, ""]', show_progress="hidden")  # fmt: skip
        e.new.click(guard(self.blank), None, [self.selected, self.avatar_new, e.listing, e.status],
                    show_progress="hidden", **self.QUEUE)  # fmt: skip
        e.avatar.upload(lambda: True, None, [self.avatar_new], show_progress="hidden")
        e.save.click(
            guard(self.save_persona),
            [self.selected, e.name, e.description, e.position, e.avatar, self.avatar_new],
            **common,
        )  # fmt: skip
        e.make_default.click(guard(self.set_default), [self.selected], **common)
        e.delete.click(guard(self.delete_persona), [self.selected], **common)

    def pick(self, persona_id: int | None) -> Updates:
        """Show the persona picked in the list."""
        return self.show(persona_id)

    def blank(self) -> Updates:
        """Forget the selection for a new persona (the browser blanks the fields)."""
        updates = self.show(None, "Fill in the fields and press Save.")
        e = self.editor
        return {box: updates[box] for box in (self.selected, self.avatar_new, e.listing, e.status)}

    def show(self, persona_id: int | None, status: str = "", *, failed: bool = False) -> Updates:
        """The list and the editor for one persona (blank for a new one)."""
        personas = self.personas.personas()
        choices = [(f"{p.name}{' (default)' if p.is_default else ''}", p.id) for p in personas]
        persona: Persona | None = None
        if persona_id is not None:
            try:
                persona = self.personas.get(int(persona_id))
            except ParlorError as exc:
                status, failed = str(exc), True
        e = self.editor
        return {
            self.selected: persona.id if persona else None,
            self.avatar_new: False,
            e.listing: gr.update(choices=choices, value=persona.id if persona else None),
            e.name: persona.name if persona else "",
            e.description: persona.description if persona else "",
            e.position: persona.description_position if persona else 0,
            e.avatar: avatar_preview(persona.avatar) if persona else None,
            e.default_note: "<p>This is the default persona.</p>"
            if persona and persona.is_default
            else "",
            e.status: status_html(status, error=failed),
        }

    def refresh(self, selected: int | None) -> Updates:
        """Re-read the personas (when the tab is shown): the chosen one, else the default."""
        ids = [p.id for p in self.personas.personas()]
        if selected not in ids:
            default = self.personas.default()
            selected = default.id if default else (ids[0] if ids else None)
        return self.show(selected)

    def save_persona(
        self,
        selected: int | None,
        name: str,
        description: str,
        position: int | None,
        avatar_path: str | None,
        avatar_new: bool,
    ) -> Updates:
        """Create or update a persona (its text and new avatar in one transaction)."""
        edit = PersonaEdit(name or "", description or "", int(position or 0))
        avatar = (
            image_to_png(self.uploads.path(avatar_path)) if avatar_new and avatar_path else None
        )
        if selected is None:
            persona = self.personas.create(edit, avatar)
        else:
            persona = self.personas.update(selected, edit, avatar)
        return self.show(persona.id, "Saved.")

    def set_default(self, selected: int | None) -> Updates:
        """Make the selected persona the one new chats use."""
        if selected is None:
            raise ParlorError("Pick a persona first.")
        persona = self.personas.set_default(selected)
        return self.show(persona.id, f"{persona.name} is now the default persona.")

    def delete_persona(self, selected: int | None) -> Updates:
        """Delete the selected persona (its chats fall back to the default one)."""
        if selected is None:
            raise ParlorError("Pick a persona first.")
        self.personas.delete(selected)
        return self.show(None, "Persona deleted.")
