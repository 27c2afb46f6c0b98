"""Assembles the Gradio app from its pages."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from app.chat.service import Speaker
from app.context import AppContext
from app.ui.chat_page import ChatPage

_ESC_STOPS = """
() => {
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      const stop = document.querySelector('#parlor-stop');
      if (stop) { stop.click(); }
    }
  });
}
"""


@dataclass(frozen=True)
class UiBundle:
    """The Blocks plus the CSS and JS that ``mount_gradio_app`` takes."""

    blocks: gr.Blocks
    css: str
    js: str


def build_ui(context: AppContext) -> UiBundle:
    """Build the whole UI for ``context``."""
    speaker = Speaker(
        name="Parlor",
        description="A warm, witty storyteller who answers in character.",
        greeting="Welcome to the parlor. Pull up a chair — what story shall we tell tonight?",
    )
    with gr.Blocks(title="Parlor", analytics_enabled=False) as blocks:
        gr.Markdown(_model_line(context), elem_id="parlor-model")
        ChatPage(context.chat, speaker).render()
    return UiBundle(blocks, css="", js=_ESC_STOPS)


def _model_line(context: AppContext) -> str:
    models = context.models
    if models.loaded:
        info = models.current().info
        return f"**Model:** {info.name} · {info.quantization} · context {info.n_ctx}"
    if models.last_error:
        return f"**No model loaded.** {models.last_error}"
    return "**No model loaded.**"
