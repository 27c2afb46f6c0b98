"""The chat page's Memory panel: the chat's switch and settings, its index, what was recalled.

Handlers call :class:`~app.chat.memory.service.MemoryService` only, inside the page's
boundary; recalled text is the chat's own (untrusted) and is shown escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app.chat.memory.service import MemoryOverview, MemoryService, SummaryView
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
    summaries: SummaryEditor

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
            summaries = SummaryEditor.render()
        return cls(
            accordion, enabled, position, depth, max_chunks, threshold, template, save,
            rebuild, index_info, recalled, summaries,
        )  # fmt: skip

    def settings_inputs(self) -> list[Any]:
        """The settings fields, in :meth:`MemoryControls.save`'s order."""
        return [
            self.enabled, self.position, self.depth, self.max_chunks, self.threshold,
            self.template,
        ]  # fmt: skip

    def outputs(self) -> list[Any]:
        """Everything :meth:`MemoryControls.show` updates."""
        s = self.summaries
        return [
            *self.settings_inputs(), self.index_info, self.recalled, s.listing, s.choice,
            s.text, s.new_fact,
        ]  # fmt: skip


@dataclass
class SummaryEditor:
    """The story so far: summaries and pinned facts, to read, edit, pin and delete."""

    listing: gr.HTML
    choice: gr.Dropdown
    text: gr.Textbox
    save: gr.Button
    pin: gr.Button
    delete: gr.Button
    new_fact: gr.Textbox
    add_fact: gr.Button

    @classmethod
    def render(cls) -> SummaryEditor:
        """Create the summaries part of the panel."""
        listing = gr.HTML(elem_id="parlor-memory-summaries")
        with gr.Row():
            choice = gr.Dropdown(label="Summary or fact", elem_id="parlor-summary-choice")
            text = gr.Textbox(label="Its text", lines=2, elem_id="parlor-summary-text")
        with gr.Row():
            save = gr.Button("Save text", size="sm", elem_id="parlor-summary-save")
            pin = gr.Button("Pin / unpin", size="sm", elem_id="parlor-summary-pin")
            delete = gr.Button("Delete", size="sm", elem_id="parlor-summary-delete")
        with gr.Row():
            new_fact = gr.Textbox(
                label="New pinned fact (always in the prompt)", elem_id="parlor-fact-text"
            )
            add_fact = gr.Button("Add fact", size="sm", elem_id="parlor-fact-add")
        return cls(listing, choice, text, save, pin, delete, new_fact, add_fact)


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

    def pick(self, summary_id: int | None, sel: Selection) -> Updates:
        """Show the chosen summary's text for editing."""
        if sel.chat_id is None or summary_id is None:
            return {}
        views = self._memory.summaries(sel.chat_id)
        chosen = next((v.summary for v in views if v.summary.id == int(summary_id)), None)
        return {self._panel.summaries.text: chosen.text if chosen else ""}

    def save_summary(self, summary_id: int | None, text: str, sel: Selection) -> Updates:
        """Store the chosen summary's edited text."""
        if sel.chat_id is None or summary_id is None:
            return {}
        self._memory.edit_summary(int(summary_id), text)
        return self._after(sel.chat_id, "Summary saved.")

    def toggle_pin(self, summary_id: int | None, sel: Selection) -> Updates:
        """Pin the chosen summary, or unpin it."""
        if sel.chat_id is None or summary_id is None:
            return {}
        views = self._memory.summaries(sel.chat_id)
        chosen = next(v.summary for v in views if v.summary.id == int(summary_id))
        self._memory.pin_summary(chosen.id, not chosen.pinned)
        return self._after(sel.chat_id, "Unpinned." if chosen.pinned else "Pinned.")

    def delete_summary(self, summary_id: int | None, sel: Selection) -> Updates:
        """Delete the chosen summary or fact."""
        if sel.chat_id is None or summary_id is None:
            return {}
        self._memory.delete_summary(int(summary_id))
        return self._after(sel.chat_id, "Deleted.")

    def add_fact(self, text: str, sel: Selection) -> Updates:
        """Pin a new fact."""
        if sel.chat_id is None:
            return {}
        self._memory.add_fact(sel.chat_id, text or "")
        updates = self._after(sel.chat_id, "Fact pinned: it is in every prompt of this chat.")
        updates[self._panel.summaries.new_fact] = ""
        return updates

    def _after(self, chat_id: int, message: str) -> Updates:
        updates = self._updates(self._memory.overview(chat_id))
        updates[self._status] = status_html(message)
        return updates

    def _updates(self, overview: MemoryOverview) -> Updates:
        panel, settings = self._panel, overview.settings
        choices = [(_label(v), v.summary.id) for v in overview.summaries]
        return {
            panel.summaries.listing: summaries_html(overview),
            panel.summaries.choice: gr.update(choices=choices, value=None),
            panel.summaries.text: "",
            panel.enabled: settings.enabled,
            panel.position: settings.position,
            panel.depth: settings.depth,
            panel.max_chunks: settings.max_chunks,
            panel.threshold: settings.threshold,
            panel.template: settings.template,
            panel.index_info: index_html(overview),
            panel.recalled: recalled_html(overview),
        }


def _label(view: SummaryView) -> str:
    text = view.summary.text
    short = text if len(text) <= 60 else text[:57] + "…"
    return f"#{view.summary.id} {view.state}: {short}"


def summaries_html(overview: MemoryOverview) -> str:
    """The story so far as the panel lists it (escaped)."""
    if not overview.summaries:
        return "<p>No summaries yet: they are written as messages leave the context.</p>"
    items = "".join(
        f"<li><small>{v.state}{' · pinned' if v.summary.pinned and v.state != 'fact' else ''}"
        f"</small> {html.escape(v.summary.text)}</li>"
        for v in overview.summaries
    )
    return f"<p>Story so far and pinned facts:</p><ul>{items}</ul>"


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
