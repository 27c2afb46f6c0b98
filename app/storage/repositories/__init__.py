"""One repository per aggregate; each takes the :class:`~app.storage.db.Database`."""

from app.storage.repositories._convert import TreeError
from app.storage.repositories.characters import CharacterRepository
from app.storage.repositories.chats import ChatRepository
from app.storage.repositories.groups import GroupRepository
from app.storage.repositories.lorebooks import LorebookRepository
from app.storage.repositories.personas import PersonaRepository
from app.storage.repositories.preferences import PreferencesRepository

__all__ = [
    "CharacterRepository",
    "ChatRepository",
    "GroupRepository",
    "LorebookRepository",
    "PersonaRepository",
    "PreferencesRepository",
    "TreeError",
]
