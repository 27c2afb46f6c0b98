"""The Models page: GGUF files in the models folder; load (with a progress bar) and unload."""

from __future__ import annotations

import html
import threading
import time
import typing
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from app.context import AppContext
from app.engine.base import Backend
from app.engine.llamacpp import gpu_offload_supported
from app.engine.models import ModelFile, bundled_model_path, list_models
from app.engine.remote import RemoteBackend
from app.errors import ParlorError
from app.settings import KvCacheType
from app.ui.remote_panel import RemotePanel
from app.ui.render import status_html

Updates = dict[Any, Any]
KV_TYPES: list[str] = list(typing.get_args(KvCacheType))
TABLE_HEADERS = ["Name", "File", "Architecture", "Quantization", "Size", "Trained context",
                 "Problem"]  # fmt: skip
#: Rough read speed used to pace the loading bar (bytes per second).
_LOAD_RATE = 300e6


def human_size(size: int) -> str:
    """Bytes as MB or GB."""
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def model_line(context: AppContext) -> str:
    """What is loaded, as one escaped line."""
    models = context.models
    if models.loaded:
        backend = models.current()
        info = backend.info
        text = (
            f"Model: {info.name} · {info.quantization} · {human_size(info.size_bytes)} · "
            f"context {info.n_ctx} · GPU layers {info.n_gpu_layers}"
        )
        if isinstance(backend, RemoteBackend):
            text = f"Remote: {info.name} at {info.path} · {info.architecture} · "
            text += f"context {info.n_ctx}"
        return f'<div class="status">{html.escape(text)}</div>'
    if models.last_error:
        return status_html(f"No model loaded. {models.last_error}", error=True)
    return status_html("No model loaded.")


class ModelsPage:
    """Components and handlers of the Models page."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.remote = RemotePanel(context)

    def render(self) -> None:
        """Create the components inside the current tab."""
        self.current = gr.HTML(model_line(self.context), elem_id="parlor-model")
        self.table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, elem_id="parlor-models")
        options = self.context.models.options
        with gr.Row():
            self.choice = gr.Dropdown(
                label="Model file", choices=[], scale=3, elem_id="parlor-model-file"
            )
            self.rescan = gr.Button("Rescan folder", scale=1, elem_id="parlor-model-rescan")
        with gr.Row():
            self.n_ctx = gr.Number(
                label="Context size",
                value=options.n_ctx,
                precision=0,
                minimum=256,
                elem_id="parlor-model-ctx",
            )
            self.gpu_layers = gr.Number(
                label="GPU layers (-1 = all, empty = automatic)",
                precision=0,
                minimum=-1,
                value=options.n_gpu_layers,
                elem_id="parlor-model-gpu",
            )
            self.flash = gr.Checkbox(label="Flash attention", value=options.flash_attn)
            self.cache_k = gr.Dropdown(KV_TYPES, value=options.cache_type_k, label="KV cache K")
            self.cache_v = gr.Dropdown(KV_TYPES, value=options.cache_type_v, label="KV cache V")
        with gr.Row():
            self.load = gr.Button("Load", variant="primary", elem_id="parlor-model-load")
            self.unload = gr.Button("Unload", variant="stop", elem_id="parlor-model-unload")
        self.status = gr.HTML(elem_id="parlor-model-status")
        self.remote.render(self.current, lambda: model_line(self.context))
        self._setup_events()

    def _gpu_layers(self) -> int:
        """The GPU layers now in use (or that loading would use by default)."""
        models = self.context.models
        if models.loaded:
            return models.current().info.n_gpu_layers
        chosen = models.options.n_gpu_layers
        if chosen is not None:
            return chosen
        return -1 if gpu_offload_supported() else 0

    def _setup_events(self) -> None:
        listing = [self.table, self.choice, self.current]
        self.rescan.click(self.refresh, None, listing, show_progress="hidden")
        self.load.click(
            self.load_model,
            [self.choice, self.n_ctx, self.gpu_layers, self.flash, self.cache_k, self.cache_v],
            [self.status, self.current],
            concurrency_limit=1, concurrency_id="generation", show_progress="full",
        )  # fmt: skip
        self.unload.click(
            self.unload_model, None, [self.status, self.current],
            concurrency_limit=1, concurrency_id="generation", show_progress="hidden",
        )  # fmt: skip

    def files(self) -> list[ModelFile]:
        """GGUF files of the models folder, plus the bundled model."""
        found = list_models(self.context.settings.models_folder)
        bundled = bundled_model_path()
        if bundled is not None and all(f.path != bundled for f in found):
            found += [f for f in list_models(bundled.parent) if f.path == bundled]
        return found

    def refresh(self) -> Updates:
        """Re-scan the models folder."""
        files = self.files()
        rows = [
            [f.name, f.path.name, f.architecture, f.quantization, human_size(f.size_bytes),
             f.context_length or "", f.error or ""]
            for f in files
        ]  # fmt: skip
        loaded = self.context.models.current().info.path if self.context.models.loaded else None
        choices = [(f"{f.name} ({f.path.name}, {human_size(f.size_bytes)})", str(f.path))
                   for f in files if f.error is None]  # fmt: skip
        paths = [value for _, value in choices]
        value = loaded if loaded in paths else (paths[0] if paths else None)
        return {
            self.table: rows,
            self.choice: gr.update(choices=choices, value=value),
            self.current: model_line(self.context),
        }

    def load_model(
        self,
        path: str | None,
        n_ctx: float | None,
        gpu_layers: float | None,
        flash: bool,
        cache_k: str,
        cache_v: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented pattern
    ) -> Updates:
        """Load a GGUF file with the given options; a progress bar runs while it loads."""
        if not path:
            return {self.status: status_html("Pick a model file first.", error=True)}
        options = replace(
            self.context.models.options,
            n_ctx=int(n_ctx or self.context.models.options.n_ctx),
            n_gpu_layers=self._gpu_layers() if gpu_layers is None else int(gpu_layers),
            flash_attn=bool(flash), cache_type_k=cache_k, cache_type_v=cache_v,
        )  # fmt: skip
        file = Path(path)
        outcome: dict[str, Backend | ParlorError] = {}

        def work() -> None:
            """Load in a worker thread, so the progress bar can move meanwhile."""
            try:
                outcome["backend"] = self.context.models.load(file, options)
            except ParlorError as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="parlor-model-load", daemon=True)
        started = time.monotonic()
        expected = 1.0 + (file.stat().st_size if file.exists() else 0) / _LOAD_RATE
        worker.start()
        while worker.is_alive():
            share = min(0.95, (time.monotonic() - started) / expected)
            progress(share, desc=f"Loading {file.name}…")
            worker.join(0.2)
        error = outcome.get("error")
        if isinstance(error, ParlorError):
            return {self.status: status_html(str(error), error=True),
                    self.current: model_line(self.context)}  # fmt: skip
        seconds = time.monotonic() - started
        return {
            self.status: status_html(f"Loaded {file.name} in {seconds:.1f} s."),
            self.current: model_line(self.context),
        }

    def unload_model(self) -> Updates:
        """Free the loaded model."""
        self.context.models.unload()
        return {self.status: status_html("Model unloaded."), self.current: model_line(self.context)}
