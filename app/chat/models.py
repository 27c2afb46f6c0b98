"""The model service: what is loaded, loading a GGUF file, connecting to a remote server.

The Models page, the Settings page and the start-up code call this service; it opens
backends through the :class:`~app.engine.manager.ModelManager` (and so through the
backend registry) and never hands out more than plain descriptions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from app.config_file import update_config
from app.engine.base import Backend
from app.engine.llamacpp import KV_CACHE_TYPES, LoadOptions, gpu_offload_supported
from app.engine.manager import ModelManager
from app.engine.models import ModelFile, available_models, fallback_model, startup_model
from app.engine.registry import REMOTE, LocalSource, RemoteSource
from app.engine.remote import RemoteMode
from app.errors import InputError, ModelLoadError, ParlorError, RemoteBackendError
from app.settings import Settings

log = logging.getLogger(__name__)

#: Reports loading progress: a share in [0, 1] and a one-line description.
ProgressReport = Callable[[float, str], None]
#: Rough read speed used to pace the loading bar (bytes per second).
LOAD_RATE: Final = 300e6
#: How often the loading bar moves (seconds).
PROGRESS_INTERVAL: Final = 0.2
MIN_CONTEXT: Final = 256


def human_size(size: int) -> str:
    """Bytes as MB or GB."""
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


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
        saved_states_mb=settings.saved_states_mb,
    )


@dataclass(frozen=True)
class LoadChoice:
    """What the user picked on the Models page for a local model."""

    path: Path
    n_ctx: int | None = None
    #: None: the layers in use now, else all where the build can offload, else none.
    n_gpu_layers: int | None = None
    flash_attn: bool = False
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"


@dataclass(frozen=True)
class RemoteChoice:
    """What the user gave on the Models page for a remote server."""

    url: str
    #: Empty keeps the key in use (or the configured one).
    api_key: str = ""
    #: Empty: the server's first model.
    model: str = ""
    mode: RemoteMode = "completions"
    #: Also save the connection in ``config.yaml`` for the next start.
    remember: bool = False


@dataclass(frozen=True)
class RemoteDefaults:
    """The remote form's starting values (the key itself is never handed out)."""

    url: str
    model: str
    mode: RemoteMode
    key_set: bool


@dataclass(frozen=True)
class ModelStatus:
    """One line on what generates, plus what went wrong."""

    line: str
    loaded: bool
    remote: bool = False
    #: Why the last attempt to open a backend failed.
    error: str | None = None
    #: Something the user should know although a model is loaded (a start-up fallback).
    warning: str | None = None


@dataclass(frozen=True)
class Loaded:
    """A finished load."""

    file_name: str
    seconds: float


class ModelService:
    """Loads, connects, unloads and describes the backend every chat generates with."""

    def __init__(self, settings: Settings, models: ModelManager) -> None:
        self._settings = settings
        self._models = models
        self._warning: str | None = None

    # -- reading -------------------------------------------------------------------------

    @property
    def options(self) -> LoadOptions:
        """The load options in use (the form's starting values)."""
        return self._models.options

    def files(self) -> list[ModelFile]:
        """GGUF files of the models folder, plus the bundled model."""
        return available_models(self._settings.models_folder)

    def loaded_path(self) -> str | None:
        """The path of the loaded local model (None for none or a remote server)."""
        source = self._models.source
        return str(source.path) if isinstance(source, LocalSource) else None

    def status(self) -> ModelStatus:
        """What generates now, as one line."""
        models = self._models
        if not models.loaded:
            return ModelStatus("No model loaded.", False, error=models.last_error,
                               warning=self._warning)  # fmt: skip
        info = models.current().info
        if self._remote_in_use():
            line = f"Remote: {info.name} at {info.path} · {info.architecture}"
            line += f" · context {info.n_ctx}"
            return ModelStatus(line, True, remote=True, warning=self._warning)
        line = (
            f"Model: {info.name} · {info.quantization} · {human_size(info.size_bytes)} · "
            f"context {info.n_ctx} · GPU layers {info.n_gpu_layers}"
        )
        return ModelStatus(line, True, warning=self._warning)

    def default_gpu_layers(self) -> int:
        """The GPU layers in use now (or that loading would use by default)."""
        if self._models.loaded and not self._remote_in_use():
            return self._models.current().info.n_gpu_layers
        chosen = self._models.options.n_gpu_layers
        if chosen is not None:
            return chosen
        return -1 if gpu_offload_supported() else 0

    def remote_defaults(self) -> RemoteDefaults:
        """The remote server in use, else the configured one."""
        source = self._models.source
        if isinstance(source, RemoteSource):
            return RemoteDefaults(source.url, source.model or "", source.mode,
                                  bool(source.api_key))  # fmt: skip
        settings = self._settings
        return RemoteDefaults(settings.remote_url or "", settings.remote_model or "",
                              settings.remote_mode, bool(settings.remote_api_key))  # fmt: skip

    def values_in_use(self) -> dict[str, object]:
        """The model settings as they are now (what is loaded, the context in use)."""
        models = self._models
        if not models.loaded:
            return {"model": None}
        info = models.current().info
        source = models.source
        if isinstance(source, RemoteSource):
            return {"model": None, "n_ctx": info.n_ctx, "remote_url": source.url,
                    "remote_model": info.name, "remote_mode": source.mode}  # fmt: skip
        options = source.options if isinstance(source, LocalSource) else models.options
        return {
            "model": info.path, "n_ctx": info.n_ctx, "n_gpu_layers": info.n_gpu_layers,
            "flash_attn": options.flash_attn, "cache_type_k": options.cache_type_k,
            "cache_type_v": options.cache_type_v,
        }  # fmt: skip

    # -- changing ------------------------------------------------------------------------

    def start(self) -> None:
        """Open the start-up backend: the remote server, else the start-up model.

        A model picked from the models folder that will not load is replaced by the
        bundled one, with a warning in the log and in :meth:`status`.  A model the user
        named (``--model``) that will not load is reported, not replaced: they asked
        for that one.  Nothing here raises.
        """
        settings = self._settings
        if settings.remote_url:
            self._start_remote(settings.remote_url)
            return
        path = startup_model(settings.model, settings.models_folder)
        if path is None:
            return
        try:
            self._models.load(path)
        except ModelLoadError as exc:
            if settings.model is not None:
                log.error("%s", exc)  # the manager keeps it as last_error for the UI
                return
            self._fall_back(path, exc)

    def load(self, choice: LoadChoice, progress: ProgressReport | None = None) -> Loaded:
        """Load a GGUF file; ``progress`` is called meanwhile (from this thread)."""
        source = LocalSource(choice.path, self._load_options(choice))
        started = time.monotonic()
        size = choice.path.stat().st_size if choice.path.is_file() else 0
        _run_reporting(
            lambda: self._models.open(source), 1.0 + size / LOAD_RATE,
            f"Loading {choice.path.name}…", progress,
        )  # fmt: skip
        self._warning = None
        return Loaded(choice.path.name, time.monotonic() - started)

    def unload(self) -> None:
        """Free the loaded model (or drop the remote server)."""
        self._models.unload()
        self._warning = None

    def connect_remote(self, choice: RemoteChoice) -> str:
        """Check the server and make it the backend of every chat; a report line."""
        api_key = choice.api_key.strip() or self._remote_key()
        model = choice.model.strip() or None
        source = RemoteSource(choice.url.strip(), api_key=api_key, model=model,
                              mode=choice.mode, n_ctx=self._settings.n_ctx)  # fmt: skip
        info = self._models.open(source).info
        self._warning = None
        message = f"Connected: {info.name} at {info.path}, context {info.n_ctx}."
        if not choice.remember:
            return message
        values = {"remote_url": source.url, "remote_api_key": api_key,
                  "remote_model": model, "remote_mode": choice.mode}  # fmt: skip
        try:
            path = update_config(self._settings.data_dir, values)
        except ParlorError as exc:
            return f"{message} Not saved: {exc}"
        return f"{message} Saved in {path}."

    # -- helpers -------------------------------------------------------------------------

    def _remote_in_use(self) -> bool:
        source = self._models.source
        return source is not None and source.kind == REMOTE

    def _remote_key(self) -> str | None:
        source = self._models.source
        if isinstance(source, RemoteSource) and source.api_key:
            return source.api_key
        return self._settings.remote_api_key

    def _load_options(self, choice: LoadChoice) -> LoadOptions:
        n_ctx = choice.n_ctx or self._models.options.n_ctx
        if n_ctx < MIN_CONTEXT:
            raise InputError("context size", f"must be at least {MIN_CONTEXT} tokens")
        for label, kind in (("KV cache K", choice.cache_type_k),
                            ("KV cache V", choice.cache_type_v)):  # fmt: skip
            if kind not in KV_CACHE_TYPES:
                raise InputError(label, f"unknown type {kind!r}")
        layers = choice.n_gpu_layers
        return replace(
            self._models.options, n_ctx=n_ctx,
            n_gpu_layers=self.default_gpu_layers() if layers is None else layers,
            flash_attn=choice.flash_attn, cache_type_k=choice.cache_type_k,
            cache_type_v=choice.cache_type_v,
        )  # fmt: skip

    def _start_remote(self, url: str) -> None:
        """Connect to ``--remote-url``; an unreachable server is logged, not fatal."""
        settings = self._settings
        source = RemoteSource(url, api_key=settings.remote_api_key, model=settings.remote_model,
                              mode=settings.remote_mode, n_ctx=settings.n_ctx)  # fmt: skip
        try:
            self._models.open(source)
        except RemoteBackendError as exc:
            log.error("%s", exc)
            self._models.open(replace(source, check=False))
            self._models.last_error = str(exc)

    def _fall_back(self, failed: Path, exc: ModelLoadError) -> None:
        fallback = fallback_model(failed)
        if fallback is None:
            log.error("%s", exc)
            return
        log.warning("%s; loading the bundled %s instead", exc, fallback.name)
        try:
            self._models.load(fallback)
        except ModelLoadError as second:
            log.error("%s", second)
            return
        self._warning = (
            f"{failed.name} could not be loaded ({exc.problem}); "
            f"the bundled {fallback.name} was loaded instead."
        )


def _run_reporting(
    work: Callable[[], Backend], expected: float, desc: str, progress: ProgressReport | None
) -> Backend:
    """Run ``work`` in a worker thread, moving ``progress`` until it ends; its result."""
    outcome: list[Backend | BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed back to the calling thread below
            outcome.append(exc)

    worker = threading.Thread(target=run, name="parlor-model-load", daemon=True)
    started = time.monotonic()
    worker.start()
    while True:
        if progress is not None:
            progress(min(0.95, (time.monotonic() - started) / expected), desc)
        worker.join(PROGRESS_INTERVAL)
        if not worker.is_alive():
            break
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result
