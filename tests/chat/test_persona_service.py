"""The persona service: create, edit with avatar in one transaction, default, delete."""

from __future__ import annotations

import pytest

from app.chat.personas import PersonaEdit, PersonaService
from app.context import AppContext
from app.errors import InputError
from app.storage.repositories import PersonaRepository


@pytest.fixture
def personas(context: AppContext) -> PersonaService:
    return context.services.personas


def test_create_update_default_and_delete(personas: PersonaService) -> None:
    wren = personas.create(PersonaEdit(" Wren ", "A courier.", 4))
    assert wren.name == "Wren" and wren.is_default  # the first persona is the default
    ash = personas.create(PersonaEdit("Ash", "A thief."))
    personas.set_default(ash.id)
    default = personas.default()
    assert default is not None and default.id == ash.id
    changed = personas.update(wren.id, PersonaEdit("Wren Vale", "A courier.", 2), b"png")
    assert (changed.name, changed.description_position, changed.avatar) == ("Wren Vale", 2, b"png")
    personas.delete(wren.id)
    assert [p.name for p in personas.personas()] == ["Ash"]
    with pytest.raises(InputError):
        personas.create(PersonaEdit("  "))


def test_a_failed_avatar_write_leaves_the_persona_as_it_was(
    personas: PersonaService, monkeypatch: pytest.MonkeyPatch
) -> None:
    wren = personas.create(PersonaEdit("Wren", "A courier."))

    def broken(*args: object, **kwargs: object) -> None:
        raise InputError("avatar", "disk full")

    monkeypatch.setattr(PersonaRepository, "set_avatar", broken)
    with pytest.raises(InputError):
        personas.update(wren.id, PersonaEdit("Crow", "A spy."), b"png")
    assert personas.get(wren.id).name == "Wren"
