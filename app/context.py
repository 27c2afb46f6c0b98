"""The composition root: builds every service from one ``Settings`` object."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from app.api.gate import GenerationGate
from app.api.kobold_serving import KoboldServing
from app.api.llamacpp_serving import LlamaCppServing
from app.api.native import NativeServing
from app.api.notes import FieldNotes
from app.api.runner import GenerationRunner
from app.api.serving import OpenAIServing
from app.chat.api_prompts import ApiCharacterPrompts, ApiRequests
from app.chat.api_reasoning import ApiReasoning
from app.chat.background import IdleJobs
from app.chat.characters import CharacterService
from app.chat.chatfiles import ChatFiles
from app.chat.config import ConfigService
from app.chat.format_files import load_user_templates
from app.chat.greetings import GreetingMacros
from app.chat.groups import GroupService
from app.chat.imports import Importer
from app.chat.library import CharacterLibrary
from app.chat.lorebooks import LorebookService
from app.chat.memory.index import MemoryIndex
from app.chat.memory.recall import MemoryRecall
from app.chat.memory.service import MemoryService
from app.chat.memory.st_interop import SillyTavernSummaries
from app.chat.memory.summaries import SummaryStore, SummaryWorker
from app.chat.memory.writer import ModelWriter
from app.chat.models import ModelService, load_options
from app.chat.personas import PersonaService
from app.chat.prefill import IdlePrefill
from app.chat.presets import PresetService
from app.chat.reasoning_files import ReasoningTemplates
from app.chat.requests import RequestBuilder
from app.chat.service import ChatService
from app.chat.services import Services
from app.chat.st_groups import GroupFiles
from app.chat.turns import Stores, TurnRunner
from app.engine.embedder import MODEL_NAME, LazyEmbedder
from app.engine.manager import ModelManager
from app.engine.registry import BackendRegistry
from app.presets.library import PresetLibrary
from app.prompt.assemble import PromptBuilder
from app.prompt.registry import FormatRegistry
from app.prompt.sandbox import TemplateSandbox
from app.resources import bundled_dir
from app.settings import Settings
from app.storage.db import Database, open_database
from app.storage.repositories import (
    CharacterRepository,
    ChatRepository,
    GroupRepository,
    LorebookRepository,
    PersonaRepository,
    PreferencesRepository,
)
from app.storage.repositories.memory import MemoryRepository

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """Everything the UI, the API and the CLI need, built once per process (or test)."""

    settings: Settings
    db: Database
    models: ModelManager
    formats: FormatRegistry
    presets: PresetLibrary
    chat: ChatService
    library: CharacterLibrary
    chat_files: ChatFiles
    #: The chat layer's door for the API: every API generation request is made there.
    api_requests: ApiRequests = field(kw_only=True)
    #: The OpenAI-compatible API (its HTTP routes call this object).
    openai_serving: OpenAIServing = field(kw_only=True)
    #: The llama.cpp server and KoboldCpp dialects, sharing the OpenAI serving's parts.
    native_serving: NativeServing = field(kw_only=True)
    #: The services of the library, personas, lorebooks, presets, models and settings.
    services: Services = field(kw_only=True)

    #: The repositories, for the composition root and the tests; the UI and the API
    #: never get them (they hold services only).
    stores: Stores = field(kw_only=True)
    #: Fills chats' KV slots ahead of their next turn (group members, a new story so
    #: far), for the composition root, benchmarks and tests.
    prefill: IdlePrefill = field(kw_only=True)

    def close(self) -> None:
        """Stop the summary writer, free the model and the database connections."""
        self.services.memory.close()
        self.prefill.close()
        self.models.unload()
        self.db.engine.dispose()


def build_context(
    settings: Settings, *, registry: BackendRegistry | None = None, load_model: bool = True
) -> AppContext:
    """Create the data folder, migrate the database and build every service.

    The start-up model is loaded by :meth:`ModelService.start`: one that fails to load
    is replaced by the bundled model (with a warning), and where none loads the app runs
    without one, the error shown in the UI, so the user can pick another file.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.models_folder.mkdir(parents=True, exist_ok=True)
    db = open_database(settings.database_path)
    db.migrate()
    stores = Stores(
        CharacterRepository(db),
        PersonaRepository(db),
        LorebookRepository(db),
        ChatRepository(db),
        PreferencesRepository(db),
        GroupRepository(db),
    )
    models = ModelManager(load_options(settings), registry)
    sandbox = TemplateSandbox()
    formats = FormatRegistry.load(bundled_dir("templates"), sandbox)
    for problem in load_user_templates(formats, settings.data_dir / "templates"):
        log.warning("%s", problem)
    presets = PresetLibrary([settings.data_dir / "presets", bundled_dir("presets")])
    reasoning = ReasoningTemplates.load(settings.data_dir / "reasoning")
    requests = RequestBuilder(sandbox, presets)
    recall = build_memory(settings, db, sandbox, MemoryModel(models, requests, stores.chats))
    builder = PromptBuilder(sandbox)
    runner = TurnRunner(
        stores, models, builder, formats, presets, requests, reasoning,
        recall if settings.memory else None,
    )  # fmt: skip
    library = CharacterLibrary(db, stores)
    library.import_starter_cast(bundled_dir("characters"), settings.data_dir)
    api_requests = ApiRequests(requests, ApiCharacterPrompts(library, runner))
    chat, chat_files = (
        ChatService(runner, db),
        ChatFiles(
            db, stores.chats, library, SillyTavernSummaries(MemoryRepository(db), stores.chats)
        ),
    )
    greetings = GreetingMacros(builder, formats)
    prefill = IdlePrefill(runner, IdleJobs("parlor-prefill"))
    recall.on_block_moving = prefill.prompt_changed
    if recall.summaries is not None:
        recall.summaries.on_story_changed = prefill.prompt_changed
    parts = _Parts(
        settings, db, stores, library, models, formats, presets, reasoning, recall, greetings,
        prefill,
    )  # fmt: skip
    api_reasoning = ApiReasoning(reasoning, stores.preferences)
    openai_serving = build_openai_serving(settings, models, api_requests, api_reasoning)
    context = AppContext(
        settings,
        db,
        models,
        formats,
        presets,
        chat,
        library,
        chat_files,
        api_requests=api_requests,
        openai_serving=openai_serving,
        native_serving=build_native_serving(openai_serving),
        services=build_services(parts, chat, chat_files),
        stores=stores,
        prefill=prefill,
    )
    if load_model:
        context.services.models.start()
    return context


@dataclass(frozen=True)
class _Parts:
    """What the services are made of."""

    settings: Settings
    db: Database
    stores: Stores
    library: CharacterLibrary
    models: ModelManager
    formats: FormatRegistry
    presets: PresetLibrary
    reasoning: ReasoningTemplates
    recall: MemoryRecall
    greetings: GreetingMacros
    prefill: IdlePrefill


@dataclass(frozen=True)
class MemoryModel:
    """What long-term memory's summaries are written with, and about."""

    models: ModelManager
    requests: RequestBuilder
    chats: ChatRepository


def build_memory(
    settings: Settings, db: Database, sandbox: TemplateSandbox, model: MemoryModel
) -> MemoryRecall:
    """Long-term memory: the bundled embedder (loaded on first use), the chats' index and
    the summary writer, which also embeds each reply (its thread starts with the first
    summary)."""
    embedder = LazyEmbedder(settings.data_dir / "embedders" / MODEL_NAME)
    repository = MemoryRepository(db)
    store = SummaryStore(
        repository.summaries, repository.add_summary, model.chats.active_path, repository.settings
    )
    writer = ModelWriter(model.models, model.requests)
    index = MemoryIndex(repository, embedder)
    worker = SummaryWorker(store, writer, writer.count_tokens, index.update)
    return MemoryRecall(index, repository, sandbox, worker)


def build_services(parts: _Parts, chat: ChatService, chat_files: ChatFiles) -> Services:
    """The chat layer's services, as the UI gets them."""
    settings, db, stores, library = parts.settings, parts.db, parts.stores, parts.library
    group_files = GroupFiles(db, stores)
    importer = Importer(
        library,
        parts.presets,
        parts.formats,
        settings.data_dir / "templates",
        chat_importer=chat_files.import_chat,
        preferences=stores.preferences,
        reasoning=parts.reasoning,
        groups=group_files,
    )
    model_service = ModelService(settings, parts.models)
    return Services(
        chat=chat,
        chat_files=chat_files,
        characters=CharacterService(db, stores, library, importer),
        personas=PersonaService(db, stores),
        lorebooks=LorebookService(db, stores, importer),
        presets=PresetService(parts.presets, parts.formats, importer),
        models=model_service,
        config=ConfigService(settings, model_service),
        importer=importer,
        groups=GroupService(db, stores, chat, group_files, parts.greetings, parts.prefill),
        memory=MemoryService(
            parts.recall, MemoryRepository(db), stores.chats, active=settings.memory
        ),
    )


def build_openai_serving(
    settings: Settings,
    models: ModelManager,
    requests: ApiRequests,
    reasoning: ApiReasoning | None = None,
) -> OpenAIServing:
    """The API's serving object: the models, the chat layer, the key and the limits
    (and each model's reasoning template, for ``reasoning_content``)."""
    return OpenAIServing(
        models,
        requests,
        api_key=settings.api_key,
        max_request_bytes=settings.max_request_bytes,
        runner=GenerationRunner(GenerationGate()),
        notes=FieldNotes(),
        reasoning=reasoning,
    )


def build_native_serving(openai: OpenAIServing) -> NativeServing:
    """The llama.cpp and KoboldCpp dialects: the same models, runner, key and notes as
    ``openai``, so every API request shares one queue and one KV cache."""
    return NativeServing(LlamaCppServing(openai), KoboldServing(openai))
