"""The Models page's remote part: generate on an OpenAI-compatible server instead.

vLLM, llama-server, KoboldCpp, text-generation-webui or a hosted API: the address, key,
model name and mode given here replace the local model for every chat until a local model
is loaded again; optionally they are saved in ``config.yaml`` for the next start.  The
model service does the connecting and the saving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.chat.models import ModelService, RemoteChoice
from app.engine.remote import RemoteMode
from app.ui.boundary import Boundary
from app.ui.render import status_html

Updates = dict[Any, Any]
MODES: list[tuple[str, RemoteMode]] = [
    ("Text completions: Parlor's prompt and every sampler (llama.cpp, KoboldCpp, vLLM)",
     "completions"),
    ("Chat completions: the messages only (hosted APIs, servers without completions)", "chat"),
]  # fmt: skip


@dataclass(frozen=True)
class RemoteForm:
    """The remote server's address, key, model, mode and the Connect button."""

    url: gr.Textbox
    key: gr.Textbox
    model: gr.Textbox
    mode: gr.Radio
    remember: gr.Checkbox
    connect: gr.Button
    status: gr.HTML


class RemotePanel:
    """Components and handler that connect Parlor to a remote OpenAI-compatible server."""

    form: RemoteForm
    boundary: Boundary

    def __init__(self, models: ModelService) -> None:
        self.models = models
        self._model_line: gr.HTML | None = None
        self._describe: Callable[[], str] = lambda: ""

    def render(self, model_line: gr.HTML, describe: Callable[[], str]) -> None:
        """Create the components (inside the Models tab).

        ``model_line`` shows what is loaded; ``describe`` gives its new content.
        """
        defaults = self.models.remote_defaults()
        in_use = self.models.status().remote
        with gr.Accordion("Remote server (OpenAI-compatible)", open=in_use,
                          elem_id="parlor-remote"):  # fmt: skip
            with gr.Row():
                url = gr.Textbox(
                    label="Base URL", value=defaults.url, scale=3,
                    placeholder="http://127.0.0.1:8080/v1", elem_id="parlor-remote-url",
                )  # fmt: skip
                key = gr.Textbox(
                    label="API key", type="password", scale=2, elem_id="parlor-remote-key",
                    placeholder="(set; empty keeps it)" if defaults.key_set else "",
                )  # fmt: skip
                model = gr.Textbox(
                    label="Model name (empty: the server's first)", scale=2,
                    value=defaults.model, elem_id="parlor-remote-model",
                )  # fmt: skip
            mode = gr.Radio(MODES, value=defaults.mode, label="Mode", elem_id="parlor-remote-mode")
            with gr.Row():
                remember = gr.Checkbox(
                    label="Connect again at the next start (saved in config.yaml, key included)",
                    elem_id="parlor-remote-remember",
                )
                connect = gr.Button("Connect", variant="primary", elem_id="parlor-remote-connect")
            status = gr.HTML(elem_id="parlor-remote-status")
        self.form = RemoteForm(url, key, model, mode, remember, connect, status)
        self._model_line, self._describe = model_line, describe
        self.boundary = Boundary(status)
        connect.click(
            self.boundary.guard(self.connect_remote), [url, key, model, mode, remember],
            [status, model_line], concurrency_limit=1, concurrency_id="generation",
        )  # fmt: skip

    @property
    def status(self) -> gr.HTML:
        """The panel's status line."""
        return self.form.status

    def connect_remote(
        self, url: str, key: str, model: str, mode: RemoteMode, remember: bool
    ) -> Updates:
        """Check the server and make it the backend of every chat (and the API)."""
        choice = RemoteChoice(url or "", key or "", model or "", mode, bool(remember))
        message = self.models.connect_remote(choice)
        updates: Updates = {self.form.status: status_html(message)}
        if self._model_line is not None:
            updates[self._model_line] = self._describe()
        return updates
