"""Every service of the chat layer, as the UI gets them (no repository among them)."""

from __future__ import annotations

from dataclasses import dataclass

from app.chat.characters import CharacterService
from app.chat.chatfiles import ChatFiles
from app.chat.config import ConfigService
from app.chat.groups import GroupService
from app.chat.imports import Importer
from app.chat.lorebooks import LorebookService
from app.chat.memory.service import MemoryService
from app.chat.models import ModelService
from app.chat.personas import PersonaService
from app.chat.presets import PresetService
from app.chat.service import ChatService


@dataclass(frozen=True)
class Services:
    """The chat layer's services: what the UI (and the CLI) work through."""

    chat: ChatService
    chat_files: ChatFiles
    characters: CharacterService
    personas: PersonaService
    lorebooks: LorebookService
    presets: PresetService
    models: ModelService
    config: ConfigService
    #: Files of every kind, as ``parlor import`` takes them (the Characters, Lorebooks
    #: and Presets pages import through their services, which hold this same importer).
    importer: Importer
    #: Groups of characters and who replies in their chats.
    groups: GroupService
    #: Long-term memory: each chat's switch, settings, index and last recall.
    memory: MemoryService
