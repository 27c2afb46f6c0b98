"""The composition root: builds every service from one ``Settings`` object."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from app.chat.service import ChatService
from app.engine.llamacpp import LoadOptions
from app.engine.manager import Loader, ModelManager
from app.engine.models import startup_model
from app.errors import ModelLoadError
from app.prompt.sandbox import TemplateSandbox
from app.settings import Settings

log = logging.getLogger(__name__)

#: The repository root, where the bundled presets/, templates/ and characters/ live.
RESOURCES_DIR = Path(__file__).resolve().parent.parent


@dataclass
class AppContext:
    """Everything the UI, the API and the CLI need, built once per process (or test)."""

    settings: Settings
    models: ModelManager
    sandbox: TemplateSandbox
    chat: ChatService
    resources_dir: Path = RESOURCES_DIR

    def close(self) -> None:
        """Free the model."""
        self.models.unload()


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


def build_context(settings: Settings, *, loader: Loader | None = None) -> AppContext:
    """Create the data folder and every service; load the start-up model if it can be.

    A model that fails to load leaves the app running without one: the error is kept
    on ``models.last_error`` and shown in the UI, so the user can pick another file.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.models_folder.mkdir(parents=True, exist_ok=True)
    models = (
        ModelManager(load_options(settings), loader)
        if loader
        else ModelManager(load_options(settings))
    )
    sandbox = TemplateSandbox()
    context = AppContext(settings, models, sandbox, ChatService(models, sandbox))
    path = startup_model(settings.model, settings.models_folder)
    if path is not None:
        try:
            models.load(path)
        except ModelLoadError as exc:
            log.error("%s", exc)
    return context
