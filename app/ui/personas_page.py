"""The Personas page: who the user is in chats (name, description, avatar, default)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import gradio as gr

from app.context import AppContext
from app.errors import ParlorError
from app.storage.types import Persona
from app.ui.images import avatar_image, image_to_png
from app.ui.render import status_html
from app.ui.state import page_queue

Updates = dict[Any, Any]
#: SillyTavern's persona description positions.
POSITIONS: Final = [
    ("In the prompt (story string)", 0),
    ("Top of the author's note", 2),
    ("Bottom of the author's note", 3),
    ("In the chat at depth", 4),
    ("Nowhere", 9),
]


class PersonasPage:
    """Components and handlers of the Personas page."""

    #: One queue for the page's events and its tab refresh (see ``page_queue``).
    QUEUE: Final[Mapping[str, Any]] = page_queue("personas")

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def render(self) -> None:
        """Create the components inside the current tab."""
        self.selected = gr.State(None)
        self.avatar_new = gr.State(False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                self.listing = gr.Radio(label="Personas", choices=[], elem_id="parlor-personas")
                self.new = gr.Button("New persona", elem_id="parlor-persona-new")
            with gr.Column(scale=3):
                with gr.Row():
                    self.avatar = gr.Image(
                        label="Avatar", type="filepath", sources=["upload"], height=160, scale=1
                    )
                    with gr.Column(scale=3):
                        self.name = gr.Textbox(
                            label="Name", max_lines=1, elem_id="parlor-persona-name"
                        )
                        self.position = gr.Dropdown(
                            label="Description goes", choices=POSITIONS, value=0
                        )
                        self.default_note = gr.HTML()
                self.description = gr.Textbox(
                    label="Description", lines=5, max_lines=30, elem_id="parlor-persona-desc"
                )
                with gr.Row():
                    self.save = gr.Button("Save", variant="primary", elem_id="parlor-persona-save")
                    self.make_default = gr.Button("Make default", elem_id="parlor-persona-default")
                    self.delete = gr.Button("Delete", variant="stop", elem_id="parlor-persona-del")
                self.status = gr.HTML(elem_id="parlor-persona-status")
        self._setup_events()

    def outputs(self) -> list[Any]:
        """Every component a handler of this page may update."""
        return [
            self.selected, self.avatar_new, self.listing, self.avatar, self.name,
            self.position, self.default_note, self.description, self.status,
        ]  # fmt: skip

    def _setup_events(self) -> None:
        common: dict[str, Any] = {
            "outputs": self.outputs(),
            "show_progress": "hidden",
            **self.QUEUE,
        }
        self.listing.input(lambda pid: self.show(pid), [self.listing], **common)
        self.new.click(lambda: self.show(None, "Fill in the fields and press Save."), **common)
        self.avatar.upload(lambda: True, None, [self.avatar_new], show_progress="hidden")
        self.save.click(
            self.save_persona,
            [self.selected, self.name, self.description, self.position, self.avatar,
             self.avatar_new],
            **common,
        )  # fmt: skip
        self.make_default.click(self.set_default, [self.selected], **common)
        self.delete.click(self.delete_persona, [self.selected], **common)

    def show(self, persona_id: int | None, status: str = "", *, failed: bool = False) -> Updates:
        """The list and the editor for one persona (blank for a new one)."""
        repo = self.context.stores.personas
        personas = repo.list_personas()
        choices = [(f"{p.name}{' (default)' if p.is_default else ''}", p.id) for p in personas]
        persona: Persona | None = None
        if persona_id is not None:
            try:
                persona = repo.get(int(persona_id))
            except ParlorError as exc:
                status, failed = str(exc), True
        updates: Updates = {
            self.selected: persona.id if persona else None,
            self.avatar_new: False,
            self.listing: gr.update(choices=choices, value=persona.id if persona else None),
            self.name: persona.name if persona else "",
            self.description: persona.description if persona else "",
            self.position: persona.description_position if persona else 0,
            self.avatar: avatar_image(persona.avatar) if persona else None,
            self.default_note: "<p>This is the default persona.</p>"
            if persona and persona.is_default
            else "",
            self.status: status_html(status, error=failed),
        }
        return updates

    def refresh(self, selected: int | None) -> Updates:
        """Re-read the personas (when the tab is shown): the chosen one, else the default."""
        repo = self.context.stores.personas
        ids = [p.id for p in repo.list_personas()]
        default = repo.get_default()
        if selected not in ids:
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
        """Create or update a persona."""
        repo = self.context.stores.personas
        try:
            avatar = image_to_png(avatar_path) if avatar_new and avatar_path else None
            if selected is None:
                persona = repo.create(
                    name.strip(),
                    description=description,
                    avatar=avatar,
                    description_position=int(position or 0),
                )
            else:
                persona = repo.update(
                    selected,
                    name=name.strip(),
                    description=description,
                    description_position=int(position or 0),
                )
                if avatar is not None:
                    repo.set_avatar(selected, avatar)
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        return self.show(persona.id, "Saved.")

    def set_default(self, selected: int | None) -> Updates:
        """Make the selected persona the one new chats use."""
        if selected is None:
            return {self.status: status_html("Pick a persona first.", error=True)}
        try:
            persona = self.context.stores.personas.set_default(selected)
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        return self.show(persona.id, f"{persona.name} is now the default persona.")

    def delete_persona(self, selected: int | None) -> Updates:
        """Delete the selected persona (its chats fall back to the default one)."""
        if selected is None:
            return {self.status: status_html("Pick a persona first.", error=True)}
        try:
            self.context.stores.personas.delete(selected)
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        return self.show(None, "Persona deleted.")
