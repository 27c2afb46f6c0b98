"""PersonaRepository: the user's personas, one of which may be the default."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.errors import InputError, NotFound
from app.storage.db import Database
from app.storage.models import PersonaRow, utcnow
from app.storage.types import Persona

#: SillyTavern's ``persona_description_positions.IN_PROMPT``.
IN_PROMPT = 0


def _to_persona(row: PersonaRow) -> Persona:
    return Persona(
        id=row.id,
        name=row.name,
        description=row.description,
        avatar=row.avatar,
        is_default=row.is_default,
        description_position=row.description_position,
        created_at=row.created_at,
        modified_at=row.modified_at,
    )


class PersonaRepository:
    """Personas in one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        name: str,
        *,
        description: str = "",
        avatar: bytes | None = None,
        description_position: int = IN_PROMPT,
        is_default: bool = False,
        session: Session | None = None,
    ) -> Persona:
        """Store a new persona; the first persona ever created becomes the default."""
        if not name.strip():
            raise InputError("name", "a persona needs a name")
        now = utcnow()
        with self._db.write(session) as s:
            count = s.scalar(select(func.count()).select_from(PersonaRow)) or 0
            if is_default:
                s.execute(update(PersonaRow).values(is_default=False))
            row = PersonaRow(
                name=name,
                description=description,
                avatar=avatar,
                is_default=is_default or count == 0,
                description_position=description_position,
                created_at=now,
                modified_at=now,
            )
            s.add(row)
            s.flush()
            return _to_persona(row)

    def get(self, persona_id: int, *, session: Session | None = None) -> Persona:
        """Load a persona or raise :class:`NotFound`."""
        with self._db.read(session) as s:
            row = s.get(PersonaRow, persona_id, populate_existing=True)
            if row is None:
                raise NotFound("persona", persona_id)
            return _to_persona(row)

    def get_default(self, *, session: Session | None = None) -> Persona | None:
        """The default persona, or ``None`` when there are no personas."""
        with self._db.read(session) as s:
            row = s.scalars(
                select(PersonaRow).where(PersonaRow.is_default.is_(True)).limit(1)
            ).first()
            return _to_persona(row) if row is not None else None

    def list_personas(self, *, session: Session | None = None) -> list[Persona]:
        """All personas by name."""
        with self._db.read(session) as s:
            rows = s.scalars(select(PersonaRow).order_by(func.lower(PersonaRow.name)))
            return [_to_persona(row) for row in rows]

    def update(
        self,
        persona_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        description_position: int | None = None,
        session: Session | None = None,
    ) -> Persona:
        """Change a persona's name, description and/or description position."""
        values: dict[str, object] = {}
        if name is not None:
            if not name.strip():
                raise InputError("name", "a persona needs a name")
            values["name"] = name
        if description is not None:
            values["description"] = description
        if description_position is not None:
            values["description_position"] = description_position
        return self._update(persona_id, session, **values)

    def set_avatar(
        self, persona_id: int, avatar: bytes | None, *, session: Session | None = None
    ) -> Persona:
        """Replace (or with ``None`` remove) a persona's avatar."""
        return self._update(persona_id, session, avatar=avatar)

    def set_default(self, persona_id: int, *, session: Session | None = None) -> Persona:
        """Make this persona the default (and no other)."""
        with self._db.write(session) as s:
            if s.get(PersonaRow, persona_id) is None:
                raise NotFound("persona", persona_id)
            s.execute(update(PersonaRow).values(is_default=PersonaRow.id == persona_id))
            return self._update(persona_id, s)

    def delete(self, persona_id: int, *, session: Session | None = None) -> None:
        """Delete a persona; chats locked to it fall back to the default persona."""
        with self._db.write(session) as s:
            row = s.get(PersonaRow, persona_id)
            if row is None:
                raise NotFound("persona", persona_id)
            s.delete(row)

    def _update(self, persona_id: int, session: Session | None, **values: object) -> Persona:
        with self._db.write(session) as s:
            result = s.execute(
                update(PersonaRow)
                .where(PersonaRow.id == persona_id)
                .values(modified_at=utcnow(), **values)
            )
            if getattr(result, "rowcount", 0) == 0:
                raise NotFound("persona", persona_id)
            row = s.get(PersonaRow, persona_id, populate_existing=True)
            assert row is not None
            return _to_persona(row)
