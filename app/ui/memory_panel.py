"""The chat page's Memory panel: the chat's switch and settings, its index, what was recalled.

Handlers call :class:`~app.chat.memory.service.MemoryService` only, inside the page's
boundary; recalled text is the chat's own (untrusted) and is shown escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from enum import Enum
from typing import Any

import gradio as gr

from app.chat.memory.service import MemoryOverview, MemoryService, SummaryView
from app.errors import InputError
from app.storage.memory_types import Summary
from app.ui.memory_settings import SettingsFields, SettingsForm
from app.ui.render import status_html
from app.ui.state import Selection

Updates = dict[Any, Any]


class Keep(Enum):
    """The picker's pick as the browser has it (an action that does not change it)."""

    PICK = "pick"


KEEP = Keep.PICK


@dataclass
class MemoryPanel:
    """The Memory accordion of the chat page."""

    accordion: gr.Accordion
    settings: SettingsFields
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
            settings = SettingsFields.render()
            with gr.Row():
                save = gr.Button("Save memory settings", elem_id="parlor-memory-save")
                rebuild = gr.Button("Rebuild index", elem_id="parlor-memory-rebuild")
            summaries = SummaryEditor.render()
        return cls(accordion, settings, save, rebuild, index_info, recalled, summaries)

    def settings_inputs(self) -> list[Any]:
        """The settings fields, in :meth:`MemoryControls.save`'s order."""
        return self.settings.inputs()

    def outputs(self) -> list[Any]:
        """Everything :meth:`MemoryControls.show` updates."""
        s = self.summaries
        return [
            *self.settings_inputs(), self.index_info, self.recalled, s.listing, s.choice,
            s.text, s.new_fact,
        ]  # fmt: skip

    def refresh_outputs(self) -> list[Any]:
        """What :meth:`MemoryControls.refresh` updates: the read-only parts, the picker and
        its text (never the settings fields, nor a fact being typed)."""
        s = self.summaries
        return [self.index_info, self.recalled, s.listing, s.choice, s.text]


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
            # Any value is let through to the handlers, which check it is one of the
            # chat's: the browser may still send a deleted summary's id when its choices
            # change under it (a status change right after a delete did, and Gradio
            # refused the event with an error toast).
            choice = gr.Dropdown(
                label="Summary or fact", elem_id="parlor-summary-choice", allow_custom_value=True
            )
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

    def __init__(self, memory: MemoryService, panel: MemoryPanel, status: gr.HTML) -> None:
        self._memory = memory
        self._panel = panel
        self._status = status

    def show(self, sel: Selection) -> Updates:
        """The open chat's memory settings, index and last recall; the editor is cleared
        (summary ids are global: a pick must not outlive its chat)."""
        if sel.chat_id is None:
            return self._untouched()
        return self._updates(self._memory.overview(sel.chat_id), None)

    def refresh(self, sel: Selection, chosen_id: object) -> Updates:
        """The open chat's index, last recall and summaries, re-read after a status change.

        The pick and the text being edited stay while the pick is one of this chat's
        summaries (else both are cleared); the settings fields keep what was typed."""
        if sel.chat_id is None:
            return self._untouched()
        overview = self._memory.overview(sel.chat_id)
        ids = {v.summary.id for v in overview.summaries}
        picked = picked_id(chosen_id)
        kept = picked if picked in ids else None
        updates = self._read_only(overview, kept)
        if kept is None:
            updates[self._panel.summaries.text] = ""
        return updates

    def save(self, *values: Any) -> Updates:
        """Store the open chat's memory settings: its stored ones with the panel's fields
        changed (``values``: :meth:`MemoryPanel.settings_inputs`, then the selection).
        A bad field stores nothing."""
        *shown, sel = values
        if sel.chat_id is None:
            return {}
        stored = self._memory.settings(sel.chat_id)
        self._memory.save_settings(sel.chat_id, SettingsForm(*shown).applied_to(stored))
        return self._after(sel.chat_id, "Memory settings saved.")

    def rebuild(self, sel: Selection, progress: gr.Progress = gr.Progress()) -> Updates:  # noqa: B008 - Gradio's documented pattern
        """Embed the open chat's shown messages anew (a progress bar while it runs)."""
        if sel.chat_id is None:
            return {}

        def report(done: int, total: int) -> None:
            progress((done, total), desc="Embedding messages", unit="messages")

        count = self._memory.rebuild(sel.chat_id, report)
        return self._after(sel.chat_id, f"Memory index rebuilt: {count} messages embedded.")

    def pick(self, summary_id: object, sel: Selection) -> Updates:
        """Show the chosen summary's text for editing."""
        picked = picked_id(summary_id)
        if sel.chat_id is None or picked is None:
            return {}
        chosen = self._find(sel.chat_id, picked)
        return {self._panel.summaries.text: chosen.text if chosen else ""}

    def save_summary(self, summary_id: object, text: str, sel: Selection) -> Updates:
        """Store the chosen summary's edited text."""
        if sel.chat_id is None or summary_id is None:
            return {}
        chosen = self._chosen(sel.chat_id, summary_id)
        self._memory.edit_summary(chosen.id, text)
        return self._after(sel.chat_id, "Summary saved.", chosen.id)

    def toggle_pin(self, summary_id: object, sel: Selection) -> Updates:
        """Pin the chosen summary, or unpin it."""
        if sel.chat_id is None or summary_id is None:
            return {}
        chosen = self._chosen(sel.chat_id, summary_id)
        self._memory.pin_summary(chosen.id, not chosen.pinned)
        return self._after(sel.chat_id, "Unpinned." if chosen.pinned else "Pinned.", chosen.id)

    def delete_summary(self, summary_id: object, sel: Selection) -> Updates:
        """Delete the chosen summary or fact."""
        if sel.chat_id is None or summary_id is None:
            return {}
        self._memory.delete_summary(self._chosen(sel.chat_id, summary_id).id)
        return self._after(sel.chat_id, "Deleted.", None)

    def add_fact(self, text: str, sel: Selection) -> Updates:
        """Pin a new fact."""
        if sel.chat_id is None:
            return {}
        self._memory.add_fact(sel.chat_id, text or "")
        updates = self._after(sel.chat_id, "Fact pinned: it is in every prompt of this chat.")
        updates[self._panel.summaries.new_fact] = ""
        return updates

    def _find(self, chat_id: int, summary_id: int) -> Summary | None:
        """The chat's summary or fact of that id (None: not in this chat)."""
        views = self._memory.summaries(chat_id)
        return next((v.summary for v in views if v.summary.id == summary_id), None)

    def _untouched(self) -> Updates:
        """No change, in a component :meth:`show` and :meth:`refresh` update (their events
        have no status output, where the page's no-change update would go)."""
        return {self._panel.index_info: gr.skip()}

    def _chosen(self, chat_id: int, summary_id: object) -> Summary:
        """The chat's summary or fact of that id; ``InputError`` if it is not in this chat
        (gone, or a stale pick of another chat's: ids are global)."""
        picked = picked_id(summary_id)
        chosen = None if picked is None else self._find(chat_id, picked)
        if chosen is None:
            raise InputError("summary", f"#{summary_id} is no longer in this chat; pick another")
        return chosen

    def _after(self, chat_id: int, message: str, chosen: int | Keep | None = KEEP) -> Updates:
        """The panel after an action, with the status line; ``chosen``: the summary to
        show picked (None: the editor cleared; :data:`KEEP`: the pick and its text as the
        browser has them, which the status change then checks)."""
        updates = self._updates(self._memory.overview(chat_id), chosen)
        updates[self._status] = status_html(message)
        return updates

    def _updates(self, overview: MemoryOverview, chosen_id: int | Keep | None) -> Updates:
        """Everything the panel shows, with ``chosen_id`` picked and its text in the editor
        (see :meth:`_after`)."""
        panel = self._panel
        updates = {**panel.settings.values(overview.settings)}
        if isinstance(chosen_id, Keep):
            return updates | self._read_only(overview, chosen_id)
        views = overview.summaries
        chosen = next((v.summary for v in views if v.summary.id == chosen_id), None)
        updates |= self._read_only(overview, chosen.id if chosen else None)
        updates[panel.summaries.text] = chosen.text if chosen else ""
        return updates

    def _read_only(self, overview: MemoryOverview, chosen_id: int | Keep | None) -> Updates:
        """The listing, index and recall, and the picker's choices with ``chosen_id``
        picked."""
        panel = self._panel
        choices = [(_label(v), v.summary.id) for v in overview.summaries]
        picker = (
            gr.update(choices=choices)
            if isinstance(chosen_id, Keep)
            else gr.update(choices=choices, value=chosen_id)
        )
        return {
            panel.summaries.listing: summaries_html(overview),
            panel.summaries.choice: picker,
            panel.index_info: index_html(overview),
            panel.recalled: recalled_html(overview),
        }


def picked_id(value: object) -> int | None:
    """The summary id the picker sent (None: nothing picked, or text typed into it)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


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
