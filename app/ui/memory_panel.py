"""The chat page's Memory panel: the chat's switch and settings, its index, what was recalled.

Handlers call :class:`~app.chat.memory.service.MemoryService` only, inside the page's
boundary; recalled text is the chat's own (untrusted) and is shown escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.chat.memory.service import MemoryOverview, MemoryService
from app.prompt.memory import DEFAULT_TEMPLATE
from app.storage.memory_types import MemorySettings
from app.ui.render import status_html
from app.ui.state import Selection

Updates = dict[Any, Any]

POSITIONS = [
    ("In the chat, at a depth", "in_chat"),
    ("After the story string", "after_story"),
    ("Before the whole prompt", "before_prompt"),
]


@dataclass
class MemoryPanel:
    """The Memory accordion of the chat page."""

    accordion: gr.Accordion
    enabled: gr.Checkbox
    position: gr.Dropdown
    depth: gr.Number
    max_chunks: gr.Number
    threshold: gr.Slider
    template: gr.Textbox
    save: gr.Button
    rebuild: gr.Button
    index_info: gr.HTML
    recalled: gr.HTML

    @classmethod
    def render(cls) -> MemoryPanel:
        """Create the accordion."""
        with gr.Accordion("Memory", open=False, elem_id="parlor-memory") as accordion:
            index_info = gr.HTML(elem_id="parlor-memory-index")
            recalled = gr.HTML(elem_id="parlor-memory-recalled")
            enabled = gr.Checkbox(
                value=True, label="Long-term memory for this chat", elem_id="parlor-memory-on"
            )
            with gr.Row():
                position = gr.Dropdown(POSITIONS, value="in_chat", label="Memories go")
                depth = gr.Number(label="Depth", value=2, precision=0, minimum=0)
                max_chunks = gr.Number(label="At most", value=5, precision=0, minimum=0)
                threshold = gr.Slider(0.0, 1.0, value=0.25, step=0.01, label="Least similarity")
            template = gr.Textbox(
                label="Memories template (Jinja2; empty: the default)", lines=3,
                placeholder=DEFAULT_TEMPLATE, elem_id="parlor-memory-template",
            )  # fmt: skip
            with gr.Row():
                save = gr.Button("Save memory settings", elem_id="parlor-memory-save")
                rebuild = gr.Button("Rebuild index", elem_id="parlor-memory-rebuild")
        return cls(
            accordion, enabled, position, depth, max_chunks, threshold, template, save,
            rebuild, index_info, recalled,
        )  # fmt: skip

    def settings_inputs(self) -> list[Any]:
        """The settings fields, in :meth:`MemoryControls.save`'s order."""
        return [
            self.enabled, self.position, self.depth, self.max_chunks, self.threshold,
            self.template,
        ]  # fmt: skip

    def outputs(self) -> list[Any]:
        """Everything :meth:`MemoryControls.show` updates."""
        return [*self.settings_inputs(), self.index_info, self.recalled]


class MemoryControls:
    """The Memory panel's handlers."""

    def __init__(self, memory: MemoryService, panel: MemoryPanel, status: Any) -> None:
        self._memory = memory
        self._panel = panel
        self._status = status

    def show(self, sel: Selection) -> Updates:
        """The open chat's memory settings, index and last recall."""
        if sel.chat_id is None:
            return {}
        return self._updates(self._memory.overview(sel.chat_id))

    def save(self, *values: Any) -> Updates:
        """Store the open chat's memory settings."""
        enabled, position, depth, max_chunks, threshold, template, sel = values
        if sel.chat_id is None:
            return {}
        stored = self._memory.settings(sel.chat_id)
        settings = MemorySettings(
            enabled=bool(enabled),
            position=position or "in_chat",
            depth=max(0, int(depth or 0)),
            role=stored.role,
            template=str(template or "").strip(),
            max_chunks=max(0, int(max_chunks or 0)),
            threshold=float(threshold if threshold is not None else 0.25),
            query_messages=stored.query_messages,
        )
        self._memory.save_settings(sel.chat_id, settings)
        updates = self._updates(self._memory.overview(sel.chat_id))
        updates[self._status] = status_html("Memory settings saved.")
        return updates

    def rebuild(self, sel: Selection, progress: gr.Progress = gr.Progress()) -> Updates:  # noqa: B008 - Gradio's documented pattern
        """Embed the open chat's shown messages anew (a progress bar while it runs)."""
        if sel.chat_id is None:
            return {}

        def report(done: int, total: int) -> None:
            progress((done, total), desc="Embedding messages", unit="messages")

        count = self._memory.rebuild(sel.chat_id, report)
        updates = self._updates(self._memory.overview(sel.chat_id))
        updates[self._status] = status_html(f"Memory index rebuilt: {count} messages embedded.")
        return updates

    def _updates(self, overview: MemoryOverview) -> Updates:
        panel, settings = self._panel, overview.settings
        return {
            panel.enabled: settings.enabled,
            panel.position: settings.position,
            panel.depth: settings.depth,
            panel.max_chunks: settings.max_chunks,
            panel.threshold: settings.threshold,
            panel.template: settings.template,
            panel.index_info: index_html(overview),
            panel.recalled: recalled_html(overview),
        }


def index_html(overview: MemoryOverview) -> str:
    """One line on the chat's index."""
    return (
        f"<p>Index: {overview.chunks} chunks of {overview.messages} messages "
        f"({overview.path_messages} shown in this chat), {html.escape(overview.model)}.</p>"
    )


def recalled_html(overview: MemoryOverview) -> str:
    """What the last prompt recalled, escaped, or why nothing was."""
    if not overview.settings.enabled:
        return "<p>Memory is off for this chat.</p>"
    if not overview.recalled:
        return "<p>Nothing recalled for the last reply: all of it fits, or nothing matched.</p>"
    items = "".join(
        f"<li><small>{hit.score:.2f}</small> {html.escape(hit.text)}</li>"
        for hit in overview.recalled
    )
    return f"<p>Recalled for the last reply:</p><ul>{items}</ul>"
