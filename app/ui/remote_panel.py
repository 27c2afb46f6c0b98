"""The Models page's remote part: generate on an OpenAI-compatible server instead.

vLLM, llama-server, KoboldCpp, text-generation-webui or a hosted API: the address, key,
model name and mode given here replace the local model for every chat until a local model
is loaded again; optionally they are saved in ``config.yaml`` for the next start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from app.config_file import update_config
from app.context import AppContext
from app.engine.remote import RemoteBackend, RemoteMode, connect_remote
from app.errors import ParlorError
from app.ui.render import status_html

Updates = dict[Any, Any]
MODES: list[tuple[str, RemoteMode]] = [
    ("Text completions: Parlor's prompt and every sampler (llama.cpp, KoboldCpp, vLLM)",
     "completions"),
    ("Chat completions: the messages only (hosted APIs, servers without completions)", "chat"),
]  # fmt: skip


class RemotePanel:
    """Components and handler that connect Parlor to a remote OpenAI-compatible server."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def render(self, model_line: gr.HTML, describe: Callable[[], str]) -> None:
        """Create the components (inside the Models tab).

        ``model_line`` shows what is loaded; ``describe`` gives its new content.
        """
        settings = self.context.settings
        models = self.context.models
        in_use = models.loaded and isinstance(models.current(), RemoteBackend)
        with gr.Accordion(
            "Remote server (OpenAI-compatible)", open=in_use, elem_id="parlor-remote"
        ):
            with gr.Row():
                self.url = gr.Textbox(
                    label="Base URL", value=settings.remote_url or "", scale=3,
                    placeholder="http://127.0.0.1:8080/v1", elem_id="parlor-remote-url",
                )  # fmt: skip
                self.key = gr.Textbox(
                    label="API key", type="password", scale=2, elem_id="parlor-remote-key",
                    placeholder="(set; empty keeps it)" if settings.remote_api_key else "",
                )  # fmt: skip
                self.model = gr.Textbox(
                    label="Model name (empty: the server's first)", scale=2,
                    value=settings.remote_model or "", elem_id="parlor-remote-model",
                )  # fmt: skip
            self.mode = gr.Radio(
                MODES, value=settings.remote_mode, label="Mode", elem_id="parlor-remote-mode"
            )
            with gr.Row():
                self.remember = gr.Checkbox(
                    label="Connect again at the next start (saved in config.yaml, key included)",
                    elem_id="parlor-remote-remember",
                )
                self.connect = gr.Button(
                    "Connect", variant="primary", elem_id="parlor-remote-connect"
                )
            self.status = gr.HTML(elem_id="parlor-remote-status")
        self._model_line, self._describe = model_line, describe
        self.connect.click(
            self.connect_remote, [self.url, self.key, self.model, self.mode, self.remember],
            [self.status, model_line], concurrency_limit=1, concurrency_id="generation",
        )  # fmt: skip

    def connect_remote(
        self, url: str, key: str, model: str, mode: RemoteMode, remember: bool
    ) -> Updates:
        """Check the server and make it the backend of every chat (and the API)."""
        settings = self.context.settings
        api_key = key.strip() or settings.remote_api_key
        name = model.strip() or None
        try:
            backend = connect_remote(
                url, api_key=api_key, model=name, mode=mode, n_ctx=settings.n_ctx
            )
        except ParlorError as exc:
            return {self.status: status_html(str(exc), error=True)}
        self.context.models.use(backend)
        info = backend.info
        message = f"Connected: {info.name} at {info.path}, context {info.n_ctx}."
        if remember:
            values = {"remote_url": url.strip(), "remote_api_key": api_key,
                      "remote_model": name, "remote_mode": mode}  # fmt: skip
            try:
                path = update_config(settings.data_dir, values)
            except ParlorError as exc:
                message += f" Not saved: {exc}"
            else:
                message += f" Saved in {path}."
        return {self.status: status_html(message), self._model_line: self._describe()}
