"""The persona service: who the user is in chats (name, description, avatar, default).

Every change is one transaction: a persona's text and its new avatar are stored together.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.chat.turns import Stores
from app.storage.db import Database
from app.storage.types import Persona


@dataclass(frozen=True)
class PersonaEdit:
    """A persona's editable text: its name, description and where the description goes."""

    name: str
    description: str = ""
    #: SillyTavern's description position (0 in the prompt, 2/3 author's note, 4 depth, 9 none).
    position: int = 0


class PersonaService:
    """Creates, edits, chooses the default of and deletes personas."""

    def __init__(self, db: Database, stores: Stores) -> None:
        self._db = db
        self._personas = stores.personas

    def personas(self) -> list[Persona]:
        """Every persona, by name."""
        return self._personas.list_personas()

    def get(self, persona_id: int) -> Persona:
        """One persona (``NotFound`` if it is gone)."""
        return self._personas.get(persona_id)

    def default(self) -> Persona | None:
        """The persona new chats use (None when there is none)."""
        return self._personas.get_default()

    def create(self, edit: PersonaEdit, avatar: bytes | None = None) -> Persona:
        """A new persona (the first one becomes the default)."""
        return self._personas.create(
            edit.name.strip(), description=edit.description, avatar=avatar,
            description_position=edit.position,
        )  # fmt: skip

    def update(self, persona_id: int, edit: PersonaEdit, avatar: bytes | None = None) -> Persona:
        """Change the text and, if given, the avatar: one transaction."""
        with self._db.transaction() as session:
            persona = self._personas.update(
                persona_id, name=edit.name.strip(), description=edit.description,
                description_position=edit.position, session=session,
            )  # fmt: skip
            if avatar is not None:
                persona = self._personas.set_avatar(persona_id, avatar, session=session)
            return persona

    def set_default(self, persona_id: int) -> Persona:
        """Make this persona the one new chats use."""
        return self._personas.set_default(persona_id)

    def delete(self, persona_id: int) -> None:
        """Delete the persona (its chats fall back to the default one)."""
        self._personas.delete(persona_id)
