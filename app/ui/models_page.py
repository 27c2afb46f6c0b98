"""The Models page: GGUF files in the models folder; load (with a progress bar) and unload.

The page holds the model service only: loading, its progress, the load options and the
description of what is loaded all live there.
"""

from __future__ import annotations

import html
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from app.chat.models import LoadChoice, ModelService, ModelStatus, human_size
from app.engine.models import ModelFile
from app.errors import ParlorError
from app.settings import KvCacheType
from app.ui.boundary import Boundary
from app.ui.remote_panel import RemotePanel
from app.ui.render import status_html

Updates = dict[Any, Any]
KV_TYPES: list[str] = list(typing.get_args(KvCacheType))
TABLE_HEADERS = ["Name", "File", "Architecture", "Quantization", "Size", "Trained context",
                 "Problem"]  # fmt: skip
#: Events that change the backend share the generation queue (never during a reply).
GENERATION_QUEUE: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "generation"}


def model_line(status: ModelStatus) -> str:
    """What is loaded (and what went wrong), as escaped HTML."""
    if not status.loaded:
        problem = f" {status.error}" if status.error else ""
        line = status_html(f"{status.line}{problem}", error=bool(status.error))
    else:
        line = f'<div class="status">{html.escape(status.line)}</div>'
    if status.warning:
        line += status_html(status.warning, error=True)
    return line


def file_row(f: ModelFile) -> list[Any]:
    """One row of the files table."""
    return [f.name, f.path.name, f.architecture, f.quantization, human_size(f.size_bytes),
            f.context_length or "", f.error or ""]  # fmt: skip


@dataclass(frozen=True)
class ModelForm:
    """The file picker and the load options."""

    choice: gr.Dropdown
    rescan: gr.Button
    n_ctx: gr.Number
    gpu_layers: gr.Number
    flash: gr.Checkbox
    cache_k: gr.Dropdown
    cache_v: gr.Dropdown
    load: gr.Button
    unload: gr.Button
    status: gr.HTML

    def options(self) -> list[Any]:
        """The inputs of a load, in :meth:`ModelsPage.load_model` order."""
        return [self.choice, self.n_ctx, self.gpu_layers, self.flash, self.cache_k, self.cache_v]


class ModelsPage:
    """Components and handlers of the Models page."""

    current: gr.HTML
    table: gr.Dataframe
    form: ModelForm
    boundary: Boundary

    def __init__(self, models: ModelService) -> None:
        self.models = models
        self.remote = RemotePanel(models)

    def render(self) -> None:
        """Create the components inside the current tab."""
        self.current = gr.HTML(model_line(self.models.status()), elem_id="parlor-model")
        self.table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, elem_id="parlor-models")
        self.form = self._render_form()
        self.boundary = Boundary(self.form.status)
        self.remote.render(self.current, lambda: model_line(self.models.status()))
        self._setup_events()

    def _render_form(self) -> ModelForm:
        options = self.models.options
        with gr.Row():
            choice = gr.Dropdown(label="Model file", choices=[], scale=3,
                                 elem_id="parlor-model-file")  # fmt: skip
            rescan = gr.Button("Rescan folder", scale=1, elem_id="parlor-model-rescan")
        with gr.Row():
            n_ctx = gr.Number(label="Context size", value=options.n_ctx, precision=0,
                              minimum=256, elem_id="parlor-model-ctx")  # fmt: skip
            layers = gr.Number(
                label="GPU layers (-1 = all, empty = automatic)", precision=0, minimum=-1,
                value=options.n_gpu_layers, elem_id="parlor-model-gpu",
            )  # fmt: skip
            flash = gr.Checkbox(label="Flash attention", value=options.flash_attn)
            cache_k = gr.Dropdown(KV_TYPES, value=options.cache_type_k, label="KV cache K")
            cache_v = gr.Dropdown(KV_TYPES, value=options.cache_type_v, label="KV cache V")
        with gr.Row():
            load = gr.Button("Load", variant="primary", elem_id="parlor-model-load")
            unload = gr.Button("Unload", variant="stop", elem_id="parlor-model-unload")
        status = gr.HTML(elem_id="parlor-model-status")
        return ModelForm(choice, rescan, n_ctx, layers, flash, cache_k, cache_v, load, unload,
                         status)  # fmt: skip

    @property
    def load(self) -> gr.Button:
        """The Load button (its event shares the generation queue)."""
        return self.form.load

    def listing(self) -> list[Any]:
        """The components a rescan updates."""
        return [self.table, self.form.choice, self.current, self.form.status]

    def wire_tab(self, tab: gr.Tab) -> None:
        """Re-scan the models folder whenever ``tab`` is shown."""
        tab.select(self.boundary.guard(self.refresh), None, self.listing(), show_progress="hidden")

    def _setup_events(self) -> None:
        guard, form = self.boundary.guard, self.form
        form.rescan.click(guard(self.refresh), None, self.listing(), show_progress="hidden")
        form.load.click(guard(self.load_model), form.options(), [form.status, self.current],
                        show_progress="full", **GENERATION_QUEUE)  # fmt: skip
        form.unload.click(guard(self.unload_model), None, [form.status, self.current],
                          show_progress="hidden", **GENERATION_QUEUE)  # fmt: skip

    def refresh(self) -> Updates:
        """Re-scan the models folder."""
        files = self.models.files()
        choices = [(f"{f.name} ({f.path.name}, {human_size(f.size_bytes)})", str(f.path))
                   for f in files if f.error is None]  # fmt: skip
        paths = [value for _, value in choices]
        loaded = self.models.loaded_path()
        return {
            self.table: [file_row(f) for f in files],
            self.form.choice: gr.update(
                choices=choices, value=loaded if loaded in paths else (paths[0] if paths else None)
            ),
            self.current: model_line(self.models.status()),
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
            raise ParlorError("Pick a model file first.")
        choice = LoadChoice(
            Path(path), n_ctx=int(n_ctx) if n_ctx else None,
            n_gpu_layers=None if gpu_layers is None else int(gpu_layers),
            flash_attn=bool(flash), cache_type_k=cache_k, cache_type_v=cache_v,
        )  # fmt: skip
        loaded = self.models.load(choice, lambda share, desc: progress(share, desc=desc))
        return {
            self.form.status: status_html(f"Loaded {loaded.file_name} in {loaded.seconds:.1f} s."),
            self.current: model_line(self.models.status()),
        }

    def unload_model(self) -> Updates:
        """Free the loaded model."""
        self.models.unload()
        return {self.form.status: status_html("Model unloaded."),
                self.current: model_line(self.models.status())}  # fmt: skip
