"""The composition root: builds every service from one ``Settings`` object."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from app.chat.api_prompts import ApiCharacterPrompts, CharacterPrompts
from app.chat.chatfiles import ChatFiles
from app.chat.imports import load_user_templates
from app.chat.library import CharacterLibrary
from app.chat.service import ChatService
from app.chat.turns import Stores, TurnRunner
from app.engine.llamacpp import LoadOptions
from app.engine.manager import Loader, ModelManager
from app.engine.models import startup_model
from app.engine.remote import RemoteBackend
from app.errors import ModelLoadError, RemoteBackendError
from app.presets.library import PresetLibrary
from app.prompt.assemble import PromptBuilder
from app.prompt.registry import FormatRegistry
from app.prompt.sandbox import TemplateSandbox
from app.settings import Settings
from app.storage.db import Database, open_database
from app.storage.repositories import (
    CharacterRepository,
    ChatRepository,
    LorebookRepository,
    PersonaRepository,
)

log = logging.getLogger(__name__)

#: The repository root, where the bundled presets/, templates/ and characters/ live.
RESOURCES_DIR = Path(__file__).resolve().parent.parent


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
    resources_dir: Path = RESOURCES_DIR
    #: Renders stored characters for the API's ``character`` field (None: unavailable).
    character_prompts: CharacterPrompts | None = None

    @property
    def stores(self) -> Stores:
        """The repositories."""
        return self.chat.stores

    def close(self) -> None:
        """Free the model and the database connections."""
        self.models.unload()
        self.db.engine.dispose()


def load_options(settings: Settings) -> LoadOptions:
    """The model-loading part of the settings."""
    return LoadOptions(
        n_ctx=settings.n_ctx,
        n_gpu_layers=settings.n_gpu_layers,
        threads=settings.threads,
        n_batch=settings.n_batch,
        flash_attn=settings.flash_attn,
        cache_type_k=settings.cache_type_k,
        cache_type_v=settings.cache_type_v,
    )


def build_context(
    settings: Settings, *, loader: Loader | None = None, load_model: bool = True
) -> AppContext:
    """Create the data folder, migrate the database and build every service.

    A model that fails to load leaves the app running without one: the error is kept
    on ``models.last_error`` and shown in the UI, so the user can pick another file.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.models_folder.mkdir(parents=True, exist_ok=True)
    db = open_database(settings.database_path)
    db.migrate()
    stores = Stores(
        CharacterRepository(db), PersonaRepository(db), LorebookRepository(db), ChatRepository(db)
    )
    options = load_options(settings)
    models = ModelManager(options, loader) if loader else ModelManager(options)
    sandbox = TemplateSandbox()
    formats = FormatRegistry.load(RESOURCES_DIR / "templates", sandbox)
    for problem in load_user_templates(formats, settings.data_dir / "templates"):
        log.warning("%s", problem)
    presets = PresetLibrary([settings.data_dir / "presets", RESOURCES_DIR / "presets"])
    runner = TurnRunner(stores, models, PromptBuilder(sandbox), formats, presets)
    library = CharacterLibrary(db, stores)
    library.import_starter_cast(RESOURCES_DIR / "characters", settings.data_dir)
    context = AppContext(
        settings,
        db,
        models,
        formats,
        presets,
        ChatService(runner),
        library,
        ChatFiles(db, library),
        character_prompts=ApiCharacterPrompts(library, runner),
    )
    if load_model:
        _load_startup_model(context)
    return context


def _load_startup_model(context: AppContext) -> None:
    settings = context.settings
    if settings.remote_url:
        context.models.use(_remote_backend(context))
        return
    path = startup_model(settings.model, settings.models_folder)
    if path is None:
        return
    try:
        context.models.load(path)
    except ModelLoadError as exc:
        log.error("%s", exc)


def _remote_backend(context: AppContext) -> RemoteBackend:
    """The ``--remote-url`` backend; an unreachable server is logged, not fatal."""
    settings = context.settings
    assert settings.remote_url is not None
    backend = RemoteBackend(
        settings.remote_url,
        api_key=settings.remote_api_key,
        model=settings.remote_model,
        mode=settings.remote_mode,
        n_ctx=settings.n_ctx,
    )
    try:
        backend.probe()
    except RemoteBackendError as exc:
        context.models.last_error = str(exc)
        log.error("%s", exc)
    return backend
